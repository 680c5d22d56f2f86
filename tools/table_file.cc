#include "tools/table_file.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "learner/table_codec.h"

namespace hakmem {
namespace tools {

bool ReadFileBytes(const std::string& path, std::string* bytes, std::string* error) {
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    *error = strerror(errno);
    return false;
  }
  struct stat st;
  if (fstat(fd, &st) != 0) {
    *error = strerror(errno);
    close(fd);
    return false;
  }
  if (!S_ISREG(st.st_mode)) {
    *error = S_ISDIR(st.st_mode) ? "is a directory" : "not a regular file";
    close(fd);
    return false;
  }
  bytes->clear();
  bytes->reserve(static_cast<size_t>(st.st_size));
  char buf[1 << 16];
  for (;;) {
    const ssize_t r = read(fd, buf, sizeof(buf));
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) {
      *error = strerror(errno);
      close(fd);
      return false;
    }
    if (r == 0) break;
    bytes->append(buf, static_cast<size_t>(r));
  }
  close(fd);
  return true;
}

std::unique_ptr<Table> DecodeTable(const std::string& bytes, std::string* error) {
  const auto* data = reinterpret_cast<const uint8_t*>(bytes.data());
  size_t n = 0;
  if (const char* why = learner::CountTableEntries(data, bytes.size(), &n)) {
    *error = why;
    return nullptr;
  }
  auto table = std::make_unique<Table>();
  table->entries.resize(n);
  if (const char* why = learner::DecodeTableFile(data, bytes.size(), &table->meta,
                                                 table->entries.data(), n, &n)) {
    *error = why;
    return nullptr;
  }
  table->entries.resize(n);
  return table;
}

std::unique_ptr<Table> ReadTable(const std::string& path, std::string* error) {
  std::string bytes;
  if (!ReadFileBytes(path, &bytes, error)) return nullptr;
  return DecodeTable(bytes, error);
}

namespace {

bool WriteAll(int fd, const uint8_t* p, size_t n) {
  while (n > 0) {
    const ssize_t w = write(fd, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w == 0) errno = EIO;
    if (w <= 0) return false;
    p += w;
    n -= static_cast<size_t>(w);
  }
  return true;
}

std::string DirOf(const std::string& path) {
  const size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

}  // namespace

bool WriteTableAtomically(const std::string& path, const Table& table, std::string* error) {
  const size_t size = learner::EncodedSize(table.meta, table.entries.data(), table.entries.size());
  std::vector<uint8_t> buf(size);
  if (learner::EncodeTableFile(table.meta, table.entries.data(), table.entries.size(), buf.data(),
                               buf.size()) != size) {
    *error = "encoding failed";
    return false;
  }
  // Never write a table that production would refuse.
  std::string why;
  if (DecodeTable(std::string(buf.begin(), buf.end()), &why) == nullptr) {
    *error = "the merged table is invalid: " + why;
    return false;
  }
  const std::string tmp = path + ".tmp";
  const int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) {
    *error = tmp + ": " + strerror(errno);
    return false;
  }
  bool ok = WriteAll(fd, buf.data(), buf.size());
  int saved = errno;
  if (ok && fsync(fd) != 0) {
    ok = false;
    saved = errno;
  }
  if (close(fd) != 0 && ok) {
    ok = false;
    saved = errno;
  }
  if (ok && rename(tmp.c_str(), path.c_str()) != 0) {
    ok = false;
    saved = errno;
  }
  if (!ok) {
    unlink(tmp.c_str());
    *error = tmp + ": " + strerror(saved);
    return false;
  }
  // The rename itself is durable once the directory is synced.
  const int dir = open(DirOf(path).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir >= 0) {
    fsync(dir);
    close(dir);
  }
  return true;
}

}  // namespace tools
}  // namespace hakmem
