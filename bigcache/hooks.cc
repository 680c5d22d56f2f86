// The process's BigCache, behind the core's weak hooks (core/bigcache_hooks.h).
#include <pthread.h>

#include <atomic>

#include "bigcache/big_cache.h"
#include "core/bigcache_hooks.h"
#include "core/large.h"
#include "core/options.h"
#include "core/os.h"

namespace hakmem {
namespace {

// Constant-initialized: usable from the first allocation, before any constructor runs.
// Ages use the decay pass's clock (coarse: a few ms resolution, a sixth of the cost).
char* MapRegion(size_t size, bool huge) {
  // A huge region starts on a 2 MiB boundary, so its pages can be huge pages (where the
  // core uses them), and a piece moved within it moves whole page tables.
  return static_cast<char*>(huge ? os::MapAligned(size, 0, LargeHugePages()) : os::Map(size));
}

void UnmapRegion(char* p, size_t size) { os::Unmap(p, size); }

void ReleasePages(char* p, size_t size) { os::Decommit(p, size); }

bool MovePages(char* from, char* to, size_t size) { return os::MovePages(from, to, size); }

// As MapRegion advised the region: huge ones as the core's big mappings, plain ones not.
void RenewPages(char* p, size_t size, bool huge) {
  using os::Advice;
  os::Renew(p, size,
            !huge ? Advice::kNone : LargeHugePages() ? Advice::kHugePages : Advice::kNoHugePages);
}

// The learner's record of a cached block (large.cc's cache stamp) closes.
void Retire(char* p, size_t size) { LargeCachedMappingEvicted(p, size); }

uint64_t Headroom() {
  return GetOption(Option::kBigCacheHeadroom) != 0 ? LargeHeadroomBytes() : 0;
}

static_assert(bigcache::kMaxRequest == kBigCacheLargestBlock, "one limit for core and cache");

bigcache::BigCache g_cache(bigcache::Env{&os::NowCoarseNs, &MapRegion, &UnmapRegion,
                                         &ReleasePages, &Retire, &Headroom, &MovePages,
                                         &RenewPages},
                           64 << 20);
std::atomic<bool> g_set_up{false};

void ForkPrepare() { g_cache.LockForFork(); }
void ForkParent() { g_cache.UnlockForFork(); }
void ForkChild() { g_cache.ResetAfterFork(); }

// Options are loaded before the route first calls in; read the capacity then.
bigcache::BigCache& Cache() {
  if (!g_set_up.load(std::memory_order_acquire) && !g_set_up.exchange(true)) {
    g_cache.set_capacity(static_cast<uint64_t>(GetOption(Option::kBigCacheBytes)));
    pthread_atfork(ForkPrepare, ForkParent, ForkChild);
  }
  return g_cache;
}

}  // namespace

char* BigCacheTake(size_t bytes, bool huge, size_t* mapping_size, bool* fresh) {
  return Cache().Take(bytes, huge, mapping_size, fresh);
}

bool BigCachePut(char* mapping, size_t mapping_size) { return Cache().Put(mapping, mapping_size); }

bool BigCacheResize(char* mapping, size_t size, size_t new_size, size_t* resized, bool* fresh) {
  return Cache().Resize(mapping, size, new_size, resized, fresh);
}

uint64_t BigCacheRelease(uint64_t now_ns, uint64_t decay_ns) { return Cache().Release(now_ns, decay_ns); }

void BigCacheThreadExit() { Cache().ThreadExit(); }

void BigCacheGetCounters(BigCacheCounters* out) {
  const bigcache::Counters c = Cache().GetCounters();
  out->hits = c.hits;
  out->misses = c.misses;
  out->puts = c.puts;
  out->rejects = c.rejects;
  out->evictions = c.evictions;
  out->bytes_held = c.bytes_held;
  out->faults_saved = c.faults_saved;
  out->gathers = c.gathers;
  out->moved_bytes = c.moved_bytes;
}

}  // namespace hakmem
