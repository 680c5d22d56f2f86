#include "bigcache/big_cache.h"

#include <functional>
#include <map>
#include <mutex>
#include <random>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

namespace hakmem {
namespace bigcache {
namespace {

constexpr size_t kMiB = size_t{1} << 20;

// The injected OS. The heap never touches the memory it manages, so regions are bare
// address ranges (from far above any real mapping): the test sees every call the heap
// makes and the clock is the test's.
struct FakeOs {
  std::mutex mu;
  uint64_t now = 1000;
  uintptr_t next = uintptr_t{1} << 44;
  int maps = 0, huge_maps = 0, unmaps = 0, refuse_maps_over = -1;  // -1: refuse none
  uint64_t headroom = 0;
  std::vector<std::pair<uintptr_t, size_t>> released;
  std::vector<uintptr_t> retired;
  // Runs once, in the next Map, before it maps: what another thread does while this one
  // maps a region outside the heap's lock.
  std::function<void()> during_next_map;
  struct Move {
    uintptr_t from, to;
    size_t size;
    bool operator==(const Move& o) const { return from == o.from && to == o.to && size == o.size; }
  };
  std::vector<Move> moves;  // every move asked for, refused or not
  std::vector<std::pair<uintptr_t, size_t>> renewed;
  bool refuse_moves = false;
  std::vector<uintptr_t> refuse_from;  // moves from these starts are refused
  std::function<void(const Move&)> on_move;  // checks, before it moves
};
FakeOs* g_os = nullptr;

uint64_t Now() { return g_os->now; }
char* Map(size_t size, bool huge) {
  if (g_os->during_next_map) {
    std::function<void()> f = std::move(g_os->during_next_map);
    g_os->during_next_map = nullptr;
    f();
  }
  std::lock_guard<std::mutex> l(g_os->mu);
  if (g_os->refuse_maps_over >= 0 && size > static_cast<size_t>(g_os->refuse_maps_over)) {
    return nullptr;
  }
  ++g_os->maps;
  if (huge) ++g_os->huge_maps;
  const uintptr_t p = (g_os->next + (2 * kMiB - 1)) & ~(2 * kMiB - 1);
  g_os->next = p + size + 64 * kMiB;  // a gap: regions never touch
  return reinterpret_cast<char*>(p);
}
void Unmap(char*, size_t) {
  std::lock_guard<std::mutex> l(g_os->mu);
  ++g_os->unmaps;
}
void Release(char* p, size_t size) {
  std::lock_guard<std::mutex> l(g_os->mu);
  g_os->released.emplace_back(reinterpret_cast<uintptr_t>(p), size);
}
void Retire(char* p, size_t) {
  std::lock_guard<std::mutex> l(g_os->mu);  // called outside the heap's lock too
  g_os->retired.push_back(reinterpret_cast<uintptr_t>(p));
}
uint64_t Headroom() { return g_os->headroom; }
bool Move(char* from, char* to, size_t size) {
  const FakeOs::Move m{reinterpret_cast<uintptr_t>(from), reinterpret_cast<uintptr_t>(to), size};
  if (g_os->on_move) g_os->on_move(m);
  std::lock_guard<std::mutex> l(g_os->mu);
  g_os->moves.push_back(m);
  for (uintptr_t r : g_os->refuse_from) {
    if (r == m.from) return false;
  }
  return !g_os->refuse_moves;
}

void Renew(char* p, size_t size, bool) {
  std::lock_guard<std::mutex> l(g_os->mu);
  g_os->renewed.emplace_back(reinterpret_cast<uintptr_t>(p), size);
}

constexpr Env kEnv{&Now, &Map, &Unmap, &Release, &Retire, &Headroom};
// With page moves: requests no resident extent fits are gathered from pieces.
constexpr Env kMoveEnv{&Now, &Map, &Unmap, &Release, &Retire, &Headroom, &Move, &Renew};

class BigCacheTest : public ::testing::Test {
 protected:
  void SetUp() override { g_os = &os_; }
  void TearDown() override { g_os = nullptr; }

