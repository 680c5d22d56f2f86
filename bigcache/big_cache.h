// BigCache: reuse of freed mapped blocks' memory, so a site that cycles large buffers
// pays no mmap, munmap, page fault or page-table change in steady state.
//
// An extent heap, as tcmalloc's page heap is. Blocks are carved from regions: address
// space mapped once (kRegionBytes, MAP_NORESERVE; untouched pages cost nothing). A freed
// block's pages stay mapped and resident as a free extent, so a freed 20 MiB block
// serves a 12 MiB request and the rest stays free, resident, for the next one. A request
// takes, in this order:
//   1. the best-fitting resident free extent (a hit: no syscall, no fault);
//   2. in huge regions, when no resident extent is big enough: resident pieces gathered
//      into a released extent of the right size, their pages moved there (Env::move,
//      mremap) and not faulted again (a hit too: a "gather");
//   3. the best-fitting released extent (its pages fault again, but nothing is mapped);
//   4. a new region.
// The remainder of what it takes stays free, in the same state. Released extents
// coalesce with released neighbours; resident ones stay one freed block each, so the
// learner can charge that block's site for the time its memory sits idle (big_cache.cc,
// Coalesce, says what merging them cost in fidelity and gained in speed).
//
// Why gather (2): blocks of many sizes leave resident free memory in pieces between live
// blocks, none big enough for the next request. Without (2) that request faulted in a
// released extent while the pieces aged out, and malloc-large (5-25 MiB blocks, 20 live)
// refaulted 800 MiB beyond its 490 MiB footprint. Moving a page is a page-table update:
// measured here, 64 MiB of moved pages touch as fast as before the move (3.4 ms against
// 3.2), and the move itself took 0.1 ms. Moved pages keep a kernel mapping (VMA) of their
// own in the target region, which never merges with its neighbours; so a range holding
// moved-in pages is renewed (Env::renew: mapped afresh, and merged back) rather than just
// released when it goes back, and the mappings moves leave behind are bounded by the
// moved-in pieces still in use or resident (kMoveBudget), not by the process's history.
// The pieces' records retire whole when they move (Env::retire): their
// sites pay for the time their memory sat idle, as when a request reuses it in place.
//
// Why regions and not a mapping per block: carving and coalescing change no page table,
// and a free needs no syscall; only releasing and gathering do.
//
// Sized from the live large heap: at most max(capacity, headroom) bytes are kept
// resident in free extents (none if the capacity is 0), the headroom being how far the
// program's live large bytes are below their peak (Env::headroom). A cache that fills
// only that headroom never takes the footprint past the program's own peak; a fixed cap
// either refaults what a program cycling a few hundred MiB keeps reusing, or holds memory
// a small program never needs back. Past the bound the least recently freed extents are
// released (madvise: the range stays mapped), and Release() releases every extent freed
// the decay period ago or longer. A region whose every page is free and released is
// unmapped.
//
// Two kinds of region: huge (advised for transparent huge pages, on a 2 MiB boundary),
// for blocks the core gives huge pages, and plain for the rest, so a 100 KiB block never
// makes 2 MiB resident.
//
// Extents are whole pages. Their metadata lives outside them (arena nodes and a page
// map per region): the heap never writes into the memory it manages, so an instance
// whose regions are not real memory (the replay engine's) works the same way.
//
// One lock guards the heap; the syscalls (mapping a region aside) run outside it.
// Testable on its own: the clock and the OS come in through Env.
#ifndef HAKMEM_BIGCACHE_BIG_CACHE_H_
#define HAKMEM_BIGCACHE_BIG_CACHE_H_

#include <stddef.h>
#include <stdint.h>

#include <atomic>

#include "core/lock.h"

