// Telemetry files (learner/telemetry.proto) on disk, for the tools: read and validated
// into a hakmem::telemetry::Telemetry with libprotobuf, and written atomically in one
// canonical byte form.
//
// A file is refused whole, with a one-line reason, for:
//  - the envelope, checked as learner/table_codec.h checks a frozen table's: an empty or
//    truncated file, a file that does not start with the magic field ("bad magic (not a
//    telemetry file)", or "is a frozen table, not telemetry" for one of those), a field
//    other than the four of TelemetryFile or out of their order, a format version other
//    than kTelemetryFormatVersion, a checksum mismatch, a byte after the checksum;
//  - a payload that does not parse as a Telemetry;
//  - what the payload means (ValidateTelemetry): string_table[0] not "" or an *_str past
//    the table; a module, location or site whose id is not its position + 1; a reference
//    to a module, location, site or run that does not exist; an enum value the schema
//    does not name (proto3 keeps unknown values; readers must not); a rating, cost or
//    price that is not finite; a whole cost (cost_ns) that is negative; histogram buckets not in increasing order; a build-id
//    that is not lowercase hex; a site that is not exactly one of a calling context
//    (1 to 16 frames), an explicit site (a name) or the overflow site (key 0), or whose
//    wrapper_frames leaves no frame to name it; two sites with one key; two runs of one
//    process (pid, host, start); two records of one kind for one (run, site, band,
//    strategy) where the schema has one.
// Records and entities are numbered from 0 in messages, by their position in their list:
// "site 3: location id 9 names no location (the file has 7)".
// Unknown fields inside Telemetry (a newer writer, same format version) are skipped.
#ifndef HAKMEM_TOOLS_TELEMETRY_FILE_H_
#define HAKMEM_TOOLS_TELEMETRY_FILE_H_

#include <stdint.h>

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "learner/telemetry.pb.h"

namespace hakmem {
namespace tools {

// TelemetryFile.magic: "HAKT" read as a little-endian uint32.
inline constexpr uint32_t kTelemetryMagic = 0x544b4148;
// The Telemetry schema version this build reads and writes.
inline constexpr uint32_t kTelemetryFormatVersion = 1;
// Frames a calling context has at most (callsite::kMaxContextDepth).
inline constexpr int kMaxTelemetryFrames = 16;

// Decodes and validates a file image. The status message is the one-line reason.
absl::StatusOr<telemetry::Telemetry> DecodeTelemetryFile(absl::string_view bytes);

// Reads `path` and decodes it. The message is the reason alone; callers print the path.
absl::StatusOr<telemetry::Telemetry> ReadTelemetryFile(const std::string& path);

// The semantic checks above, on a message however it was made.
absl::Status ValidateTelemetry(const telemetry::Telemetry& t);

// The whole file image of `t`: the envelope in field order, the payload serialized
// deterministically. Equal messages give equal bytes.
std::string EncodeTelemetryFile(const telemetry::Telemetry& t);

// Validates `t`, encodes it, and writes it atomically (tools/file_io.h). Never writes a
// file that DecodeTelemetryFile would refuse.
absl::Status WriteTelemetryAtomically(const std::string& path, const telemetry::Telemetry& t);

}  // namespace tools
}  // namespace hakmem

#endif  // HAKMEM_TOOLS_TELEMETRY_FILE_H_
