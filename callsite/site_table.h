// The per-site profile: a bounded, open-addressed table keyed by call site (a calling
// context's key, see context.h, or an explicit site token), in arena memory, safe for concurrent writers
// without a lock: a new site claims its slot with one compare-and-swap, and every counter
// is an atomic add. It is touched only on slow paths (samples and large blocks).
//
// Sampled records carry a weight (the allocations one sample stands for); counters keep
// weighted sums in fixed point (kFixedOne per allocation) so that exact and estimated
// counts share one representation. When the table is full, new sites are recorded in an
// overflow site and counted as dropped, never silently lost; so are contexts that found
// the context table full (kOverflowContextKey, counted by DroppedContexts).
#ifndef HAKMEM_CALLSITE_SITE_TABLE_H_
#define HAKMEM_CALLSITE_SITE_TABLE_H_

#include <stddef.h>
#include <stdint.h>

#include <atomic>

#include "callsite/context.h"
#include "core/base.h"
#include "core/types.h"

namespace hakmem {
namespace callsite {

inline constexpr int kTableBits = 12;
inline constexpr uint32_t kMaxSites = 1u << kTableBits;  // 4096 sites
inline constexpr uint32_t kOverflowSite = kMaxSites + 1;  // site ids are 1..kMaxSites
inline constexpr uint64_t kFixedOne = 1u << 16;

// Size histogram: one bucket per size class below the large threshold, then one per
// power of two (bucket b >= kNumClasses holds sizes in [2^(b - kNumClasses + 18), x2)).
inline constexpr int kSizeBuckets = kNumClasses + 30;
// Lifetime histogram: bucket b holds lifetimes in [2^b, 2^(b+1)) ns (b = 0 also holds 0).
inline constexpr int kLifetimeBuckets = 48;

int SizeBucket(size_t size);
// The largest size a bucket holds (its label in reports).
uint64_t SizeBucketLimit(int bucket);
int LifetimeBucket(uint64_t ns);

// A histogram of fixed-point counts whose buckets come in chunks of kBucketsPerChunk,
// each allocated from the arena when one of its buckets is first added to.
//
// Why: a site's two histograms as plain arrays were 1.4 KiB of its 1.5 KiB record, yet a
// site sees one size bucket or two and a few neighbouring lifetime buckets. With every
// record full-size, espresso's 261 sites held 0.4 MiB, the largest part of what profiling
// added to its peak RSS (0.8 MiB, against glibc's whole 2.3 MiB). Lazily, an unused
// chunk costs one pointer.
template <int kBuckets>
class LazyHistogram {
 public:
  static constexpr int kBucketsPerChunk = 16;  // 128 bytes: two cache lines
  static constexpr int kChunks = (kBuckets + kBucketsPerChunk - 1) / kBucketsPerChunk;

  // Adds `fx` to bucket `b` (0 <= b < kBuckets). Lock-free but for the first add to a
  // chunk, which takes the arena's lock; if the arena is exhausted the add is dropped.
  // Every large block is recorded, so this is on the large path: a load, a test and an
  // add, with the chunk's allocation out of line (inline, its call and the signed index
  // arithmetic cost bench_large 47 instructions a cycle, 1.25%).
  void Add(int b, uint64_t fx) {
    const unsigned u = static_cast<unsigned>(b);
    std::atomic<uint64_t>* c = chunks_[u / kBucketsPerChunk].load(std::memory_order_acquire);
    if (HAK_UNLIKELY(c == nullptr)) return AddToNewChunk(u, fx);
    c[u % kBucketsPerChunk].fetch_add(fx, std::memory_order_relaxed);
  }
  uint64_t Get(int b) const {
    const unsigned u = static_cast<unsigned>(b);
    const std::atomic<uint64_t>* c = chunks_[u / kBucketsPerChunk].load(std::memory_order_acquire);
    return c == nullptr ? 0 : c[u % kBucketsPerChunk].load(std::memory_order_relaxed);
  }
  // Chunks allocated so far (what the histogram costs beyond its pointers).
  int chunks_used() const {
    int n = 0;
    for (const auto& c : chunks_) n += c.load(std::memory_order_relaxed) != nullptr;
    return n;
  }