  // Takes and checks the result; returns the extent's start.
  uintptr_t Take(BigCache& c, size_t bytes, bool huge, bool want_fresh, size_t* size = nullptr) {
    size_t got = 0;
    bool fresh = !want_fresh;
    char* p = c.Take(bytes, huge, &got, &fresh);
    EXPECT_NE(p, nullptr) << bytes;
    EXPECT_GE(got, bytes);
    EXPECT_EQ(fresh, want_fresh) << bytes;
    if (size != nullptr) *size = got;
    return reinterpret_cast<uintptr_t>(p);
  }
  static char* P(uintptr_t p) { return reinterpret_cast<char*>(p); }
  // A fresh huge block with a live one after it, so that, freed, it never coalesces with
  // the next block taken.
  uintptr_t TakeApart(BigCache& c, size_t bytes, size_t* size = nullptr) {
    const uintptr_t p = Take(c, bytes, true, true, size);
    Take(c, 1 * kMiB, true, true);
    return p;
  }
  // Frees a and d (huge, `s` bytes each, not adjacent) and takes both their sizes: a
  // block gathered from the two, holding two moved-in mappings. Returns its start.
  uintptr_t GatherBoth(BigCache& c, uintptr_t a, uintptr_t d, size_t s, size_t* size) {
    EXPECT_TRUE(c.Put(P(a), s));
    EXPECT_TRUE(c.Put(P(d), s));
    const size_t moves = os_.moves.size();
    const uintptr_t t = Take(c, 2 * s, true, false, size);
    EXPECT_EQ(os_.moves.size(), moves + 2);
    return t;
  }

