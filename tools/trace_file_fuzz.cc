// Fuzzes the HAKMEM_TRACE reader (tools/trace_file.h DecodeTrace, what ReadTrace runs on a
// file's bytes). Whatever the bytes: no crash or out-of-bounds read, a refusal is one
// line; a trace that passes has exactly the records its header counts, each of a known
// kind, and every record can be read.
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <string>

#include "absl/status/statusor.h"
#include "learner/trace.h"
#include "tools/trace_file.h"

namespace {

[[noreturn]] void Fail(const char* what, const std::string& detail) {
  fprintf(stderr, "trace_file_fuzz: %s%s%s\n", what, detail.empty() ? "" : ": ",
          detail.c_str());
  abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using hakmem::learner::TraceHeader;
  using hakmem::learner::TraceRecord;
  absl::StatusOr<hakmem::tools::TraceFile> t =
      hakmem::tools::DecodeTrace(std::string(reinterpret_cast<const char*>(data), size));
  if (!t.ok()) {
    const std::string why(t.status().message());
    if (why.empty() || why.find('\n') != std::string::npos) Fail("not a one-line reason", why);
    return 0;
  }
  if (sizeof(TraceHeader) + t->size() * sizeof(TraceRecord) != size) {
    Fail("the records do not fill the file", "");
  }
  uint64_t sum = 0;
  for (size_t i = 0; i < t->size(); ++i) {
    const TraceRecord& r = (*t)[i];
    if (r.kind < 1 || r.kind > 3) Fail("a record of an unknown kind passed", "");
    sum += r.time_ns ^ r.site ^ r.size ^ r.address ^ r.old_address ^ r.touched_pages ^ r.thread;
  }
  return sum == 1 ? 0 : 0;  // reads every field (ASan checks each)
}