 private:
  HAK_NOINLINE void AddToNewChunk(unsigned b, uint64_t fx);
  std::atomic<std::atomic<uint64_t>*> chunks_[kChunks];  // zeroed: no chunk yet
};

// Explicit sites (hak_site_register) use keys with the top bit set: never a user-space
// code address.
inline constexpr uintptr_t kNamedSiteBit = uintptr_t{1} << 63;

struct Site {
  std::atomic<uintptr_t> key;        // 0: free slot
  std::atomic<int> resolved;         // 0: not yet, 1: module/offset (or name) are set
  int module;                        // the allocation call's (frame 0's); -1 for none
  uint64_t offset;
  const Context* context;            // its frames; nullptr for explicit sites
  const char* name;                  // explicit sites only
  // Allocation counts are kept apart by kind so that an exact record (every large block)
  // costs one add for its count, not three: atomic adds are most of a record's cost.
  std::atomic<uint64_t> exact_allocs;       // exact records (weight 1)
  std::atomic<uint64_t> sampled_records;    // samples (their counts are estimates)
  std::atomic<uint64_t> sampled_allocs_fx;  // the allocations the samples stand for
  std::atomic<uint64_t> frees_fx, cross_thread_frees_fx;
  std::atomic<uint64_t> bytes;       // weighted, rounded
  std::atomic<int64_t> live_bytes;
  std::atomic<int64_t> peak_live_bytes;
  LazyHistogram<kSizeBuckets> size_fx;
  LazyHistogram<kLifetimeBuckets> lifetime_fx;
};

class SiteTable {
 public:
  // Id (1..kMaxSites, or kOverflowSite) of the site with `key`, inserting it if new.
  // 0 if the table could not be set up at all.
  uint32_t FindOrInsert(uintptr_t key);

  Site* Get(uint32_t id);  // nullptr for an unused id
  uint64_t dropped_sites() const { return dropped_.load(std::memory_order_relaxed); }

  void RecordAlloc(uint32_t id, size_t size, double weight);
  void RecordFree(uint32_t id, size_t size, double weight, uint64_t lifetime_ns,
                  bool cross_thread);

  // Calls fn(id, site) for every site in use, in the order they were inserted (id
  // order), the overflow site last. Visits only the records in use: a scan of all of them
  // would fault in 6 MiB of untouched table at every report.
  template <typename Fn>
  void ForEach(Fn fn) {
    Site* sites = sites_.load(std::memory_order_acquire);
    if (sites == nullptr) return;
    uint32_t n = num_used_.load(std::memory_order_acquire);
    if (n > kMaxSites) n = kMaxSites;
    for (uint32_t id = 1; id <= n; ++id) {
      Site* s = &sites[id - 1];
      // Visited once resolved: a record still being inserted, or one a race left
      // unused, is not.
      if (s->resolved.load(std::memory_order_acquire) != 0) fn(id, s);
    }
    Site* overflow = &sites[kMaxSites];
    if (overflow->exact_allocs.load(std::memory_order_relaxed) != 0 ||
        overflow->sampled_records.load(std::memory_order_relaxed) != 0) {
      fn(kOverflowSite, overflow);
    }
  }

 private:
  bool EnsureStorage();
  void Resolve(Site* s, uintptr_t key);

  // The index over the records, which sit in id order as sites come (ordered_index.h
  // says why): a key's slot holds its site's id (0: free), the key being the record's.
  std::atomic<uint16_t>* index_ = nullptr;  // kMaxSites slots (ordered_index.h)
  std::atomic<Site*> sites_{nullptr};  // kMaxSites records by id, then the overflow site
  std::atomic<uint64_t> dropped_{0};
  std::atomic<uint64_t>* dropped_seen_ = nullptr;  // a bitmap over key hashes
  // Records handed out: ids 1..num_used_ (a record a race left unused is never resolved).
  std::atomic<uint32_t> num_used_{0};
};

SiteTable& Sites();

}  // namespace callsite
}  // namespace hakmem

#endif  // HAKMEM_CALLSITE_SITE_TABLE_H_
