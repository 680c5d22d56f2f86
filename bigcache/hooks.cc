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
// Evicted mappings tell the core first, so the learner can close their idle time.
void UnmapEvicted(void* mapping, size_t size) {
  LargeCachedMappingEvicted(static_cast<char*>(mapping), size);
  os::Unmap(mapping, size);
}

bigcache::BigCache g_cache(bigcache::Env{&os::NowCoarseNs, &UnmapEvicted}, 64 << 20);
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

size_t BigCacheMappingSize(size_t bytes) {
  const int b = bigcache::BinFor(bytes);
  if (b < 0) return 0;
  const size_t size = bigcache::BinSize(b);
  return size <= static_cast<uint64_t>(GetOption(Option::kBigCacheBytes)) ? size : 0;
}

size_t BigCacheLargestMapping() {
  // Bins grow with their index, so the last one within the capacity bounds every
  // cacheable need. Computed on first use (options are loaded before the route first
  // calls in) into a plain atomic: racing threads compute the same value, and no
  // function-local static (whose guard would need libstdc++ in the preload).
  static std::atomic<size_t> largest{0};
  size_t l = largest.load(std::memory_order_relaxed);
  if (l != 0) return l;
  const uint64_t cap = static_cast<uint64_t>(GetOption(Option::kBigCacheBytes));
  l = 1;  // nothing is cacheable (a capacity below the first bin)
  for (int b = bigcache::kBins - 1; b >= 0; --b) {
    if (bigcache::BinSize(b) <= cap) {
      l = bigcache::BinSize(b);
      break;
    }
  }
  largest.store(l, std::memory_order_relaxed);
  return l;
}

char* BigCacheTake(size_t bytes, size_t* mapping_size) { return Cache().Take(bytes, mapping_size); }

bool BigCachePut(char* mapping, size_t mapping_size) { return Cache().Put(mapping, mapping_size); }

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
}

}  // namespace hakmem