namespace hakmem {
namespace bigcache {

// Free lists are binned by size: 8 classes per doubling, 4 KiB to 64 MiB (larger extents
// share the last bin, searched for the best fit).
inline constexpr int kMinShift = 12;
inline constexpr int kMaxShift = 26;
inline constexpr int kClassesPerDoubling = 8;
inline constexpr int kBins = (kMaxShift - kMinShift) * kClassesPerDoubling + 1;

// Size of bin b's smallest extents.
size_t BinSize(int b);
// The smallest bin whose class is >= bytes; -1 if past the last.
int BinFor(size_t bytes);
// The bin an extent of `size` bytes is listed in (largest class <= size); -1 if smaller
// than the first.
int BinOf(size_t size);

// Address space mapped per region (untouched: no memory), and so the largest request
// the heap serves: the core maps bigger blocks directly.
inline constexpr size_t kRegionBytes = size_t{1} << 30;
inline constexpr size_t kMaxRequest = kRegionBytes;
inline constexpr size_t kPage = 4096;

// Gathering (2 above): at most this many pieces a request (each 2 MiB or more: huge
// regions' units), and only when they hold at least half the request (less would hardly
// pay for the moves).
inline constexpr int kMaxPieces = 16;
// Moved-in pieces the heap holds at once, at most (in use or resident; counted with
// margin: a cut piece counts on both sides). Each can split its region's kernel mapping
// once more: 1024 leave at most 2048 more mappings, 3% of Linux's default limit of 65530
// a process (vm.max_map_count); the host program's own mmaps must still succeed.
// malloc-large, 20 live blocks gathered from up to 16 pieces each, ended with 285.
inline constexpr uint32_t kMoveBudget = 1024;

struct Env {
  uint64_t (*now_ns)();
  // Maps a region of `size` bytes (huge: on a 2 MiB boundary, advised for huge pages);
  // nullptr if the OS refuses.
  char* (*map)(size_t size, bool huge);
  // Unmaps a whole region.
  void (*unmap)(char* p, size_t size);
  // Gives a free extent's pages back to the OS; the range stays mapped (and reads zero).
  void (*release)(char* p, size_t size);
  // The core keeps a record of each freed block at its start (core/large.cc's cache
  // stamp: who freed it and when, for the learner's idle time). `retire`: that block's
  // memory stops being idle: handed out again (whole or its head), or released. Called
  // with the memory resident and in nobody's hands. Optional.
  void (*retire)(char* p, size_t size) = nullptr;
  // Bytes it may keep resident beyond its capacity, now: the program's peak of live
  // large bytes minus its live large bytes. Optional: without it the capacity is fixed.
  uint64_t (*headroom)() = nullptr;
  // Moves the pages of [from, from + size) to `to` (a released range of a region of the
  // same kind) without copying; `from` then reads zero and holds no memory, as if
  // released. False if the OS refuses: nothing moved (the heap renews `to`). Optional:
  // without it no request is gathered from pieces. After one refusal (an old kernel, or
  // the process's mapping limit) the heap gathers no more; after a refusal of a piece
  // holding several moved-in mappings (before Linux 6.17), it gathers no such piece.
  bool (*move)(char* from, char* to, size_t size) = nullptr;
  // Replaces [p, p + size) of a region with fresh memory, as the region was mapped (huge:
  // as its huge regions are): it then reads zero and holds none, like a release, and the
  // kernel mappings moved-in pages left there merge back into the region's. Used instead
  // of release for ranges holding moved-in pages; optional, release if absent.
  void (*renew)(char* p, size_t size, bool huge) = nullptr;
};

struct Counters {
  uint64_t hits;          // takes served from resident free memory
  uint64_t misses;        // takes served from released memory or a new region
  uint64_t puts;          // blocks freed into the heap
  uint64_t rejects;       // puts released at once (over the bound)
  uint64_t evictions;     // extents released (over the bound, or idle past the decay)
  uint64_t evicted_bytes;
  uint64_t bytes_held;    // resident in free extents now
  uint64_t faults_saved;  // estimate: a hit of n bytes saves n / 4096 first-touch faults
  uint64_t merges;        // released extents coalesced
  uint64_t regions;       // regions mapped now
  uint64_t region_bytes;  // their address space
  uint64_t gathers;       // takes served by gathering resident pieces (counted in hits)
  uint64_t moved_bytes;   // bytes those moved
};

class BigCache {
 public:
  constexpr BigCache(Env env, uint64_t capacity_bytes) : env_(env), capacity_(capacity_bytes) {}
  BigCache(const BigCache&) = delete;
  BigCache& operator=(const BigCache&) = delete;

