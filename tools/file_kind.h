// Which of hakmem's file formats a file image is, by its first five bytes: both envelopes
// are written in field order and start with their magic field (0d, then the magic's four
// bytes), so a file that starts with one is meant to be that format. Lets a command that
// expects one format name the other when given it ("is a frozen table, not telemetry"),
// and lets commands that take both pick the decoder.
#ifndef HAKMEM_TOOLS_FILE_KIND_H_
#define HAKMEM_TOOLS_FILE_KIND_H_

#include "absl/strings/string_view.h"

namespace hakmem {
namespace tools {

enum class FileKind {
  kUnknown,      // neither prefix (or too short to tell)
  kFrozenTable,  // learner/frozen_table.proto FrozenTableFile ("HAKM")
  kTelemetry,    // learner/telemetry.proto TelemetryFile ("HAKT")
};

// The five bytes each file starts with: field 1 as fixed32 (tag 0x0d), then the magic in
// little-endian order.
inline constexpr char kTablePrefix[5] = {0x0d, 'H', 'A', 'K', 'M'};
inline constexpr char kTelemetryPrefix[5] = {0x0d, 'H', 'A', 'K', 'T'};

FileKind KindOf(absl::string_view bytes);

// True when `bytes` is shorter than a prefix and could still be the start of either
// format: such a file is truncated rather than foreign.
bool IsPrefixOfAFormat(absl::string_view bytes);

}  // namespace tools
}  // namespace hakmem

#endif  // HAKMEM_TOOLS_FILE_KIND_H_
