#include "tools/trace_file.h"

#include <string.h>

#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_format.h"
#include "tools/file_io.h"

namespace hakmem {
namespace tools {

absl::StatusOr<TraceFile> ReadTrace(const std::string& path) {
  std::string bytes;
  absl::Status read = ReadFile(path, &bytes);
  if (!read.ok()) return read;
  return DecodeTrace(std::move(bytes));
}

absl::StatusOr<TraceFile> DecodeTrace(std::string bytes) {
  TraceFile t;
  t.bytes_ = std::move(bytes);
  const std::string& b = t.bytes_;
  constexpr size_t kHeader = sizeof(learner::TraceHeader);
  constexpr size_t kRecord = sizeof(learner::TraceRecord);
  if (b.size() < kHeader) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "truncated (%d bytes; a trace's header alone is %d)", b.size(), kHeader));
  }
  memcpy(&t.header_, b.data(), kHeader);
  const learner::TraceHeader& h = t.header_;
  if (memcmp(h.magic, "HAKTRACE", 8) != 0) {
    return absl::InvalidArgumentError("bad magic (not a hakmem trace)");
  }
  if (h.version != learner::kTraceVersion || h.record_bytes != kRecord) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "trace format version %d with %d-byte records; this hakmem reads version %d with %d",
        h.version, h.record_bytes, learner::kTraceVersion, kRecord));
  }
  if (h.records > (b.size() - kHeader) / kRecord || b.size() != kHeader + h.records * kRecord) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "%d bytes, but the header says %d records (%.0f bytes)", b.size(), h.records,
        static_cast<double>(h.records) * kRecord + kHeader));
  }
  for (size_t i = 0; i < h.records; ++i) {
    const uint8_t kind = t[i].kind;
    if (kind < 1 || kind > 3) {
      return absl::InvalidArgumentError(
          absl::StrFormat("record %d: kind %d is not 1, 2 or 3", i, kind));
    }
  }
  return t;
}

}  // namespace tools
}  // namespace hakmem