  // An extent of `bytes` rounded up to whole pages (huge pages if `huge`: from a huge
  // region) (*size);
  // *fresh: its pages were released or never touched (they fault on touch). nullptr if
  // the request is past kMaxRequest or the OS refuses a region.
  char* Take(size_t bytes, bool huge, size_t* size, bool* fresh);
  // Frees an extent Take returned (p and its *size, or Resize's size). Returns whether its memory stays
  // resident for reuse (false: released at once, the bound being exceeded). False also
  // for a p the heap did not hand out, which it ignores.
  bool Put(char* p, size_t size);
  // Grows or shrinks the taken extent at p from `size` to new_size bytes, rounded as
  // Take rounds (*resized), in place (growing into a free extent just after it). False,
  // nothing changed, if it cannot. *fresh: some pages it gained were released or never
  // touched.
  bool Resize(char* p, size_t size, size_t new_size, size_t* resized, bool* fresh);
  // Releases every resident free extent freed `decay_ns` or longer before `now_ns`.
  // Returns bytes released.
  uint64_t Release(uint64_t now_ns, uint64_t decay_ns);
  // Nothing per thread is kept; kept for the core's thread-exit hook.
  void ThreadExit() {}
  // Unmaps every region and page map, in use or not: for an instance that goes away with
  // its blocks (the replay engine's), never the process's. Its nodes stay in the arena.
  void Drop();

  void set_capacity(uint64_t bytes) { capacity_.store(bytes, std::memory_order_relaxed); }
  Counters GetCounters() const;

  void LockForFork() ABSL_NO_THREAD_SAFETY_ANALYSIS { lock_.Lock(); }
  void UnlockForFork() ABSL_NO_THREAD_SAFETY_ANALYSIS { lock_.Unlock(); }
  void ResetAfterFork() { lock_.ResetAfterFork(); }

 private:
  enum State : uint8_t { kUsed, kResident, kReleased, kInFlight };
  struct Region;
  struct Extent {
    uintptr_t start;
    size_t size;
    Region* region;
    Extent* prev_addr;  // neighbours in the region, free or not
    Extent* next_addr;
    Extent* prev;  // the free list of its bin (or the spare node list)
    Extent* next;
    Extent* lru_prev;  // resident free extents, newest freed first
    Extent* lru_next;
    uint64_t freed_ns;
    bool recorded;  // resident: the core's record of the block freed into it is open
    uint32_t moved_in;  // pieces moved into it whose mappings it holds (0: the region's own)
    State state;
  };
  struct Region {
    uintptr_t base;
    size_t size;
    bool huge;
    Extent** map;  // page index -> the extent starting there (starts only)
    size_t map_bytes;
    Region* next;
  };
  struct Lists {
    Extent* bin[kBins];
  };

