#include "tools/input_file.h"

#include "absl/status/status.h"
#include "tools/file_io.h"
#include "tools/telemetry_file.h"

namespace hakmem {
namespace tools {

absl::StatusOr<InputFile> ReadTableOrTelemetry(const std::string& path) {
  std::string bytes;
  if (absl::Status read = ReadFile(path, &bytes); !read.ok()) return read;
  InputFile in;
  in.kind = KindOf(bytes);
  switch (in.kind) {
    case FileKind::kTelemetry: {
      absl::StatusOr<telemetry::Telemetry> t = DecodeTelemetryFile(bytes);
      if (!t.ok()) return t.status();
      in.telemetry = std::move(*t);
      return in;
    }
    case FileKind::kFrozenTable: {
      std::string error;
      in.table = DecodeTable(bytes, &error);
      if (in.table == nullptr) return absl::InvalidArgumentError(error);
      return in;
    }
    case FileKind::kUnknown:
      break;
  }
  if (bytes.empty()) return absl::InvalidArgumentError("empty file");
  if (IsPrefixOfAFormat(bytes)) return absl::InvalidArgumentError("truncated");
  return absl::InvalidArgumentError("bad magic (neither telemetry nor a frozen table)");
}

}  // namespace tools
}  // namespace hakmem
