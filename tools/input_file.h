// Commands that take frozen tables and telemetry alike (`hakmem freeze`, `hakmem diff`)
// read their files here: the format is told by the first bytes (tools/file_kind.h), and
// each is decoded and validated by its own reader.
#ifndef HAKMEM_TOOLS_INPUT_FILE_H_
#define HAKMEM_TOOLS_INPUT_FILE_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "learner/telemetry.pb.h"
#include "tools/file_kind.h"
#include "tools/table_file.h"

namespace hakmem {
namespace tools {

struct InputFile {
  FileKind kind;                   // kFrozenTable or kTelemetry
  std::unique_ptr<Table> table;    // for a frozen table
  telemetry::Telemetry telemetry;  // for telemetry
};

// Reads `path` as whichever of the two it is. The message is the reason alone (callers
// print the path): the reader's, or "bad magic (neither telemetry nor a frozen table)".
absl::StatusOr<InputFile> ReadTableOrTelemetry(const std::string& path);

}  // namespace tools
}  // namespace hakmem

#endif  // HAKMEM_TOOLS_INPUT_FILE_H_