  Extent* NewExtent() ABSL_EXCLUSIVE_LOCKS_REQUIRED(lock_);
  void FreeExtent(Extent* e) ABSL_EXCLUSIVE_LOCKS_REQUIRED(lock_);
  Lists& ListsOf(bool huge, State s) ABSL_EXCLUSIVE_LOCKS_REQUIRED(lock_);
  // Into / out of its free list (and the LRU list if resident).
  void Link(Extent* e) ABSL_EXCLUSIVE_LOCKS_REQUIRED(lock_);
  void Unlink(Extent* e) ABSL_EXCLUSIVE_LOCKS_REQUIRED(lock_);
  Extent* BestFit(bool huge, State s, size_t need) ABSL_EXCLUSIVE_LOCKS_REQUIRED(lock_);
  // Cuts e after `head` bytes; the tail is a new extent in e's state (unlinked: the
  // caller links it).
  Extent* Split(Extent* e, size_t head) ABSL_EXCLUSIVE_LOCKS_REQUIRED(lock_);
  // Merges e (released, unlinked) with released neighbours; returns the result. Resident
  // extents never merge (big_cache.cc says why).
  Extent* Coalesce(Extent* e) ABSL_EXCLUSIVE_LOCKS_REQUIRED(lock_);
  Extent* Find(uintptr_t p) ABSL_EXCLUSIVE_LOCKS_REQUIRED(lock_);
  // Closes the record of the block freed into e, if open (Env::retire).
  void Retire(Extent* e) ABSL_EXCLUSIVE_LOCKS_REQUIRED(lock_);
  uint64_t Bound();
  // Takes resident extents off the LRU tail while more than `target` bytes are resident,
  // or those freed before `older_than` (0: age no matter); they are in flight after.
  Extent* PickVictims(uint64_t target, uint64_t now_ns, uint64_t decay_ns)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(lock_);
  // Gives e's pages back (renewing them if they were moved in); outside the lock, e in
  // flight. Its moved_in is dropped from the count under the lock, when it is filed.
  void GiveBack(Extent* e) ABSL_LOCKS_EXCLUDED(lock_);
  // Retires and releases victims (outside the lock), then files them as released.
  // Returns bytes.
  uint64_t ReleaseVictims(Extent* victims) ABSL_LOCKS_EXCLUDED(lock_);
  Region* AddRegion(size_t need, bool huge) ABSL_LOCKS_EXCLUDED(lock_);
  // A request gathered from resident pieces: the target (a released extent of the
  // request's size) and the pieces (linked by next, in order), all unlinked, in flight.
  struct GatherPlan {
    Extent* target = nullptr;
    Extent* pieces = nullptr;
  };
  // Take from the free extents alone (need: rounded); nullptr if none fits, or if the
  // request is to be gathered (*g filled: the caller runs MovePieces outside the lock).
  char* TakeLocked(size_t need, bool huge, size_t* size, bool* fresh, GatherPlan* g)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(lock_);
  // Picks pieces and a target for a request no resident extent fits; false if gathering
  // is off, out of budget, or the pieces would hold too little.
  bool PlanGather(size_t need, bool huge, GatherPlan* g) ABSL_EXCLUSIVE_LOCKS_REQUIRED(lock_);
  // Moves the pieces' pages into the target and files both; returns the target's start.
  char* MovePieces(const GatherPlan& g, size_t* size, bool* fresh) ABSL_LOCKS_EXCLUDED(lock_);
  // Files e (in flight, its pages given back: released, renewed or moved out) as released,
  // after coalescing; if its region is now one free released extent, takes the region off
  // the list onto *dead (to unmap).
  void FileReleased(Extent* e, Region** dead) ABSL_EXCLUSIVE_LOCKS_REQUIRED(lock_);
  // Takes r off the region list if it is one free released extent (its node freed);
  // returns r then (its map still to unmap), else nullptr.
  Region* UnlistIfWhole(Region* r) ABSL_EXCLUSIVE_LOCKS_REQUIRED(lock_);
  void Unlist(Region* r) ABSL_EXCLUSIVE_LOCKS_REQUIRED(lock_);
  // Unmaps regions taken off the list (linked by next) and files their nodes as spare.
  void UnmapRegions(Region* dead) ABSL_LOCKS_EXCLUDED(lock_);

  const Env env_;
  std::atomic<uint64_t> capacity_;
  SpinLock lock_;
  Lists lists_[2][2] ABSL_GUARDED_BY(lock_) = {};  // [huge][resident, released]
  Extent* lru_head_ ABSL_GUARDED_BY(lock_) = nullptr;
  Extent* lru_tail_ ABSL_GUARDED_BY(lock_) = nullptr;
  Extent* spare_ ABSL_GUARDED_BY(lock_) = nullptr;  // recycled nodes
  Region* regions_ ABSL_GUARDED_BY(lock_) = nullptr;
  Region* spare_regions_ ABSL_GUARDED_BY(lock_) = nullptr;
  std::atomic<uint64_t> bytes_{0};  // resident in free extents
  std::atomic<uint64_t> hits_{0}, misses_{0}, puts_{0}, rejects_{0}, evictions_{0};
  std::atomic<uint64_t> evicted_bytes_{0}, faults_saved_{0}, merges_{0};
  std::atomic<uint64_t> regions_count_{0}, region_bytes_{0};
  std::atomic<uint64_t> gathers_{0}, moved_bytes_{0};
  std::atomic<bool> move_refused_{false};
  std::atomic<bool> multi_refused_{false};  // a piece of several moved-in mappings was
  uint32_t moved_in_ ABSL_GUARDED_BY(lock_) = 0;  // sum of moved_in (kMoveBudget)
};

}  // namespace bigcache
}  // namespace hakmem

#endif  // HAKMEM_BIGCACHE_BIG_CACHE_H_
