#include "learner/trace.h"

#include <string.h>
#include <time.h>
#include <unistd.h>

#include <atomic>

#include "core/format.h"
#include "core/learner_hooks.h"
#include "core/options.h"
#include "core/os.h"
#include "core/strategy.h"
#include "core/thread_cache.h"
#include "core/atomic_file.h"

namespace hakmem {
namespace learner {

namespace {

// Constant-initialized (see elo.h): the allocator may start tracing before dynamic
// initializers run.
TraceRecord* g_records = nullptr;
uint64_t g_capacity = 0;
std::atomic<uint64_t> g_next{0};
uint64_t g_start_ns = 0;
uint64_t g_start_unix_ns = 0;

}  // namespace

void StartTrace() {
  if (GetStringOption(Option::kTrace) == nullptr) return;
  g_capacity = static_cast<uint64_t>(GetOption(Option::kTraceRecords));
  // Mapped now, not on the first routed request: the program's run is not to change.
  g_records = static_cast<TraceRecord*>(os::Map(sizeof(TraceRecord) * g_capacity));
  if (g_records == nullptr) {
    static const char kMsg[] = "hakmem: HAKMEM_TRACE: out of memory for the records; not tracing\n";
    os::WriteStderr(kMsg, sizeof(kMsg) - 1);
    return;
  }
  g_start_unix_ns = os::UnixNs();
  g_start_ns = os::NowNs();
  g_tracing = true;
}

bool WriteTraceTo(const char* path) {
  const uint64_t appended = g_next.load(std::memory_order_acquire);
  const uint64_t n = appended < g_capacity ? appended : g_capacity;
  TraceHeader h{};
  memcpy(h.magic, "HAKTRACE", 8);
  h.version = kTraceVersion;
  h.record_bytes = sizeof(TraceRecord);
  // A record another thread is still filling has kind 0: the file ends before it.
  uint64_t whole = 0;
  while (whole < n && __atomic_load_n(&g_records[whole].kind, __ATOMIC_ACQUIRE) != 0) ++whole;
  h.records = whole;
  h.dropped = appended - whole;
  h.start_unix_ns = g_start_unix_ns;
  h.pid = static_cast<uint64_t>(getpid());
  AtomicFile out(path);
  out.Write(&h, sizeof(h));
  if (whole > 0) out.Write(g_records, sizeof(TraceRecord) * whole);
  if (out.Commit()) return true;
  char buf[4400];
  Formatter f(buf, sizeof(buf));
  f.Str("hakmem: cannot write HAKMEM_TRACE='").Str(path).Str("': ").Str(out.why()).Str("\n");
  os::WriteStderr(buf, f.size());
  return false;
}

namespace {

__attribute__((destructor)) void WriteTraceAtExit() {
  const char* pattern = GetStringOption(Option::kTrace);
  if (pattern == nullptr || g_records == nullptr) return;
  char path[4200];
  ExpandPid(pattern, path, sizeof(path));
  WriteTraceTo(path);
}

}  // namespace
}  // namespace learner

// ---- the core's hook (core/learner_hooks.h) ----

void TraceRouted(TraceKind kind, uintptr_t site, const void* p, const void* old_p, size_t size,
                 Strategy s) {
  using namespace learner;
  const uint64_t i = g_next.fetch_add(1, std::memory_order_relaxed);
  if (i >= g_capacity) return;  // counted: g_next - g_capacity were dropped
  TraceRecord& r = g_records[i];
  r.time_ns = os::NowNs() - g_start_ns;
  r.site = site;
  r.size = size;
  r.address = reinterpret_cast<uintptr_t>(p);
  r.old_address = reinterpret_cast<uintptr_t>(old_p);
  // Counted here, before the free unmaps or caches the block: the replay engine's
  // estimate of the faults a fresh mapping of it would take.
  r.touched_pages = kind == TraceKind::kFree ? os::ResidentPages(p, size) : 0;
  r.thread = CurrentThreadTag();
  r.band = static_cast<uint8_t>(BandOf(size));
  r.strategy = static_cast<uint8_t>(s);
  __atomic_store_n(&r.kind, static_cast<uint8_t>(kind), __ATOMIC_RELEASE);  // whole now
}

}  // namespace hakmem
