#include "tools/table_file.h"

#include "absl/status/status.h"
#include "learner/table_codec.h"
#include "tools/file_io.h"
#include "tools/file_kind.h"

namespace hakmem {
namespace tools {

bool ReadFileBytes(const std::string& path, std::string* bytes, std::string* error) {
  const absl::Status status = ReadFile(path, bytes);
  if (!status.ok()) *error = std::string(status.message());
  return status.ok();
}

std::unique_ptr<Table> DecodeTable(const std::string& bytes, std::string* error) {
  if (KindOf(bytes) == FileKind::kTelemetry) {
    *error = "is telemetry, not a frozen table";
    return nullptr;
  }
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
  const absl::Status written = WriteFileAtomically(
      path, absl::string_view(reinterpret_cast<const char*>(buf.data()), buf.size()));
  if (!written.ok()) *error = std::string(written.message());
  return written.ok();
}

}  // namespace tools
}  // namespace hakmem
