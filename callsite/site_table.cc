#include "callsite/site_table.h"

#include <pthread.h>

#include "callsite/module_map.h"
#include "callsite/ordered_index.h"
#include "core/arena.h"
#include "core/lock.h"
#include "core/size_class.h"

namespace hakmem {
namespace callsite {
namespace {

constexpr int kMaxProbes = 64;
constexpr int kDroppedBits = 1 << 16;  // distinct dropped keys are counted up to ~65k

SiteTable g_table;
SpinLock g_storage_lock;

// The profiler's lock across fork(): taken before the core's (pthread_atfork runs
// prepare handlers in reverse order of registration, and the core registers first), so
// the order matches the slow paths, where a site is resolved inside an allocation. The
// module map's locks have handlers of their own (module_map.cc).
void ForkPrepare() { g_storage_lock.Lock(); }
void ForkParent() { g_storage_lock.Unlock(); }
void ForkChild() { g_storage_lock.ResetAfterFork(); }

inline uint64_t Hash(uintptr_t key) { return (key * 0x9E3779B97F4A7C15ull) ^ (key >> 29); }

inline uint64_t ToFixed(double weight) {
  return static_cast<uint64_t>(weight * static_cast<double>(kFixedOne) + 0.5);
}

void AtomicMax(std::atomic<int64_t>& a, int64_t v) {
  int64_t cur = a.load(std::memory_order_relaxed);
  while (v > cur && !a.compare_exchange_weak(cur, v, std::memory_order_relaxed)) {
  }
}

}  // namespace

SiteTable& Sites() { return g_table; }

template <int kBuckets>
void LazyHistogram<kBuckets>::AddToNewChunk(unsigned b, uint64_t fx) {
  std::atomic<std::atomic<uint64_t>*>& slot = chunks_[b / kBucketsPerChunk];
  auto* fresh = static_cast<std::atomic<uint64_t>*>(
      ArenaAllocate(sizeof(std::atomic<uint64_t>) * kBucketsPerChunk));  // zeroed
  std::atomic<uint64_t>* cur = nullptr;
  // Another thread's chunk may have come first. The arena never frees, so the loser's
  // 128 bytes stay unused: at most one per chunk per thread that raced, and races are
  // rare (a chunk is new once per site and bucket range). If the arena is exhausted the
  // add is dropped.
  if (fresh != nullptr && slot.compare_exchange_strong(cur, fresh, std::memory_order_acq_rel)) {
    cur = fresh;
  }
  if (cur != nullptr) cur[b % kBucketsPerChunk].fetch_add(fx, std::memory_order_relaxed);
}
template class LazyHistogram<kSizeBuckets>;
template class LazyHistogram<kLifetimeBuckets>;

int SizeBucket(size_t size) {
  if (size < kLargeThreshold) return SizeToClass(size);
  const int log2 = 63 - __builtin_clzll(size);  // >= 18
  const int b = kNumClasses + (log2 - 18);
  return b < kSizeBuckets ? b : kSizeBuckets - 1;
}

uint64_t SizeBucketLimit(int bucket) {
  if (bucket < kNumClasses) return ClassSize(bucket);
  return (uint64_t{2} << (bucket - kNumClasses + 18)) - 1;
}

int LifetimeBucket(uint64_t ns) {
  if (ns == 0) return 0;
  const int b = 63 - __builtin_clzll(ns);
  return b < kLifetimeBuckets ? b : kLifetimeBuckets - 1;
}

bool SiteTable::EnsureStorage() {
  if (sites_.load(std::memory_order_acquire) != nullptr) return true;
  SpinLockHolder h(&g_storage_lock);
  if (sites_.load(std::memory_order_relaxed) != nullptr) return true;
  auto* bits = static_cast<std::atomic<uint64_t>*>(ArenaAllocate(kDroppedBits / 8));
  static_assert(kMaxSites <= 0xffff, "the index holds 16-bit ids");
  auto* index =
      static_cast<std::atomic<uint16_t>*>(ArenaAllocate(sizeof(std::atomic<uint16_t>) * kMaxSites));
  auto* sites = static_cast<Site*>(ArenaAllocate(sizeof(Site) * (kMaxSites + 1)));
  if (bits == nullptr || index == nullptr || sites == nullptr) return false;
  index_ = index;
  // Arena memory is zeroed, which is every field's initial state (atomics included).
  dropped_seen_ = bits;
  sites[kMaxSites].module = -1;
  sites_.store(sites, std::memory_order_release);
  pthread_atfork(ForkPrepare, ForkParent, ForkChild);
  return true;
}

void SiteTable::Resolve(Site* s, uintptr_t key) {
  if (key & kNamedSiteBit) {
    s->module = -1;  // the name was stored by the registration that made the key
  } else if (const Context* c = FindContext(key)) {
    s->context = c;
    s->module = c->code[0].module;
    s->offset = c->code[0].offset;
  } else if (IsContextKey(key)) {
    s->module = -1;  // the overflow context: frames past the context table's bound
  } else {
    const CodeKey k = ResolveAddress(key);  // a bare return address (context depth off)
    s->module = k.module;
    s->offset = k.offset;
  }
  s->resolved.store(1, std::memory_order_release);
}

uint32_t SiteTable::FindOrInsert(uintptr_t key) {
  if (!EnsureStorage()) return 0;
  // Contexts that found the context table full share one key and no frames: they are
  // the overflow site's (not counted as dropped sites: DroppedContexts counts them).
  if (key == kOverflowContextKey) return kOverflowSite;
  Site* sites = sites_.load(std::memory_order_acquire);
  const uint64_t h = Hash(key);
  const Found f = FindOrInsertOrdered(
      index_, kMaxSites - 1, &num_used_, kMaxSites, h, kMaxProbes,
      [&](uint32_t id) { sites[id - 1].key.store(key, std::memory_order_relaxed); },
      [&](uint32_t id) {
        return sites[id - 1].key.load(std::memory_order_relaxed) == key ? Match::kYes : Match::kNo;
      });
  if (f.inserted) Resolve(&sites[f.id - 1], key);  // off the fast path by construction
  if (f.id != 0) return f.id;
  // Full (or a long collision chain): count the key once as dropped.
  const uint64_t bit = (h >> 20) & (kDroppedBits - 1);
  const uint64_t mask = uint64_t{1} << (bit & 63);
  if ((dropped_seen_[bit >> 6].fetch_or(mask, std::memory_order_relaxed) & mask) == 0) {
    dropped_.fetch_add(1, std::memory_order_relaxed);
  }
  return kOverflowSite;
}

Site* SiteTable::Get(uint32_t id) {
  Site* sites = sites_.load(std::memory_order_acquire);
  if (sites == nullptr || id == 0 || id > kOverflowSite) return nullptr;
  return &sites[id - 1];
}

void SiteTable::RecordAlloc(uint32_t id, size_t size, double weight) {
  Site* s = Get(id);
  if (s == nullptr) return;
  const uint64_t fx = ToFixed(weight);
  if (weight == 1.0) {
    s->exact_allocs.fetch_add(1, std::memory_order_relaxed);
  } else {
    s->sampled_records.fetch_add(1, std::memory_order_relaxed);
    s->sampled_allocs_fx.fetch_add(fx, std::memory_order_relaxed);
  }
  const auto bytes = static_cast<int64_t>(static_cast<double>(size) * weight + 0.5);
  s->bytes.fetch_add(static_cast<uint64_t>(bytes), std::memory_order_relaxed);
  s->size_fx.Add(SizeBucket(size), fx);
  const int64_t live = s->live_bytes.fetch_add(bytes, std::memory_order_relaxed) + bytes;
  AtomicMax(s->peak_live_bytes, live);
}

void SiteTable::RecordFree(uint32_t id, size_t size, double weight, uint64_t lifetime_ns,
                           bool cross_thread) {
  Site* s = Get(id);
  if (s == nullptr) return;
  const uint64_t fx = ToFixed(weight);
  s->frees_fx.fetch_add(fx, std::memory_order_relaxed);
  if (cross_thread) s->cross_thread_frees_fx.fetch_add(fx, std::memory_order_relaxed);
  const auto bytes = static_cast<int64_t>(static_cast<double>(size) * weight + 0.5);
  s->live_bytes.fetch_sub(bytes, std::memory_order_relaxed);
  s->lifetime_fx.Add(LifetimeBucket(lifetime_ns), fx);
}

}  // namespace callsite
}  // namespace hakmem
