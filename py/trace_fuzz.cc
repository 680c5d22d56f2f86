// Fuzzes the HAKMEM_TRACE reader (tools/trace_file.h DecodeTrace, what ReadTrace runs on a
// file's bytes) and the trace's consumer, the replay engine (py/replay.h, hakmem.Engine).
// Whatever the bytes: no crash or out-of-bounds access, a refusal is one line. A trace
// that passes has exactly the records its header counts, each of a known kind; the engine
// takes it (learn, shadow or a fixed strategy, picked by the header's pid), replays every
// record, and reports what it learned.
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <string>

#include "absl/status/statusor.h"
#include "learner/trace.h"
#include "py/replay.h"
#include "tools/trace_file.h"

namespace {

[[noreturn]] void Fail(const char* what, const std::string& detail) {
  fprintf(stderr, "trace_fuzz: %s%s%s\n", what, detail.empty() ? "" : ": ",
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
  if (sum == 1) fprintf(stderr, " ");  // every field read (ASan checks each)

  // The engine reads a path: the bytes go to a scratch file first.
  static const std::string path = std::string(getenv("TEST_TMPDIR") != nullptr ? getenv("TEST_TMPDIR") : "/tmp") +
                                  "/trace_fuzz." + std::to_string(getpid()) + ".trace";
  FILE* f = fopen(path.c_str(), "wb");
  if (f == nullptr || fwrite(data, 1, size, f) != size || fclose(f) != 0) {
    Fail("cannot write the scratch trace", path);
  }
  hakmem::py::ReplayConfig config;
  switch (t->header().pid % 3) {
    case 0: config.mode = hakmem::py::ReplayConfig::Mode::kLearn; break;
    case 1: config.mode = hakmem::py::ReplayConfig::Mode::kShadow; break;
    default:
      config.mode = hakmem::py::ReplayConfig::Mode::kFixed;
      config.fixed = static_cast<hakmem::Strategy>(1 + t->header().pid / 3 % 3);
      break;
  }
  auto replay = hakmem::py::Replay::Create(path, "", config);
  unlink(path.c_str());
  if (!replay.ok()) Fail("the engine refused a valid trace", std::string(replay.status().message()));
  if ((*replay)->events() != t->size()) Fail("the engine counts other records", "");
  if (!(*replay)->Step(t->size() + 1)) Fail("the engine did not finish the trace", "");
  // What it learned, in both forms Python reads. (Without the recorded run's telemetry
  // its sites are bare keys, which ValidateTelemetry refuses: no file is made of it.)
  const hakmem::telemetry::Telemetry learned = (*replay)->Result();
  if (learned.runs_size() != 1) Fail("the replay's telemetry has other than one run", "");
  (*replay)->Summary();
  return 0;
}
