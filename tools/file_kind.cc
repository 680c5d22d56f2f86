#include "tools/file_kind.h"

namespace hakmem {
namespace tools {
namespace {

bool StartsWith(absl::string_view bytes, const char (&prefix)[5]) {
  return bytes.size() >= sizeof(prefix) &&
         bytes.substr(0, sizeof(prefix)) == absl::string_view(prefix, sizeof(prefix));
}

bool IsPrefixOf(absl::string_view bytes, const char (&prefix)[5]) {
  return bytes.size() < sizeof(prefix) && absl::string_view(prefix, bytes.size()) == bytes;
}

}  // namespace

FileKind KindOf(absl::string_view bytes) {
  if (StartsWith(bytes, kTelemetryPrefix)) return FileKind::kTelemetry;
  if (StartsWith(bytes, kTablePrefix)) return FileKind::kFrozenTable;
  return FileKind::kUnknown;
}

bool IsPrefixOfAFormat(absl::string_view bytes) {
  return IsPrefixOf(bytes, kTelemetryPrefix) || IsPrefixOf(bytes, kTablePrefix);
}

}  // namespace tools
}  // namespace hakmem