  FakeOs os_;
};

TEST(BigCacheBins, EveryRequestFitsItsBinAndBinsAreTight) {
  for (size_t bytes = 1; bytes <= (size_t{64} << 20); bytes = bytes * 9 / 8 + 4096) {
    const int b = BinFor(bytes);
    ASSERT_GE(b, 0) << bytes;
    ASSERT_GE(BinSize(b), bytes);
    if (b > 0) {
      ASSERT_LT(BinSize(b - 1), bytes) << bytes;  // the smallest bin that fits
    }
    ASSERT_EQ(BinOf(BinSize(b)), b);
    ASSERT_LE(BinSize(b) - bytes, BinSize(b) / 8 + 4096);
  }
  EXPECT_EQ(BinFor((size_t{64} << 20) + 1), -1);
  EXPECT_EQ(BinOf(size_t{1} << 30), kBins - 1);  // past 64 MiB: the last bin
}

TEST_F(BigCacheTest, AFreedBlockServesTheNextRequestWithoutTheOs) {
  BigCache c(kEnv, 64 * kMiB);
  size_t size = 0;
  const uintptr_t a = Take(c, 300 * 1024, false, true, &size);
  EXPECT_EQ(size, 300u * 1024);  // whole pages, no size classes
  EXPECT_EQ(os_.maps, 1);
  EXPECT_TRUE(c.Put(P(a), size));
  EXPECT_EQ(c.GetCounters().bytes_held, size);
  EXPECT_EQ(Take(c, 300 * 1024, false, false), a);
  const Counters k = c.GetCounters();
  EXPECT_EQ(k.hits, 1u);
  EXPECT_EQ(k.misses, 1u);
  EXPECT_EQ(k.faults_saved, 75u);
  EXPECT_EQ(k.bytes_held, 0u);
  EXPECT_EQ(os_.maps, 1);
  EXPECT_TRUE(os_.released.empty());
}

TEST_F(BigCacheTest, ALargerFreeExtentServesSmallerRequestsAndKeepsTheRest) {
  BigCache c(kEnv, 64 * kMiB);
  size_t size = 0;
  const uintptr_t a = Take(c, 20 * kMiB, false, true, &size);
  ASSERT_TRUE(c.Put(P(a), size));
  // 12 MiB from the head of the freed 20; the 8 MiB tail stays resident and serves next.
  EXPECT_EQ(Take(c, 12 * kMiB, false, false), a);
  EXPECT_EQ(c.GetCounters().bytes_held, 8 * kMiB);
  EXPECT_EQ(Take(c, 8 * kMiB, false, false), a + 12 * kMiB);
  EXPECT_EQ(os_.maps, 1);
  EXPECT_TRUE(os_.released.empty());
}

TEST_F(BigCacheTest, ReleasedNeighboursCoalesceResidentOnesStayOneBlockEach) {
  BigCache c(kEnv, 64 * kMiB);
  size_t s = 0;
  const uintptr_t a = Take(c, 4 * kMiB, false, true, &s);
  const uintptr_t b = Take(c, 4 * kMiB, false, true);
  const uintptr_t d = Take(c, 4 * kMiB, false, true);
  const uintptr_t e = Take(c, 4 * kMiB, false, true);
  ASSERT_EQ(b, a + 4 * kMiB);  // carved one after another from the region
  ASSERT_EQ(d, b + 4 * kMiB);
  ASSERT_TRUE(c.Put(P(a), s));
  ASSERT_TRUE(c.Put(P(d), s));
  ASSERT_TRUE(c.Put(P(b), s));
  EXPECT_EQ(c.GetCounters().merges, 0u);  // resident: each its own block
  EXPECT_EQ(Take(c, 4 * kMiB, false, false), b);  // the newest freed of the best fit
  ASSERT_TRUE(c.Put(P(b), s));
  // Released, they join: one run of 12 MiB serves a request none alone could.
  EXPECT_EQ(c.Release(os_.now + 1, 1), 12 * kMiB);
  EXPECT_EQ(c.GetCounters().merges, 2u);
  EXPECT_EQ(Take(c, 12 * kMiB, false, true), a);
  EXPECT_EQ(os_.maps, 1);
  EXPECT_TRUE(c.Put(P(e), s));
}

TEST_F(BigCacheTest, TheBestFittingFreeExtentIsTaken) {
  BigCache c(kEnv, 256 * kMiB);
  std::vector<uintptr_t> blocks;
  for (size_t mib : {9, 1, 5, 1, 6, 1}) blocks.push_back(Take(c, mib * kMiB, false, true));
  // Free 9, 5 and 6 (the 1 MiB blocks between them stay, so nothing merges).
  ASSERT_TRUE(c.Put(P(blocks[0]), 9 * kMiB));
  ASSERT_TRUE(c.Put(P(blocks[2]), 5 * kMiB));
  ASSERT_TRUE(c.Put(P(blocks[4]), 6 * kMiB));
  EXPECT_EQ(Take(c, 5 * kMiB + 4096, false, false), blocks[4]);  // 6 fits best, not 9
  EXPECT_EQ(Take(c, 5 * kMiB, false, false), blocks[2]);
}

TEST_F(BigCacheTest, HugeRegionsAreApartAlignedAndInWholeHugePages) {
  BigCache c(kEnv, 64 * kMiB);
  size_t size = 0;
  const uintptr_t h = Take(c, 3 * kMiB, true, true, &size);
  EXPECT_EQ(size, 4 * kMiB);  // whole huge pages: a release never cuts one
  EXPECT_EQ(h % (2 * kMiB), 0u);
  const uintptr_t p = Take(c, 3 * kMiB, false, true, &size);
  EXPECT_EQ(size, 3 * kMiB);
  EXPECT_EQ(os_.maps, 2);
  EXPECT_EQ(os_.huge_maps, 1);
  ASSERT_TRUE(c.Put(P(p), size));
  // A freed plain extent does not serve a huge request, nor the other way round.
  const uintptr_t h2 = Take(c, 3 * kMiB, true, true);
  EXPECT_EQ(h2, h + 4 * kMiB);
  EXPECT_EQ(h2 % (2 * kMiB), 0u);
}

TEST_F(BigCacheTest, KeepsAtMostTheCapacityPlusTheLiveHeapsHeadroomResident) {
  BigCache c(kEnv, 4 * kMiB);
  std::vector<uintptr_t> blocks;
  // Used blocks between them: freed blocks stay apart.
  for (int i = 0; i < 6; ++i) blocks.push_back(Take(c, 4 * kMiB, false, true));
  os_.headroom = 4 * kMiB;  // the program's live large bytes are 4 MiB below their peak
  for (int i = 0; i < 6; i += 2) {
    os_.now += 1000;
    c.Put(P(blocks[i]), 4 * kMiB);
  }
  // Bound 4 + 4 MiB: the least recently freed (blocks[0]) was released for the third.
  EXPECT_EQ(c.GetCounters().bytes_held, 8 * kMiB);
  ASSERT_EQ(os_.released.size(), 1u);
  EXPECT_EQ(os_.released[0], std::make_pair(blocks[0], 4 * kMiB));
  EXPECT_EQ(c.GetCounters().evictions, 1u);
  // Released memory is still the heap's: it serves again, its pages fresh, with no map.
  EXPECT_EQ(Take(c, 4 * kMiB, false, false), blocks[4]);
  EXPECT_EQ(Take(c, 4 * kMiB, false, false), blocks[2]);
  EXPECT_EQ(Take(c, 4 * kMiB, false, true), blocks[0]);
  EXPECT_EQ(os_.maps, 1);
  // With no headroom, only the capacity: the older of two freed blocks is released...
  os_.headroom = 0;
  EXPECT_TRUE(c.Put(P(blocks[4]), 4 * kMiB));
  os_.now += 1000;
  EXPECT_TRUE(c.Put(P(blocks[2]), 4 * kMiB));
  EXPECT_EQ(os_.released.back(), std::make_pair(blocks[4], 4 * kMiB));
  // ... and a block larger than the bound as it is freed.
  size_t big = 0;
  const uintptr_t b = Take(c, 6 * kMiB, false, true, &big);
  EXPECT_FALSE(c.Put(P(b), big));
  EXPECT_EQ(c.GetCounters().rejects, 1u);
  EXPECT_EQ(c.GetCounters().bytes_held, 4 * kMiB);
}

TEST_F(BigCacheTest, CapacityZeroTurnsReuseOffHeadroomOrNot) {
  BigCache c(kEnv, 0);
  os_.headroom = 64 * kMiB;
  size_t size = 0;
  const uintptr_t a = Take(c, 2 * kMiB, false, true, &size);
  EXPECT_FALSE(c.Put(P(a), size));
  ASSERT_EQ(os_.released.size(), 1u);
  EXPECT_EQ(c.GetCounters().bytes_held, 0u);
  // Every page of its region free and released: the region went back too.
  EXPECT_EQ(os_.unmaps, 1);
  EXPECT_EQ(c.GetCounters().regions, 0u);
}

TEST_F(BigCacheTest, DecayReleasesWhatWasFreedADecayPeriodAgoAndUnmapsEmptyRegions) {
  BigCache c(kEnv, 64 * kMiB);
  size_t size = 0;
  const uintptr_t a = Take(c, 6 * kMiB, false, true, &size);
  const uintptr_t b = Take(c, 6 * kMiB, false, true);
  os_.now = 10'000;
  ASSERT_TRUE(c.Put(P(a), size));
  os_.now = 20'000;
  EXPECT_EQ(c.Release(10'000 + 4'999, 5'000), 0u);  // not idle long enough
  EXPECT_EQ(c.Release(10'000 + 5'000, 5'000), 6 * kMiB);
  EXPECT_EQ(c.GetCounters().bytes_held, 0u);
  EXPECT_EQ(os_.unmaps, 0);  // b is still in use there
  ASSERT_TRUE(c.Put(P(b), size));
  EXPECT_EQ(c.Release(20'000 + 5'000, 5'000), 6 * kMiB);
  // Every page of the region free and released: the region goes back.
  EXPECT_EQ(os_.unmaps, 1);
  EXPECT_EQ(c.GetCounters().regions, 0u);
  EXPECT_EQ(c.GetCounters().region_bytes, 0u);
  Take(c, 6 * kMiB, false, true);
  EXPECT_EQ(os_.maps, 2);
}

TEST_F(BigCacheTest, AFreedBlocksRecordRetiresWhenItsMemoryStopsBeingIdle) {
  BigCache c(kEnv, 64 * kMiB);
  size_t s = 0;
  const uintptr_t a = Take(c, 4 * kMiB, false, true, &s);
  const uintptr_t b = Take(c, 4 * kMiB, false, true);
  const uintptr_t d = Take(c, 4 * kMiB, false, true);
  ASSERT_TRUE(c.Put(P(a), s));
  ASSERT_TRUE(c.Put(P(b), s));
  EXPECT_TRUE(os_.retired.empty());
  // Its head handed out: a's record retires; the 1 MiB tail has none.
  EXPECT_EQ(Take(c, 3 * kMiB, false, false), b);
  EXPECT_EQ(os_.retired, std::vector<uintptr_t>{b});
  // A release retires what is still open before its pages go; the tail retires nothing.
  EXPECT_EQ(c.Release(os_.now + 1, 1), 5 * kMiB);
  EXPECT_EQ(os_.retired, (std::vector<uintptr_t>{b, a}));
  // Growing into a resident free block's memory retires its record too.
  size_t resized = 0;
  bool fresh = false;
  ASSERT_TRUE(c.Resize(P(b), 3 * kMiB, 4 * kMiB, &resized, &fresh));  // the released tail
  EXPECT_TRUE(fresh);
  ASSERT_TRUE(c.Put(P(d), s));
  ASSERT_TRUE(c.Resize(P(b), 4 * kMiB, 8 * kMiB, &resized, &fresh));  // d's freed memory
  EXPECT_FALSE(fresh);
  EXPECT_EQ(os_.retired, (std::vector<uintptr_t>{b, a, d}));
}

TEST_F(BigCacheTest, ARequestNoFreedBlockFitsIsGatheredFromResidentPiecesLargestFirst) {
  BigCache c(kMoveEnv, 64 * kMiB);
  size_t s4 = 0, s6 = 0;
  const uintptr_t a = Take(c, 4 * kMiB, true, true, &s4);
  const uintptr_t b = Take(c, 4 * kMiB, true, true);  // stays live: a and d never touch
  const uintptr_t d = Take(c, 6 * kMiB, true, true, &s6);
  const uintptr_t rest = d + s6;  // the region's untouched rest
  ASSERT_TRUE(c.Put(P(a), s4));
  ASSERT_TRUE(c.Put(P(d), s6));
  // 8 MiB: neither freed block fits alone. d's 6 MiB and the head of a's 4 MiB move into
  // the released rest of the region: not fresh (calloc must clear it), no fault.
  EXPECT_EQ(Take(c, 8 * kMiB, true, false), rest);
  EXPECT_EQ(os_.moves, (std::vector<FakeOs::Move>{{d, rest, 6 * kMiB},
                                                  {a, rest + 6 * kMiB, 2 * kMiB}}));
  Counters k = c.GetCounters();
  EXPECT_EQ(k.gathers, 1u);
  EXPECT_EQ(k.moved_bytes, 8 * kMiB);
  EXPECT_EQ(k.hits, 1u);
  EXPECT_EQ(k.misses, 3u);
  EXPECT_EQ(k.bytes_held, 2 * kMiB);  // a's tail, still resident
  EXPECT_EQ(os_.retired, (std::vector<uintptr_t>{d, a}));  // both freed blocks' records closed
  EXPECT_TRUE(os_.released.empty());  // moved-from ranges are released by the move itself
  // a's tail serves a 2 MiB request where it is; the moved-from ranges are released
  // memory now (d's coalesced with nothing live between): a 6 MiB request faults there.
  EXPECT_EQ(Take(c, 2 * kMiB, true, false), a + 2 * kMiB);
  EXPECT_EQ(Take(c, 6 * kMiB, true, true), d);
  EXPECT_EQ(Take(c, 2 * kMiB, true, true), a);
  EXPECT_EQ(os_.maps, 1);
  EXPECT_TRUE(os_.renewed.empty());  // nothing moved in has gone back yet
  (void)b;
}

TEST_F(BigCacheTest, MovedInPagesAreRenewedNotJustReleasedWhenTheyGoBack) {
  // Moved pages keep a kernel mapping of their own: a range holding them is mapped afresh
  // when it goes back (released, or moved out again), so the mappings merge back.
  BigCache c(kMoveEnv, 64 * kMiB);
  size_t s = 0;
  const uintptr_t a = TakeApart(c, 4 * kMiB, &s);
  const uintptr_t d = TakeApart(c, 4 * kMiB);
  size_t s8 = 0;
  const uintptr_t t = GatherBoth(c, a, d, s, &s8);
  ASSERT_EQ(os_.moves.size(), 2u);
  EXPECT_TRUE(os_.renewed.empty());  // a and d were the region's own: nothing to renew
  // Freed and released: renewed, all 8 MiB, and not released (madvise) as well.
  ASSERT_TRUE(c.Put(P(t), s8));
  EXPECT_EQ(c.Release(os_.now + 1, 1), 8 * kMiB);
  EXPECT_EQ(os_.renewed, (std::vector<std::pair<uintptr_t, size_t>>{{t, 8 * kMiB}}));
  EXPECT_TRUE(os_.released.empty());
}

TEST_F(BigCacheTest, AMovedInPieceGatheredAgainIsRenewedAfterItsMove) {
  BigCache c(kMoveEnv, 64 * kMiB);
  size_t s = 0;
  const uintptr_t a = TakeApart(c, 4 * kMiB, &s);
  const uintptr_t d = TakeApart(c, 4 * kMiB);
  const uintptr_t g = TakeApart(c, 4 * kMiB);
  size_t s8 = 0;
  const uintptr_t t = GatherBoth(c, a, d, s, &s8);
  ASSERT_TRUE(c.Put(P(t), s8));
  ASSERT_TRUE(c.Put(P(g), s));
  // 12 MiB: t (holding moved-in pages) and g (the region's own) move in; t's range is
  // renewed after its move, g's needs nothing.
  Take(c, 12 * kMiB, true, false);
  EXPECT_EQ(os_.moves.size(), 4u);
  EXPECT_EQ(os_.renewed, (std::vector<std::pair<uintptr_t, size_t>>{{t, 8 * kMiB}}));
  EXPECT_TRUE(os_.released.empty());
}

TEST_F(BigCacheTest, PiecesHoldingLessThanHalfTheRequestAndPlainRegionsAreNotGathered) {
  BigCache c(kMoveEnv, 64 * kMiB);
  size_t s = 0;
  const uintptr_t a = Take(c, 3 * kMiB, true, true, &s);  // 4 MiB: whole huge pages
  Take(c, 1 * kMiB, true, true);
  ASSERT_TRUE(c.Put(P(a), s));
  EXPECT_NE(Take(c, 10 * kMiB, true, true), a);  // 4 of 10 MiB resident: faulted instead
  EXPECT_TRUE(os_.moves.empty());
  EXPECT_EQ(c.GetCounters().bytes_held, 4 * kMiB);
  // Plain regions never gather: their moves would go 4 KiB entry by 4 KiB entry.
  BigCache plain(kMoveEnv, 64 * kMiB);
  const uintptr_t x = Take(plain, 4 * kMiB, false, true, &s);
  Take(plain, 1 * kMiB, false, true);
  const uintptr_t y = Take(plain, 4 * kMiB, false, true);
  ASSERT_TRUE(plain.Put(P(x), s));
  ASSERT_TRUE(plain.Put(P(y), s));
  Take(plain, 8 * kMiB, false, true);
  EXPECT_TRUE(os_.moves.empty());
}

TEST_F(BigCacheTest, ARefusedMoveLosesNothingAndEndsGathering) {
  BigCache c(kMoveEnv, 64 * kMiB);
  os_.refuse_moves = true;
  size_t s = 0;
  const uintptr_t a = TakeApart(c, 4 * kMiB, &s);
  const uintptr_t d = Take(c, 4 * kMiB, true, true);
  ASSERT_TRUE(c.Put(P(a), s));
  ASSERT_TRUE(c.Put(P(d), s));
  // The first move is refused: the request is served from the released target, fresh
  // (renewed: the kernel may have cleared it), and both pieces stay resident where they
  // were.
  const uintptr_t t = Take(c, 8 * kMiB, true, true);
  EXPECT_EQ(os_.moves.size(), 1u);
  EXPECT_EQ(os_.renewed, (std::vector<std::pair<uintptr_t, size_t>>{{t, 8 * kMiB}}));
  Counters k = c.GetCounters();
  EXPECT_EQ(k.gathers, 0u);
  EXPECT_EQ(k.bytes_held, 8 * kMiB);
  // No second try: the next such request faults without asking.
  Take(c, 8 * kMiB, true, true);
  EXPECT_EQ(os_.moves.size(), 1u);
  // The pieces still serve requests that fit them.
  const uintptr_t r = Take(c, 4 * kMiB, true, false);
  EXPECT_TRUE(r == a || r == d) << r;
  EXPECT_EQ(c.GetCounters().bytes_held, 4 * kMiB);
  EXPECT_TRUE(t != a && t != d);
}

TEST_F(BigCacheTest, ARefusedPieceOfSeveralMovedInMappingsEndsOnlyGatheringSuchPieces) {
  // Kernels before 6.17 refuse to move a range over several mappings: a gathered block,
  // freed and offered as a piece, is one. Gathering goes on without such pieces.
  BigCache c(kMoveEnv, 256 * kMiB);
  size_t s = 0, s6 = 0;
  const uintptr_t a = TakeApart(c, 4 * kMiB, &s);
  const uintptr_t d = TakeApart(c, 4 * kMiB);
  const uintptr_t x = TakeApart(c, 6 * kMiB, &s6);
  const uintptr_t y = TakeApart(c, 6 * kMiB);
  size_t s8 = 0;
  const uintptr_t t = GatherBoth(c, a, d, s, &s8);
  ASSERT_TRUE(c.Put(P(t), s8));
  os_.refuse_from = {t};
  Take(c, 12 * kMiB, true, true);  // t the only piece, refused
  EXPECT_EQ(os_.moves.size(), 3u);
  // Pieces of the region's own mapping still gather; t is not offered again.
  ASSERT_TRUE(c.Put(P(x), s6));
  ASSERT_TRUE(c.Put(P(y), s6));
  Take(c, 12 * kMiB, true, false);
  ASSERT_EQ(os_.moves.size(), 5u);
  EXPECT_EQ(os_.moves[3].from + os_.moves[4].from, x + y);
  EXPECT_EQ(c.GetCounters().bytes_held, 8 * kMiB);  // t, still resident
}

TEST_F(BigCacheTest, GatheringStopsWhileTheBudgetOfMovedInPiecesIsHeld) {
  BigCache c(kMoveEnv, 64 * kMiB);
  // Each round frees two fresh 2 MiB blocks (resident extents never merge) and gathers
  // them into a 4 MiB block that stays in use: two moved-in pieces held per round.
  std::vector<std::pair<char*, size_t>> held;
  uint32_t rounds = 0;
  for (;; ++rounds) {
    ASSERT_LE(rounds, kMoveBudget) << "never stopped";
    size_t s = 0;
    const uintptr_t x = Take(c, (2 * kMiB), true, true, &s);
    const uintptr_t y = Take(c, (2 * kMiB), true, true);
    ASSERT_TRUE(c.Put(P(x), s));
    ASSERT_TRUE(c.Put(P(y), s));
    size_t got = 0;
    bool fresh = false;
    char* p = c.Take(2 * (2 * kMiB), true, &got, &fresh);
    ASSERT_NE(p, nullptr);
    held.emplace_back(p, got);
    if (fresh) break;
  }
  EXPECT_EQ(rounds, kMoveBudget / 2);
  EXPECT_EQ(os_.moves.size(), kMoveBudget);
  // Gathered blocks going back free the budget: gathering resumes.
  for (int i = 0; i < 8; ++i) {
    ASSERT_TRUE(c.Put(held[i].first, held[i].second));
    c.Release(os_.now + 1, 1);  // renewed: no longer held
  }
  size_t s = 0;
  const uintptr_t x = Take(c, (2 * kMiB), true, true, &s);
  const uintptr_t y = Take(c, (2 * kMiB), true, true);
  ASSERT_TRUE(c.Put(P(x), s));
  ASSERT_TRUE(c.Put(P(y), s));
  Take(c, 2 * (2 * kMiB), true, false);
  EXPECT_EQ(os_.moves.size(), kMoveBudget + 2);
}

TEST_F(BigCacheTest, ResizeGrowsIntoTheFreeExtentAfterAndShrinksInPlace) {
  BigCache c(kEnv, 64 * kMiB);
  size_t s = 0;
  const uintptr_t a = Take(c, 2 * kMiB, false, true, &s);
  size_t resized = 0;
  bool fresh = false;
  // The rest of the region (never touched) follows a: growth takes from it, fresh.
  ASSERT_TRUE(c.Resize(P(a), s, 5 * kMiB, &resized, &fresh));
  EXPECT_EQ(resized, 5 * kMiB);
  EXPECT_TRUE(fresh);
  const uintptr_t b = Take(c, 1 * kMiB, false, true);
  EXPECT_EQ(b, a + 5 * kMiB);
  // b now follows a: no room to grow.
  EXPECT_FALSE(c.Resize(P(a), 5 * kMiB, 6 * kMiB, &resized, &fresh));
  // Shrinking frees the tail, resident; it serves the next request.
  ASSERT_TRUE(c.Resize(P(a), 5 * kMiB, 1 * kMiB, &resized, &fresh));
  EXPECT_EQ(resized, 1 * kMiB);
  EXPECT_EQ(c.GetCounters().bytes_held, 4 * kMiB);
  EXPECT_EQ(Take(c, 3 * kMiB, false, false), a + 1 * kMiB);
  // Growing into a resident free extent gains no fresh pages.
  ASSERT_TRUE(c.Resize(P(a + 1 * kMiB), 3 * kMiB, 4 * kMiB, &resized, &fresh));
  EXPECT_FALSE(fresh);
}

TEST_F(BigCacheTest, BadPutsAndResizesAreIgnored) {
  BigCache c(kEnv, 64 * kMiB);
  size_t s = 0;
  const uintptr_t a = Take(c, 2 * kMiB, false, true, &s);
  size_t resized = 0;
  bool fresh = false;
  EXPECT_FALSE(c.Put(P(a + 4096), s));      // not a start
  EXPECT_FALSE(c.Put(P(a), s + 4096));      // not its size
  EXPECT_FALSE(c.Put(P(uintptr_t{1} << 20), s));  // not the heap's
  EXPECT_FALSE(c.Resize(P(a + 4096), s, 4096, &resized, &fresh));
  EXPECT_EQ(c.GetCounters().puts, 0u);
  EXPECT_TRUE(c.Put(P(a), s));
  EXPECT_FALSE(c.Put(P(a), s));  // a second free of the same block
  EXPECT_EQ(c.GetCounters().puts, 1u);
}

TEST_F(BigCacheTest, WhenTheOsRefusesARegionTheRequestAloneIsMappedOrItFails) {
  BigCache c(kEnv, 64 * kMiB);
  os_.refuse_maps_over = 16 * kMiB;  // as under RLIMIT_AS: no 1 GiB region
  size_t size = 0;
  const uintptr_t a = Take(c, 10 * kMiB, false, true, &size);
  EXPECT_EQ(size, 10 * kMiB);
  EXPECT_EQ(c.GetCounters().region_bytes, 10 * kMiB);
  os_.refuse_maps_over = 0;
  bool fresh = false;
  EXPECT_EQ(c.Take(kMiB, false, &size, &fresh), nullptr);
  EXPECT_EQ(c.Take(kMaxRequest + 1, false, &size, &fresh), nullptr);
  EXPECT_TRUE(c.Put(P(a), 10 * kMiB));
}

TEST_F(BigCacheTest, ARegionMappedForARequestThatAnotherServedGoesBack) {
  // Two threads miss at once and each maps a region outside the lock. The first back
  // takes from its own region; the second then best-fits into what is left of the first
  // one's, and its own region is never touched. Kept, that region would sit mapped and
  // whole for good (nothing is ever freed into it, so nothing releases it): it goes back
  // at once.
  BigCache c(kEnv, 64 * kMiB);
  uintptr_t other = 0;
  os_.during_next_map = [&] { other = Take(c, 4 * kMiB, false, true); };
  const uintptr_t mine = Take(c, 4 * kMiB, false, true);
  EXPECT_EQ(mine, other + 4 * kMiB);  // the rest of the other thread's region
  EXPECT_EQ(os_.maps, 2);
  EXPECT_EQ(os_.unmaps, 1);
  EXPECT_EQ(c.GetCounters().regions, 1u);
  EXPECT_EQ(c.GetCounters().region_bytes, kRegionBytes);
  c.Put(P(mine), 4 * kMiB);
  c.Put(P(other), 4 * kMiB);
  c.Release(os_.now + 1, 1);
  EXPECT_EQ(c.GetCounters().regions, 0u);
  EXPECT_EQ(os_.unmaps, 2);
}

// Four threads take and free blocks of random sizes (and release now and then); no two
// live blocks may overlap, and a gathered piece's pages are never moved out from under a
// live block.
void ConcurrentTakesAndPuts(FakeOs& os, const Env& env) {
  BigCache c(env, 32 * kMiB);
  std::mutex mu;
  std::map<uintptr_t, size_t> live;  // start -> size, every extent in use
  std::atomic<bool> overlap{false};
  std::atomic<bool> moved_live{false};
  os.on_move = [&](const FakeOs::Move& m) {
    std::lock_guard<std::mutex> l(mu);
    auto next = live.lower_bound(m.from);
    if (next != live.end() && next->first < m.from + m.size) moved_live = true;
    if (next != live.begin() && std::prev(next)->first + std::prev(next)->second > m.from) {
      moved_live = true;
    }
  };
  auto worker = [&](int seed) {
    std::mt19937 rng(seed);
    std::vector<std::pair<uintptr_t, size_t>> mine;
    for (int i = 0; i < 4000; ++i) {
      if (mine.size() < 8 && (mine.empty() || rng() % 2 == 0)) {
        const size_t bytes = (1 + rng() % 1024) * 4096 + rng() % 4096;
        const bool huge = rng() % 4 == 0;
        size_t size = 0;
        bool fresh = false;
        char* p = c.Take(bytes, huge, &size, &fresh);
        if (p == nullptr) continue;
        const uintptr_t s = reinterpret_cast<uintptr_t>(p);
        std::lock_guard<std::mutex> l(mu);
        auto next = live.lower_bound(s);
        if (next != live.end() && next->first < s + size) overlap = true;
        if (next != live.begin() && std::prev(next)->first + std::prev(next)->second > s) {
          overlap = true;
        }
        live[s] = size;
        mine.emplace_back(s, size);
      } else {
        const size_t k = rng() % mine.size();
        const auto [s, size] = mine[k];
        mine.erase(mine.begin() + k);
        {
          std::lock_guard<std::mutex> l(mu);
          live.erase(s);
        }
        c.Put(reinterpret_cast<char*>(s), size);
      }
      if (i % 500 == 0) c.Release(os.now, 1);
    }
    for (const auto& [s, size] : mine) {
      {
        std::lock_guard<std::mutex> l(mu);
        live.erase(s);
      }
      c.Put(reinterpret_cast<char*>(s), size);
    }
  };
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) threads.emplace_back(worker, t + 1);
  for (std::thread& t : threads) t.join();
  EXPECT_FALSE(overlap);
  EXPECT_FALSE(moved_live);
  const Counters k = c.GetCounters();
  EXPECT_LE(k.bytes_held, 32 * kMiB);
  EXPECT_EQ(k.puts, k.hits + k.misses);  // every block taken came back
  // All free: releasing everything returns every region.
  c.Release(os.now + 1, 1);
  EXPECT_EQ(c.GetCounters().regions, 0u);
  EXPECT_EQ(os.unmaps, os.maps);
}

TEST_F(BigCacheTest, ConcurrentTakesAndPutsNeverHandOutOverlappingMemory) {
  ConcurrentTakesAndPuts(os_, kEnv);
}

TEST_F(BigCacheTest, ConcurrentTakesPutsAndGathersNeverHandOutOrMoveLiveMemory) {
  ConcurrentTakesAndPuts(os_, kMoveEnv);
  EXPECT_GT(os_.moves.size(), 0u);
}

}  // namespace
}  // namespace bigcache
}  // namespace hakmem
