#include "bigcache/big_cache.h"

#include <algorithm>

#include "core/arena.h"
#include "core/os.h"
#include "core/types.h"

namespace hakmem {
namespace bigcache {
namespace {

static_assert(kPage == kPageSize, "BigCache's page is the core's (PageRound, types.h)");

// Extents in a huge region are whole huge pages: a release (madvise) then never cuts a
// huge page, which would leave its other 511 pages as small ones, each faulting on its
// own (20-70 us a fault on these VMs) when the range is used again.
inline size_t Granule(bool huge) { return huge ? os::kHugePageBytes : kPage; }
inline size_t RoundTo(size_t n, size_t granule) { return (n + granule - 1) & ~(granule - 1); }

}  // namespace

size_t BinSize(int b) {
  const int doubling = b / kClassesPerDoubling;
  const size_t base = size_t{1} << (kMinShift + doubling);
  return base + static_cast<size_t>(b % kClassesPerDoubling) * (base / kClassesPerDoubling);
}

int BinFor(size_t bytes) {
  if (bytes <= BinSize(0)) return 0;
  const int k = 63 - __builtin_clzll(bytes - 1);  // bytes in (2^k, 2^(k+1)]
  if (k < kMinShift) return 0;
  const size_t step = (size_t{1} << k) / kClassesPerDoubling;
  const int b = (k - kMinShift) * kClassesPerDoubling +
                static_cast<int>((bytes - 1 - (size_t{1} << k)) / step) + 1;
  return b < kBins ? b : -1;
}

int BinOf(size_t size) {
  if (size < BinSize(0)) return -1;
  const int k = 63 - __builtin_clzll(size);  // size in [2^k, 2^(k+1))
  const size_t step = (size_t{1} << k) / kClassesPerDoubling;
  const int b = (k - kMinShift) * kClassesPerDoubling + static_cast<int>((size - (size_t{1} << k)) / step);
  return b < kBins ? b : kBins - 1;
}

BigCache::Extent* BigCache::NewExtent() {
  Extent* e = spare_;
  if (e != nullptr) {
    spare_ = e->next;
    *e = Extent{};
    return e;
  }
  return static_cast<Extent*>(ArenaAllocate(sizeof(Extent)));  // zeroed
}

void BigCache::FreeExtent(Extent* e) {
  e->next = spare_;
  spare_ = e;
}

BigCache::Lists& BigCache::ListsOf(bool huge, State s) {
  return lists_[huge ? 1 : 0][s == kResident ? 0 : 1];
}

void BigCache::Link(Extent* e) {
  Extent*& head = ListsOf(e->region->huge, e->state).bin[BinOf(e->size)];
  e->prev = nullptr;
  e->next = head;
  if (head != nullptr) head->prev = e;
  head = e;
  if (e->state != kResident) return;
  e->lru_prev = nullptr;
  e->lru_next = lru_head_;
  if (lru_head_ != nullptr) lru_head_->lru_prev = e; else lru_tail_ = e;
  lru_head_ = e;
  bytes_.fetch_add(e->size, std::memory_order_relaxed);
}

void BigCache::Unlink(Extent* e) {
  Extent*& head = ListsOf(e->region->huge, e->state).bin[BinOf(e->size)];
  if (e->prev != nullptr) e->prev->next = e->next; else head = e->next;
  if (e->next != nullptr) e->next->prev = e->prev;
  if (e->state != kResident) return;
  if (e->lru_prev != nullptr) e->lru_prev->lru_next = e->lru_next; else lru_head_ = e->lru_next;
  if (e->lru_next != nullptr) e->lru_next->lru_prev = e->lru_prev; else lru_tail_ = e->lru_prev;
  bytes_.fetch_sub(e->size, std::memory_order_relaxed);
}

BigCache::Extent* BigCache::BestFit(bool huge, State s, size_t need) {
  Lists& l = ListsOf(huge, s);
  // The need's own bin holds extents from its class up, some smaller than the need:
  // scanned for the smallest that fits. Every extent of a higher bin fits; the first
  // non-empty one gives the newest freed (its pages the most likely still in cache),
  // except the last bin (every size past 64 MiB), scanned for the best fit.
  const int first = std::max(BinOf(need), 0);
  for (int b = first; b < kBins; ++b) {
    Extent* best = nullptr;
    const bool scan = b == first || b == kBins - 1;
    for (Extent* e = l.bin[b]; e != nullptr; e = e->next) {
      if (e->size < need) continue;
      if (!scan) return e;
      if (best == nullptr || e->size < best->size) best = e;
      if (best->size == need) break;
    }
    if (best != nullptr) return best;
  }
  return nullptr;
}

BigCache::Extent* BigCache::Split(Extent* e, size_t head) {
  Extent* t = NewExtent();
  if (t == nullptr) return nullptr;  // the arena is out of memory: e stays whole
  t->start = e->start + head;
  t->size = e->size - head;
  t->region = e->region;
  t->state = e->state;
  t->freed_ns = e->freed_ns;  // its pages are as old as the extent's
  // Which side holds the moved-in pieces is not known: both count them (the margin
  // kMoveBudget allows for).
  t->moved_in = e->moved_in;
  moved_in_ += t->moved_in;
  t->prev_addr = e;
  t->next_addr = e->next_addr;
  if (t->next_addr != nullptr) t->next_addr->prev_addr = t;
  e->next_addr = t;
  e->size = head;
  t->region->map[(t->start - t->region->base) / kPage] = t;
  return t;
}

void BigCache::Retire(Extent* e) {
  if (!e->recorded) return;
  e->recorded = false;
  if (env_.retire != nullptr) env_.retire(reinterpret_cast<char*>(e->start), e->size);
}

BigCache::Extent* BigCache::Coalesce(Extent* e) {
  // Only released extents merge. A resident free extent stays the memory of the one
  // block freed into it, so its idle time is that block's site's to pay (Env::retire).
  // Merged, a freed block's memory is carved by other sites' requests while the rest
  // sits idle unattributed, and the learner stops seeing what holding it costs: with
  // resident merges, a site writing one byte of an 8 MiB block every 20 ms won BigCache
  // against a 4 KiB fault (learner:shadow_test). Measured on malloc-large: 2.2 s with
  // resident merges, 3.3 s without (tcmalloc 3.9 s in the same runs).
  if (e->state != kReleased) return e;
  auto absorb = [&](Extent* a, Extent* n) {  // a absorbs n, the extent just after it
    a->freed_ns = std::max(a->freed_ns, n->freed_ns);
    a->size += n->size;
    a->next_addr = n->next_addr;
    if (a->next_addr != nullptr) a->next_addr->prev_addr = a;
    a->region->map[(n->start - a->region->base) / kPage] = nullptr;
    FreeExtent(n);
    merges_.fetch_add(1, std::memory_order_relaxed);
  };
  if (Extent* r = e->next_addr; r != nullptr && r->state == kReleased) {
    Unlink(r);
    absorb(e, r);
  }
  if (Extent* l = e->prev_addr; l != nullptr && l->state == kReleased) {
    Unlink(l);
    absorb(l, e);
    e = l;
  }
  return e;
}

BigCache::Extent* BigCache::Find(uintptr_t p) {
  for (Region* r = regions_; r != nullptr; r = r->next) {
    if (p - r->base < r->size) {
      if ((p & (kPage - 1)) != 0) return nullptr;
      return r->map[(p - r->base) / kPage];
    }
  }
  return nullptr;
}

uint64_t BigCache::Bound() {
  const uint64_t fixed = capacity_.load(std::memory_order_relaxed);
  if (fixed == 0) return 0;  // reuse off, headroom or not
  return env_.headroom != nullptr ? fixed + env_.headroom() : fixed;
}

BigCache::Region* BigCache::AddRegion(size_t need, bool huge) {
  size_t size = kRegionBytes;
  char* base = env_.map(size, huge);
  // Under an address-space limit a whole region may not fit where the block does.
  if (base == nullptr && need < size) {
    size = need;
    base = env_.map(size, huge);
  }
  if (base == nullptr) return nullptr;
  const size_t map_bytes = PageRound(size / kPage * sizeof(Extent*));
  auto** map = static_cast<Extent**>(os::Map(map_bytes));  // zeroed; touched at starts only
  if (map == nullptr) {
    env_.unmap(base, size);
    return nullptr;
  }
  Region* r = nullptr;
  {
    SpinLockHolder h(&lock_);
    r = spare_regions_;
    if (r != nullptr) {
      spare_regions_ = r->next;
    } else {
      r = static_cast<Region*>(ArenaAllocate(sizeof(Region)));
    }
    Extent* e = r != nullptr ? NewExtent() : nullptr;
    if (e != nullptr) {
      *r = Region{reinterpret_cast<uintptr_t>(base), size, huge, map, map_bytes, regions_};
      regions_ = r;
      e->start = r->base;
      e->size = size;
      e->region = r;
      e->state = kReleased;  // never touched
      map[0] = e;
      Link(e);
      regions_count_.fetch_add(1, std::memory_order_relaxed);
      region_bytes_.fetch_add(size, std::memory_order_relaxed);
      return r;
    }
    if (r != nullptr) {  // the arena is out of memory
      r->next = spare_regions_;
      spare_regions_ = r;
    }
  }
  env_.unmap(base, size);
  os::Unmap(map, map_bytes);
  return nullptr;
}

// Inlined in both of Take's calls: a call of its own cost the hit path more
// instructions in bench_large (callgrind: 0.6%, 23 a take).
__attribute__((always_inline)) inline char* BigCache::TakeLocked(size_t need, bool huge,
                                                                 size_t* size, bool* fresh,
                                                                 GatherPlan* g) {
  Extent* e = BestFit(huge, kResident, need);
  const bool hit = e != nullptr;
  if (e == nullptr) {
    if (PlanGather(need, huge, g)) return nullptr;
    e = BestFit(huge, kReleased, need);
  }
  if (e == nullptr) return nullptr;
  Unlink(e);
  // Its block's idle time ends, all of it, even if only its head serves now: the record is
  // of the whole block, and the rest cut off carries none of its own (charged by the head
  // alone, a block carved by smaller requests looked idle for a fraction of its size).
  Retire(e);
  if (e->size > need) {
    if (Extent* t = Split(e, need)) Link(t);
  }
  e->state = kUsed;
  *size = e->size;
  *fresh = !hit;
  if (hit) {
    hits_.fetch_add(1, std::memory_order_relaxed);
    faults_saved_.fetch_add(need / kPage, std::memory_order_relaxed);
  } else {
    misses_.fetch_add(1, std::memory_order_relaxed);
  }
  return reinterpret_cast<char*>(e->start);
}

char* BigCache::Take(size_t bytes, bool huge, size_t* size, bool* fresh) {
  if (bytes == 0 || bytes > kMaxRequest) {
    misses_.fetch_add(1, std::memory_order_relaxed);
    return nullptr;
  }
  const size_t need = RoundTo(bytes, Granule(huge));
  GatherPlan g;
  {
    SpinLockHolder h(&lock_);
    if (char* p = TakeLocked(need, huge, size, fresh, &g)) return p;
  }
  if (g.target != nullptr) return MovePieces(g, size, fresh);
  // Nothing fits: a new region, mapped outside the lock. Another thread can take it
  // before this one relocks; then the request is a miss, and the core maps directly.
  Region* added = AddRegion(need, huge);
  if (added == nullptr) {
    misses_.fetch_add(1, std::memory_order_relaxed);
    return nullptr;
  }
  char* p;
  Region* dead;
  {
    SpinLockHolder h(&lock_);
    p = TakeLocked(need, huge, size, fresh, &g);
    // Another thread that missed at the same time can have mapped a region too, and
    // this request best-fit into what it left of that one: this region is then whole
    // and untouched, and nothing would ever free into it to release it.
    dead = UnlistIfWhole(added);
  }
  UnmapRegions(dead);
  if (g.target != nullptr) return MovePieces(g, size, fresh);
  if (p == nullptr) misses_.fetch_add(1, std::memory_order_relaxed);
  return p;
}

bool BigCache::PlanGather(size_t need, bool huge, GatherPlan* g) {
  // Huge regions only: there extents are whole 2 MiB units on 2 MiB boundaries, and a
  // move carries whole page tables, one entry per 2 MiB, splitting the region's mapping
  // at most at each end. In a plain region it would move 4 KiB entries one by one (14% of
  // malloc-large's run time, gathered in 4 KiB units) and split mappings anywhere, for
  // requests under 2 MiB, whose faults cost least.
  if (!huge || env_.move == nullptr || move_refused_.load(std::memory_order_relaxed)) {
    return false;
  }
  // Every resident extent is smaller than the request (BestFit found none): count what
  // the biggest hold before touching any list.
  Lists& l = ListsOf(huge, kResident);
  const int top = std::min(BinOf(need), kBins - 1);
  const bool multi = multi_refused_.load(std::memory_order_relaxed);
  Extent* picked[kMaxPieces];
  size_t have = 0;
  int pieces = 0;
  for (int b = top; b >= 0 && pieces < kMaxPieces && have < need; --b) {
    for (Extent* e = l.bin[b]; e != nullptr && pieces < kMaxPieces && have < need; e = e->next) {
      if (multi && e->moved_in > 1) continue;
      picked[pieces++] = e;
      have += e->size;
    }
  }
  if (have < need / 2) return false;
  Extent* t = BestFit(huge, kReleased, need);
  if (t == nullptr || moved_in_ + pieces > kMoveBudget) return false;
  Unlink(t);
  if (t->size > need) {
    if (Extent* rest = Split(t, need)) {
      Link(rest);
    } else {
      Link(t);  // the arena is out of memory: gather nothing
      return false;
    }
  }
  t->state = kInFlight;
  // Taken in the order picked; the last is cut to what the request lacks.
  Extent** tail = &g->pieces;
  size_t got = 0;
  for (int i = 0; i < pieces; ++i) {
    Extent* e = picked[i];
    Unlink(e);
    // Its block's idle time ends, all of it: the record is of the whole block, and a
    // cut-off rest carries no record of its own.
    Retire(e);
    if (e->size > need - got) {
      if (Extent* rest = Split(e, need - got)) Link(rest);  // else the target is short
    }
    e->state = kInFlight;
    e->next = nullptr;
    *tail = e;
    tail = &e->next;
    got += e->size;
  }
  g->target = t;
  return true;
}

char* BigCache::MovePieces(const GatherPlan& g, size_t* size, bool* fresh) {
  Extent* t = g.target;
  // Bytes moved; the pieces moved, always a prefix of the list, count in t->moved_in (0
  // before: the target was released).
  size_t moved = 0;
  for (Extent* e = g.pieces; e != nullptr; e = e->next) {
    // The target may be shorter than the pieces only if a split failed: stop there.
    if (moved + e->size > t->size) break;
    char* to = reinterpret_cast<char*>(t->start + moved);
    if (!env_.move(reinterpret_cast<char*>(e->start), to, e->size)) {
      // A piece of several moved-in mappings can be refused where one mapping is not
      // (kernels before 6.17 move one at a time): only such pieces are given up then.
      (e->moved_in > 1 ? multi_refused_ : move_refused_).store(true, std::memory_order_relaxed);
      // The kernel may have cleared the range it was to land in: it must read zero.
      if (env_.renew != nullptr) env_.renew(to, t->size - moved, t->region->huge);
      break;
    }
    moved += e->size;
    ++t->moved_in;
    // A piece that had itself been moved in leaves its mapping behind: renewed, it merges
    // back into the region's.
    if (e->moved_in != 0 && env_.renew != nullptr) {
      env_.renew(reinterpret_cast<char*>(e->start), e->size, e->region->huge);
    }
  }
  Region* dead = nullptr;
  {
    SpinLockHolder h(&lock_);
    Extent* e = g.pieces;
    for (uint32_t i = 0; e != nullptr; ++i) {
      Extent* next = e->next;
      if (i < t->moved_in) {  // moved: its range is released now
        FileReleased(e, &dead);
      } else {  // not moved: resident as it was (its record already closed)
        e->state = kResident;
        Link(e);
      }
      e = next;
    }
    t->state = kUsed;
    moved_in_ += t->moved_in;
  }
  UnmapRegions(dead);
  *size = t->size;
  // Moved pages hold old contents: the block is fresh only if nothing moved.
  *fresh = moved == 0;
  if (moved != 0) {
    hits_.fetch_add(1, std::memory_order_relaxed);
    gathers_.fetch_add(1, std::memory_order_relaxed);
    moved_bytes_.fetch_add(moved, std::memory_order_relaxed);
    faults_saved_.fetch_add(moved / kPage, std::memory_order_relaxed);
  } else {
    misses_.fetch_add(1, std::memory_order_relaxed);
  }
  return reinterpret_cast<char*>(t->start);
}

void BigCache::FileReleased(Extent* e, Region** dead) {
  e->state = kReleased;
  moved_in_ -= e->moved_in;  // renewed, or moved out
  e->moved_in = 0;
  e = Coalesce(e);
  Region* r = e->region;
  if (e->size != r->size) {
    Link(e);
    return;
  }
  // Every page of the region is free and released: the region goes back.
  Unlist(r);
  FreeExtent(e);
  r->next = *dead;
  *dead = r;
}

BigCache::Region* BigCache::UnlistIfWhole(Region* r) {
  // r may have gone back since it was added (taken, freed and released by other
  // threads), its map unmapped: only a region still on the list is looked into.
  Region** link = &regions_;
  while (*link != nullptr && *link != r) link = &(*link)->next;
  if (*link == nullptr) return nullptr;
  Extent* e = r->map[0];
  if (e == nullptr || e->state != kReleased || e->size != r->size) return nullptr;
  Unlink(e);
  FreeExtent(e);
  *link = r->next;
  r->next = nullptr;
  return r;
}

void BigCache::Unlist(Region* r) {
  for (Region** p = &regions_; *p != nullptr; p = &(*p)->next) {
    if (*p == r) {
      *p = r->next;
      return;
    }
  }
}

void BigCache::UnmapRegions(Region* dead) {
  while (dead != nullptr) {
    Region* r = dead;
    dead = r->next;
    env_.unmap(reinterpret_cast<char*>(r->base), r->size);
    os::Unmap(r->map, r->map_bytes);
    regions_count_.fetch_sub(1, std::memory_order_relaxed);
    region_bytes_.fetch_sub(r->size, std::memory_order_relaxed);
    SpinLockHolder h(&lock_);
    r->next = spare_regions_;
    spare_regions_ = r;
  }
}

BigCache::Extent* BigCache::PickVictims(uint64_t target, uint64_t now_ns, uint64_t decay_ns) {
  auto old = [&](const Extent* e) {
    return decay_ns != 0 && now_ns >= e->freed_ns && now_ns - e->freed_ns >= decay_ns;
  };
  Extent* victims = nullptr;
  while (lru_tail_ != nullptr &&
         (bytes_.load(std::memory_order_relaxed) > target || old(lru_tail_))) {
    Extent* e = lru_tail_;
    Unlink(e);
    e->state = kInFlight;  // in no list, merged with nothing, until filed as released
    e->next = victims;
    victims = e;
  }
  return victims;
}

void BigCache::GiveBack(Extent* e) {
  char* p = reinterpret_cast<char*>(e->start);
  if (e->moved_in != 0 && env_.renew != nullptr) {
    env_.renew(p, e->size, e->region->huge);
  } else {
    env_.release(p, e->size);
  }
}

uint64_t BigCache::ReleaseVictims(Extent* victims) {
  if (victims == nullptr) return 0;
  uint64_t bytes = 0;
  // In flight, no other thread touches them: retired and released outside the lock.
  for (Extent* e = victims; e != nullptr; e = e->next) {
    Retire(e);
    GiveBack(e);
    evictions_.fetch_add(1, std::memory_order_relaxed);
    evicted_bytes_.fetch_add(e->size, std::memory_order_relaxed);
    bytes += e->size;
  }
  Region* dead = nullptr;
  {
    SpinLockHolder h(&lock_);
    while (victims != nullptr) {
      Extent* e = victims;
      victims = e->next;
      FileReleased(e, &dead);
    }
  }
  UnmapRegions(dead);
  return bytes;
}

bool BigCache::Put(char* p, size_t size) {
  Extent* victims = nullptr;
  bool kept = false;
  {
    SpinLockHolder h(&lock_);
    Extent* e = Find(reinterpret_cast<uintptr_t>(p));
    if (e == nullptr || e->state != kUsed || e->size != size) return false;
    puts_.fetch_add(1, std::memory_order_relaxed);
    e->state = kResident;
    e->freed_ns = env_.now_ns();
    e->recorded = true;
    Link(e);
    const uint64_t bound = Bound();
    if (e->size > bound) {  // it alone is over: it goes, and nothing older for it
      Unlink(e);
      e->state = kInFlight;
      e->next = nullptr;
      victims = e;
    } else {
      victims = PickVictims(bound, 0, 0);
    }
    kept = e->state == kResident;
  }
  if (!kept) rejects_.fetch_add(1, std::memory_order_relaxed);
  ReleaseVictims(victims);
  return kept;
}

bool BigCache::Resize(char* p, size_t size, size_t new_size, size_t* resized, bool* fresh) {
  *fresh = false;
  if (new_size == 0 || new_size > kMaxRequest) return false;
  Extent* victims = nullptr;
  {
    SpinLockHolder h(&lock_);
    Extent* e = Find(reinterpret_cast<uintptr_t>(p));
    if (e == nullptr || e->state != kUsed || e->size != size) return false;
    const size_t want = RoundTo(new_size, Granule(e->region->huge));
    *resized = want;
    if (want == e->size) return true;
    if (want < e->size) {
      // The tail is freed: resident, and carrying no block of its own to retire.
      Extent* t = Split(e, want);
      if (t == nullptr) return false;
      t->state = kResident;
      t->freed_ns = env_.now_ns();
      Link(t);
      victims = PickVictims(Bound(), 0, 0);
    } else {
      Extent* n = e->next_addr;
      const size_t more = want - e->size;
      if (n == nullptr || (n->state != kResident && n->state != kReleased) || n->size < more) {
        return false;
      }
      Unlink(n);
      if (n->size > more) {
        if (Extent* t = Split(n, more)) {
          Link(t);
        } else {
          Link(n);
          return false;
        }
      }
      Retire(n);
      *fresh = n->state == kReleased;
      e->moved_in += n->moved_in;  // the count stays
      e->size += n->size;
      e->next_addr = n->next_addr;
      if (e->next_addr != nullptr) e->next_addr->prev_addr = e;
      e->region->map[(n->start - e->region->base) / kPage] = nullptr;
      FreeExtent(n);
    }
  }
  ReleaseVictims(victims);
  return true;
}

uint64_t BigCache::Release(uint64_t now_ns, uint64_t decay_ns) {
  Extent* victims;
  {
    SpinLockHolder h(&lock_);
    victims = PickVictims(UINT64_MAX, now_ns, decay_ns == 0 ? 1 : decay_ns);
  }
  return ReleaseVictims(victims);
}

void BigCache::Drop() {
  Region* r;
  {
    SpinLockHolder h(&lock_);
    r = regions_;
    regions_ = nullptr;
    lists_[0][0] = lists_[0][1] = lists_[1][0] = lists_[1][1] = Lists{};
    lru_head_ = lru_tail_ = nullptr;
    moved_in_ = 0;
    bytes_.store(0, std::memory_order_relaxed);
  }
  while (r != nullptr) {
    Region* next = r->next;
    env_.unmap(reinterpret_cast<char*>(r->base), r->size);
    os::Unmap(r->map, r->map_bytes);
    regions_count_.fetch_sub(1, std::memory_order_relaxed);
    region_bytes_.fetch_sub(r->size, std::memory_order_relaxed);
    r = next;
  }
}

Counters BigCache::GetCounters() const {
  Counters c{};
  c.hits = hits_.load(std::memory_order_relaxed);
  c.misses = misses_.load(std::memory_order_relaxed);
  c.puts = puts_.load(std::memory_order_relaxed);
  c.rejects = rejects_.load(std::memory_order_relaxed);
  c.evictions = evictions_.load(std::memory_order_relaxed);
  c.evicted_bytes = evicted_bytes_.load(std::memory_order_relaxed);
  c.bytes_held = bytes_.load(std::memory_order_relaxed);
  c.faults_saved = faults_saved_.load(std::memory_order_relaxed);
  c.merges = merges_.load(std::memory_order_relaxed);
  c.regions = regions_count_.load(std::memory_order_relaxed);
  c.region_bytes = region_bytes_.load(std::memory_order_relaxed);
  c.gathers = gathers_.load(std::memory_order_relaxed);
  c.moved_bytes = moved_bytes_.load(std::memory_order_relaxed);
  return c;
}

}  // namespace bigcache
}  // namespace hakmem
