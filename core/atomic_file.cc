#include "core/atomic_file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "core/format.h"
#include "core/os.h"

namespace hakmem {

AtomicFile::AtomicFile(const char* path) : path_(path) {
  Formatter f(tmp_, sizeof(tmp_));
  f.Str(path).Str(".tmp.").Int(os::Pid());
  fd_ = open(tmp_, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd_ < 0) why_ = strerror(errno);
}

AtomicFile::~AtomicFile() {
  if (fd_ >= 0) close(fd_);
  if (!committed_ && fd_ != -1) unlink(tmp_);
}

bool AtomicFile::Write(const void* data, size_t n) {
  const char* p = static_cast<const char*>(data);
  while (ok() && n > 0) {
    const ssize_t w = write(fd_, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) {
      why_ = w < 0 ? strerror(errno) : "write failed";
      break;
    }
    p += w;
    n -= static_cast<size_t>(w);
  }
  return ok();
}

bool AtomicFile::Commit() {
  if (!ok()) return false;
  if (fsync(fd_) != 0) why_ = strerror(errno);
  if (close(fd_) != 0 && ok()) why_ = strerror(errno);
  fd_ = -2;  // closed; the destructor still removes the temporary file on failure
  if (ok() && rename(tmp_, path_) != 0) why_ = strerror(errno);
  if (!ok()) {
    unlink(tmp_);
    return false;
  }
  committed_ = true;
  // The directory entry too: otherwise a crash can lose the rename.
  char dir[4200] = ".";
  const char* slash = strrchr(path_, '/');
  if (slash != nullptr) {
    const size_t n = slash == path_ ? 1 : static_cast<size_t>(slash - path_);
    if (n < sizeof(dir)) {
      memcpy(dir, path_, n);
      dir[n] = '\0';
    }
  }
  const int d = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (d >= 0) {
    fsync(d);
    close(d);
  }
  return true;
}

void ExpandPid(const char* p, char* out, size_t cap) {
  Formatter f(out, cap);
  for (; *p != '\0'; ++p) {
    if (p[0] == '%' && p[1] == 'p') {
      f.Int(os::Pid());
      ++p;
    } else if (p[0] == '%' && p[1] == '%') {
      f.Str("%");
      ++p;
    } else {
      const char one[2] = {*p, '\0'};
      f.Str(one);
    }
  }
}

}  // namespace hakmem
