// Telemetry from a process (learner/telemetry.proto): HAKMEM_TELEMETRY=FILE writes what
// the process allocated, where (the call-site profile), what the learner tried, measured
// and decided (curves, decisions, outcomes), and the allocator's totals over time.
//
// When: at exit, and with HAKMEM_TELEMETRY_INTERVAL_MS also from a background thread
// ("hakmem-telemetry", signals blocked) that samples the allocator every interval and
// rewrites the file, never more often than ten times a write's own duration. Every write
// is atomic (core/atomic_file.h). A forked child keeps no thread: it writes at exit
// only (use %p in the path to keep children's files apart; without it the process that
// exits last owns the file).
//
// How: in memory mapped for the write (never malloc), encoded with nanopb
// (learner/telemetry.options). The symbolizer's own allocations are neither profiled nor
// learned from (callsite::ScopedNoProfiling). A failed write prints one line on stderr,
// once per process, and is counted (Drops.failed_writes); the program carries on.
#ifndef HAKMEM_LEARNER_TELEMETRY_H_
#define HAKMEM_LEARNER_TELEMETRY_H_

#include <stddef.h>
#include <stdint.h>

namespace hakmem {
namespace learner {

// TelemetryFile.magic ("HAKT" little-endian) and format_version.
inline constexpr uint32_t kTelemetryMagic = 0x544b4148;
inline constexpr uint32_t kTelemetryFormatVersion = 1;

// Records the run's start (clocks, identity). Called once from LearnerInit, every mode.
void StartTelemetry();

// Writes HAKMEM_TELEMETRY now (complete: this is the exit write). False after one line
// on stderr (the first failure only) when it cannot; also false when no path is set.
bool WriteTelemetry(bool complete);

// Writes the telemetry to `path` exactly (no %p expansion); for tests.
bool WriteTelemetryTo(const char* path, bool complete);

}  // namespace learner
}  // namespace hakmem

#endif  // HAKMEM_LEARNER_TELEMETRY_H_
