#include "bigcache/big_cache.h"

#include "core/arena.h"
#include "core/large.h"

namespace hakmem {
namespace bigcache {
namespace {

// The calling thread's front, per cache instance (tests make their own instances; the
// process has one). Two entries cover both; more instances just make more fronts.
struct FrontRef {
  uint64_t cache_id;
  void* front;
};
__thread FrontRef tl_fronts[2] __attribute__((tls_model("initial-exec")));
std::atomic<uint64_t> g_next_id{1};

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

uint64_t BigCache::Id() {
  uint64_t id = id_.load(std::memory_order_acquire);
  if (id == 0) {
    const uint64_t fresh = g_next_id.fetch_add(1, std::memory_order_relaxed);
    id = id_.compare_exchange_strong(id, fresh, std::memory_order_acq_rel) ? fresh : id;
  }
  return id;
}

BigCache::Front* BigCache::MyFront() {
  const uint64_t id = Id();
  for (FrontRef& r : tl_fronts) {
    if (r.cache_id == id) return static_cast<Front*>(r.front);
  }
  // First use by this thread: adopt a front a dead thread left, or make one.
  Front* f = nullptr;
  for (Front* g = fronts_.load(std::memory_order_acquire); g != nullptr; g = g->next) {
    bool free_front = false;
    if (g->owned.compare_exchange_strong(free_front, true, std::memory_order_acq_rel)) {
      f = g;
      break;
    }
  }
  if (f == nullptr) {
    f = static_cast<Front*>(ArenaAllocate(sizeof(Front)));  // zeroed: every slot empty
    if (f == nullptr) return nullptr;
    f->owned.store(true, std::memory_order_relaxed);
    Front* head = fronts_.load(std::memory_order_relaxed);
    do {
      f->next = head;
    } while (!fronts_.compare_exchange_weak(head, f, std::memory_order_acq_rel));
  }
  FrontRef& r = tl_fronts[0].cache_id == 0 ? tl_fronts[0] : tl_fronts[1];
  r.cache_id = id;
  r.front = f;
  return f;
}

void BigCache::PushBack(int b, Node* n) {
  n->prev = nullptr;
  n->next = head_[b];
  if (head_[b] != nullptr) head_[b]->prev = n;
  head_[b] = n;
  if (tail_[b] == nullptr) tail_[b] = n;
}

void BigCache::Unlink(int b, Node* n) {
  if (n->prev != nullptr) n->prev->next = n->next; else head_[b] = n->next;
  if (n->next != nullptr) n->next->prev = n->prev; else tail_[b] = n->prev;
}

char* BigCache::Take(size_t bytes, size_t* size) {
  const int b = BinFor(bytes);
  if (b < 0) {
    misses_.fetch_add(1, std::memory_order_relaxed);
    return nullptr;
  }
  Node* n = nullptr;
  if (Front* f = MyFront()) {
    n = f->slot[b].exchange(nullptr, std::memory_order_acquire);
    if (n != nullptr) front_hits_.fetch_add(1, std::memory_order_relaxed);
  }
  if (n == nullptr) {
    SpinLockHolder h(&lock_);
    n = head_[b];
    if (n != nullptr) Unlink(b, n);
  }
  if (n == nullptr) {
    misses_.fetch_add(1, std::memory_order_relaxed);
    return nullptr;
  }
  *size = n->size;
  bytes_.fetch_sub(n->size, std::memory_order_relaxed);
  hits_.fetch_add(1, std::memory_order_relaxed);
  faults_saved_.fetch_add(bytes / 4096, std::memory_order_relaxed);
  return reinterpret_cast<char*>(n);
}

bool BigCache::Put(char* mapping, size_t size) {
  const int b = BinOf(size);
  const uint64_t cap = capacity_.load(std::memory_order_relaxed);
  if (b < 0 || size > BinSize(kBins - 1) || size > cap) {
    rejects_.fetch_add(1, std::memory_order_relaxed);
    return false;
  }
  // The node takes the mapping's first bytes; the core's cache stamp follows it.
  static_assert(sizeof(Node) <= kCacheStampOffset, "node overlaps the core's cache stamp");
  Node* n = reinterpret_cast<Node*>(mapping);
  n->size = size;
  n->freed_ns = env_.now_ns();
  puts_.fetch_add(1, std::memory_order_relaxed);
  const uint64_t held = bytes_.fetch_add(size, std::memory_order_relaxed) + size;
  bool placed = false;
  if (Front* f = MyFront()) {
    Node* expected = nullptr;
    placed = f->slot[b].compare_exchange_strong(expected, n, std::memory_order_release);
  }
  Node* victims = nullptr;
  if (!placed || held > cap) {
    SpinLockHolder h(&lock_);
    if (!placed) PushBack(b, n);
    if (held > cap) victims = EvictTo(cap - cap / 4);
  }
  UnmapAll(victims);
  return true;
}

BigCache::Node* BigCache::EvictTo(uint64_t target) {
  Node* victims = nullptr;
  while (bytes_.load(std::memory_order_relaxed) > target) {
    // The oldest mapping in the back; failing that, in any front.
    int oldest = -1;
    for (int b = 0; b < kBins; ++b) {
      if (tail_[b] != nullptr &&
          (oldest < 0 || tail_[b]->freed_ns < tail_[oldest]->freed_ns)) {
        oldest = b;
      }
    }
    Node* n = nullptr;
    if (oldest >= 0) {
      n = tail_[oldest];
      Unlink(oldest, n);
    } else {
      for (Front* f = fronts_.load(std::memory_order_acquire); f != nullptr && n == nullptr;
           f = f->next) {
        for (int b = 0; b < kBins && n == nullptr; ++b) {
          n = f->slot[b].exchange(nullptr, std::memory_order_acquire);
        }
      }
      if (n == nullptr) break;  // everything is in flight in Take/Put
    }
    bytes_.fetch_sub(n->size, std::memory_order_relaxed);
    n->next = victims;
    victims = n;
  }
  return victims;
}

uint64_t BigCache::UnmapAll(Node* victims) {
  uint64_t bytes = 0;
  while (victims != nullptr) {
    Node* next = victims->next;
    const size_t size = victims->size;
    env_.unmap(victims, size);
    evictions_.fetch_add(1, std::memory_order_relaxed);
    evicted_bytes_.fetch_add(size, std::memory_order_relaxed);
    bytes += size;
    victims = next;
  }
  return bytes;
}

uint64_t BigCache::Release(uint64_t now_ns, uint64_t decay_ns) {
  auto old = [&](const Node* n) { return now_ns >= n->freed_ns && now_ns - n->freed_ns >= decay_ns; };
  Node* victims = nullptr;
  Node* young = nullptr;  // taken from a front that refilled meanwhile: for the back
  // Fronts first, without the lock. A slot's mapping is taken out before its node is
  // read: until then its owner may take it and write over the node (the core's header
  // goes there; TSan found the read racing that write). A young one goes back to its slot,
  // or to the back if the owner has put another there meanwhile. (The owner's Take misses
  // its front for that instant and looks in the back.)
  for (Front* f = fronts_.load(std::memory_order_acquire); f != nullptr; f = f->next) {
    for (int b = 0; b < kBins; ++b) {
      if (f->slot[b].load(std::memory_order_relaxed) == nullptr) continue;
      Node* n = f->slot[b].exchange(nullptr, std::memory_order_acquire);
      if (n == nullptr) continue;
      if (old(n)) {
        bytes_.fetch_sub(n->size, std::memory_order_relaxed);
        n->next = victims;
        victims = n;
        continue;
      }
      Node* empty = nullptr;
      if (!f->slot[b].compare_exchange_strong(empty, n, std::memory_order_release)) {
        n->next = young;
        young = n;
      }
    }
  }
  {
    SpinLockHolder h(&lock_);
    while (young != nullptr) {
      Node* next = young->next;
      PushBack(BinOf(young->size), young);
      young = next;
    }
    for (int b = 0; b < kBins; ++b) {
      while (tail_[b] != nullptr && old(tail_[b])) {  // newest first: the tail is oldest
        Node* n = tail_[b];
        Unlink(b, n);
        bytes_.fetch_sub(n->size, std::memory_order_relaxed);
        n->next = victims;
        victims = n;
      }
    }
  }
  return UnmapAll(victims);
}

void BigCache::ThreadExit() {
  const uint64_t id = Id();
  for (FrontRef& r : tl_fronts) {
    if (r.cache_id != id) continue;
    auto* f = static_cast<Front*>(r.front);
    {
      SpinLockHolder h(&lock_);
      for (int b = 0; b < kBins; ++b) {
        if (Node* n = f->slot[b].exchange(nullptr, std::memory_order_acquire)) PushBack(b, n);
      }
    }
    f->owned.store(false, std::memory_order_release);
    r.cache_id = 0;
    r.front = nullptr;
  }
}

Counters BigCache::GetCounters() const {
  Counters c{};
  c.hits = hits_.load(std::memory_order_relaxed);
  c.front_hits = front_hits_.load(std::memory_order_relaxed);
  c.misses = misses_.load(std::memory_order_relaxed);
  c.puts = puts_.load(std::memory_order_relaxed);
  c.rejects = rejects_.load(std::memory_order_relaxed);
  c.evictions = evictions_.load(std::memory_order_relaxed);
  c.evicted_bytes = evicted_bytes_.load(std::memory_order_relaxed);
  c.bytes_held = bytes_.load(std::memory_order_relaxed);
  c.faults_saved = faults_saved_.load(std::memory_order_relaxed);
  return c;
}

}  // namespace bigcache
}  // namespace hakmem
