// HAKMEM_TRACE files (learner/trace.h) on disk, for the replay engine and the Python
// module: read whole and checked (magic, version, record size, length), so a replay never
// runs on a truncated or foreign file.
#ifndef HAKMEM_TOOLS_TRACE_FILE_H_
#define HAKMEM_TOOLS_TRACE_FILE_H_

#include <stddef.h>

#include <string>

#include "absl/status/statusor.h"
#include "learner/trace.h"

namespace hakmem {
namespace tools {

class TraceFile {
 public:
  const learner::TraceHeader& header() const { return header_; }
  size_t size() const { return header_.records; }
  // The i-th record, i < size().
  const learner::TraceRecord& operator[](size_t i) const { return records()[i]; }

 private:
  friend absl::StatusOr<TraceFile> DecodeTrace(std::string bytes);
  learner::TraceHeader header_{};
  // The file. Its buffer is malloc'd (16-byte aligned; never the inline buffer of a short
  // string, which a valid trace cannot be) and the header is 64 bytes: the records are
  // aligned for their u64 fields.
  const learner::TraceRecord* records() const {
    return reinterpret_cast<const learner::TraceRecord*>(bytes_.data() + sizeof(header_));
  }
  std::string bytes_;
};

// Reads and checks `path`. The message is the reason alone, one line (callers print the
// path): strerror's, "truncated (...)", "bad magic (not a hakmem trace)", "trace format
// version V with N-byte records; this hakmem reads version 2 with 56", "N bytes, but the
// header says R records (M bytes)", "record K: kind X is not 1, 2 or 3".
absl::StatusOr<TraceFile> ReadTrace(const std::string& path);

// The same checks on a file's bytes (ReadTrace reads the file and calls this): the
// entry point for traces that are not on disk, and for the fuzzer (tools/trace_file_fuzz.cc).
absl::StatusOr<TraceFile> DecodeTrace(std::string bytes);

}  // namespace tools
}  // namespace hakmem

#endif  // HAKMEM_TOOLS_TRACE_FILE_H_
