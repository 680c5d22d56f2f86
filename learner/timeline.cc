#include "learner/timeline.h"

#include <fcntl.h>
#include <unistd.h>

#include "core/central_freelist.h"
#include "core/os.h"
#include "core/size_class.h"
#include "core/stats.h"
#include "learner/curves.h"

namespace hakmem {
namespace learner {
namespace {

hakmem_telemetry_AllocatorSample* g_samples = nullptr;
uint64_t g_total = 0;  // samples taken
constexpr KeepFirstAndRecent kBound{kTimelineCapacity};

// The process's resident set, from /proc/self/statm (pages); 0 if unreadable.
uint64_t ResidentBytes() {
  const int fd = open("/proc/self/statm", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  char buf[128];
  const ssize_t n = read(fd, buf, sizeof(buf) - 1);
  close(fd);
  if (n <= 0) return 0;
  buf[n] = '\0';
  // "size resident shared ...": the second field.
  const char* p = buf;
  while (*p != '\0' && *p != ' ') ++p;
  uint64_t pages = 0;
  for (++p; *p >= '0' && *p <= '9'; ++p) pages = pages * 10 + static_cast<uint64_t>(*p - '0');
  return pages * static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
}

}  // namespace

bool SampleAllocator(uint64_t time_ns) {
  if (g_samples == nullptr) {
    g_samples = static_cast<hakmem_telemetry_AllocatorSample*>(
        os::Map(sizeof(hakmem_telemetry_AllocatorSample) * kTimelineCapacity));
    if (g_samples == nullptr) return false;
  }
  hakmem_telemetry_AllocatorSample& s = g_samples[kBound.Slot(g_total)];
  s = hakmem_telemetry_AllocatorSample_init_zero;
  const Stats st = GetStats();
  s.time_ns = time_ns;
  s.mapped_bytes = st.bytes_from_os;
  s.resident_bytes = ResidentBytes();
  s.heap_span_bytes = st.heap_span_bytes;
  s.heap_free_bytes = st.heap_dirty_free_bytes;
  s.returned_bytes = st.released_bytes;
  s.large_live_bytes = st.large_live_bytes;
  s.large_allocs = st.large_allocs;
  s.bigcache_hits = st.bigcache_hits;
  s.bigcache_misses = st.bigcache_misses;
  s.bigcache_evictions = st.bigcache_evictions;
  s.bigcache_held_bytes = st.bigcache_bytes;
  s.mmap_calls = st.mmap_calls;
  s.munmap_calls = st.munmap_calls;
  s.madvise_calls = st.madvise_calls;
  constexpr int kMaxClasses =
      static_cast<int>(sizeof(s.size_classes) / sizeof(s.size_classes[0]));
  for (int c = 1; c < kNumClasses && s.size_classes_count < kMaxClasses; ++c) {
    const CentralFreeList::ClassStats cs = CentralClassStats(c);
    if (cs.spans == 0 && cs.objects_out == 0) continue;
    hakmem_telemetry_SizeClassSample& out = s.size_classes[s.size_classes_count++];
    out.object_bytes = ClassSize(c);
    out.spans = cs.spans;
    out.span_bytes = cs.span_bytes;
    out.objects_out = cs.objects_out;
  }
  ++g_total;
  return true;
}

size_t TimelineKept() { return g_samples == nullptr ? 0 : kBound.Kept(g_total); }
uint64_t TimelineDropped() { return kBound.Dropped(g_total); }

const hakmem_telemetry_AllocatorSample& TimelineSample(size_t k) {
  return g_samples[kBound.Slot(kBound.IndexOfKept(k, g_total))];
}

void ResetTimelineAfterFork() { g_total = 0; }

}  // namespace learner
}  // namespace hakmem
