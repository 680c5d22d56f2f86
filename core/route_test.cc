// The route through the public API: per-site decisions (hak_route_set on named sites),
// band defaults, eligibility, realloc across bands, and HAKMEM_STRATEGY forcing (the
// *_forced_* targets run this file with it set, and check what it must change).
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <gtest/gtest.h>

#include "core/hakmem.h"
#include "core/bigcache_hooks.h"
#include "core/large.h"
#include "core/options.h"
#include "core/page_map.h"
#include "core/strategy.h"

namespace hakmem {
namespace {

struct hak_stats Stats() {
  struct hak_stats s {};
  hak_stats(&s, sizeof(s));
  return s;
}

// Which strategy served p: the pool (a span), or the one in its header.
Strategy ServedBy(void* p) {
  if (PageClassOf(p) != 0) return Strategy::kPool;
  return LargeHeaderOf(p)->strategy;
}

Strategy ForcedByEnv() {
  const char* f = getenv("HAKMEM_STRATEGY");
  if (f == nullptr || *f == 0) return Strategy::kNone;
  if (strcmp(f, "pool") == 0) return Strategy::kPool;
  if (strcmp(f, "bigcache") == 0) return Strategy::kBigCache;
  if (strcmp(f, "mmap") == 0) return Strategy::kMmap;
  ADD_FAILURE() << "HAKMEM_STRATEGY=" << f;
  return Strategy::kNone;
}

// What must serve a request, stated here rather than computed with the product's own
// rules: by the forced strategy (HAKMEM_STRATEGY), the site's decision, and the size
// (middle band [64 KiB, 256 KiB), large [256 KiB, 4 MiB), huge [4 MiB, ...), and huge
// past BigCache's largest mapping, 64 MiB). The pool serves the middle band only; where
// the wanted strategy cannot serve, BigCache does; past its largest mapping, mmap.
constexpr Strategy N = Strategy::kNone, P = Strategy::kPool, B = Strategy::kBigCache,
                   M = Strategy::kMmap;
constexpr Strategy kExpected[4][4][4] = {
    // not forced: the site's decision, else the band's default (pool, then BigCache)
    {/* no decision */ {P, B, B, M}, /* pool */ {P, B, B, M}, /* bigcache */ {B, B, B, M},
     /* mmap */ {M, M, M, M}},
    // forced pool, whatever the decision
    {{P, B, B, M}, {P, B, B, M}, {P, B, B, M}, {P, B, B, M}},
    // forced BigCache
    {{B, B, B, M}, {B, B, B, M}, {B, B, B, M}, {B, B, B, M}},
    // forced mmap
    {{M, M, M, M}, {M, M, M, M}, {M, M, M, M}, {M, M, M, M}},
};
static_assert(static_cast<int>(N) == 0 && static_cast<int>(P) == 1 &&
                  static_cast<int>(B) == 2 && static_cast<int>(M) == 3,
              "the table is indexed by Strategy");

Strategy Expected(size_t size, Strategy decided) {
  // A mapping holds the block, a 64-byte header, rounded up to pages: up to 64 MiB less
  // a page of room still fits BigCache's largest bin.
  const int column = size < (256 << 10)             ? 0
                     : size < (4 << 20)             ? 1
                     : size <= (64 << 20) - 4096    ? 2
                                                    : 3;
  return kExpected[static_cast<int>(ForcedByEnv())][static_cast<int>(decided)][column];
}

TEST(Route, BelowTheThresholdThePoolServesWhateverWasDecided) {
  const hak_site_t site = hak_site_register("route.small");
  EXPECT_EQ(hak_route_set(site, 64 * 1024, HAK_STRATEGY_MMAP), 0);
  void* p = hak_malloc_at(60 * 1024, site);
  EXPECT_EQ(ServedBy(p), Strategy::kPool);
  free(p);
}

TEST(Route, BandDefaultsForAnUnknownSite) {
  const hak_site_t site = hak_site_register("route.unknown");
  for (size_t size : {size_t{100} << 10, size_t{1} << 20, size_t{8} << 20}) {
    void* p = hak_malloc_at(size, site);
    ASSERT_NE(p, nullptr);
    EXPECT_EQ(ServedBy(p), Expected(size, Strategy::kNone)) << size;
    memset(p, 1, size);
    free(p);
  }
}

TEST(Route, PerSiteDecisionsApplyPerBand) {
  const hak_site_t a = hak_site_register("route.a");
  const hak_site_t b = hak_site_register("route.b");
  ASSERT_EQ(hak_route_set(a, 100 << 10, HAK_STRATEGY_MMAP), 0);
  ASSERT_EQ(hak_route_set(b, 100 << 10, HAK_STRATEGY_BIGCACHE), 0);
  ASSERT_EQ(hak_route_set(a, 1 << 20, HAK_STRATEGY_BIGCACHE), 0);
  const struct hak_stats before = Stats();
  void* pa = hak_malloc_at(100 << 10, a);
  void* pb = hak_malloc_at(100 << 10, b);
  void* pa_large = hak_malloc_at(1 << 20, a);
  EXPECT_EQ(ServedBy(pa), Expected(100 << 10, Strategy::kMmap));
  EXPECT_EQ(ServedBy(pb), Expected(100 << 10, Strategy::kBigCache));
  EXPECT_EQ(ServedBy(pa_large), Expected(1 << 20, Strategy::kBigCache));
  free(pa);
  free(pb);
  free(pa_large);
  const struct hak_stats after = Stats();
  if (ForcedByEnv() == Strategy::kNone) {
    EXPECT_EQ(after.mapped_by_mmap - before.mapped_by_mmap, 1u);
    EXPECT_EQ(after.mapped_by_bigcache - before.mapped_by_bigcache, 2u);
  }
}

// BigCache serves blocks up to kBigCacheLargestBlock (1 GiB, its region). A bigger block
// it was asked for (decided, forced, or pool's fallback) is mapped directly, and that is a
// fallback: it used to be mapped uncounted, its learner record opened as BigCache and
// closed as mmap. (Untouched: address space only.)
TEST(Route, BlocksPastBigCachesLargestAreMappedAndCountAsFallbacks) {
  const hak_site_t site = hak_site_register("route.huge");
  const size_t past = hakmem::kBigCacheLargestBlock + (size_t{1} << 20);
  ASSERT_EQ(hak_route_set(site, past, HAK_STRATEGY_BIGCACHE), 0);
  const struct hak_stats before = Stats();
  void* p = hak_malloc_at(past, site);
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(ServedBy(p), Strategy::kMmap);
  EXPECT_EQ(Expected(past, Strategy::kBigCache), Strategy::kMmap);
  free(p);
  const struct hak_stats after = Stats();
  EXPECT_EQ(after.mapped_by_mmap - before.mapped_by_mmap, 1u);
  EXPECT_EQ(after.mapped_by_bigcache, before.mapped_by_bigcache);
  // Forced mmap asked for what served it; everything else asked for BigCache.
  EXPECT_EQ(after.strategy_fallbacks - before.strategy_fallbacks,
            ForcedByEnv() == Strategy::kMmap ? 0u : 1u);
  // A little less still fits BigCache.
  if (ForcedByEnv() != Strategy::kMmap) {
    void* q = hak_malloc_at(hakmem::kBigCacheLargestBlock - (size_t{4} << 20), site);
    EXPECT_EQ(ServedBy(q), Strategy::kBigCache);
    free(q);
  }
}

TEST(Route, IneligibleDecisionsAreRefused) {
  const hak_site_t site = hak_site_register("route.bad");
  errno = 0;
  EXPECT_EQ(hak_route_set(site, 1 << 20, HAK_STRATEGY_POOL), -1);  // pool stops at 256 KiB
  EXPECT_EQ(errno, EINVAL);
  EXPECT_EQ(hak_route_set(site, 1000, HAK_STRATEGY_MMAP), -1);  // below the threshold
  EXPECT_EQ(hak_route_set(site, 1 << 20, 9), -1);
  EXPECT_EQ(hak_route_set(site, 100 << 10, HAK_STRATEGY_POOL), 0);
}

TEST(Route, BigCacheReusesAFreedBlockOfTheSameSize) {
  const hak_site_t site = hak_site_register("route.reuse");
  if (Expected(2 << 20, Strategy::kNone) != Strategy::kBigCache) GTEST_SKIP() << "forced";
  // In learn mode the learner tries the other strategies at this site now and then (a
  // trial maps directly), so what is expected follows what served each block: every
  // BigCache request after a BigCache block went back is a hit, with no syscall.
  void* first = hak_malloc_at(2 << 20, site);
  bool cached = ServedBy(first) == Strategy::kBigCache;
  free(first);
  const struct hak_stats before = Stats();
  uint64_t hits = 0, mapped = 0;
  for (int i = 0; i < 10; ++i) {
    char* p = static_cast<char*>(hak_malloc_at(2 << 20, site));
    p[0] = 1;
    if (ServedBy(p) == Strategy::kBigCache) {
      if (cached) ++hits; else ++mapped;
      cached = true;
    } else {
      ++mapped;
    }
    free(p);
  }
  const struct hak_stats after = Stats();
  if (ModeOption() != LearnMode::kLearn) {
    EXPECT_EQ(hits, 10u);
  }
  EXPECT_EQ(after.bigcache_hits - before.bigcache_hits, hits);
  EXPECT_LE(after.mmap_calls - before.mmap_calls, mapped);  // a hit makes no syscall
  EXPECT_GE(after.bigcache_faults_saved - before.bigcache_faults_saved, hits * 512);
}

TEST(Route, MmapBlocksGoBackToTheOsAtOnce) {
  const hak_site_t site = hak_site_register("route.mmap");
  ASSERT_EQ(hak_route_set(site, 2 << 20, HAK_STRATEGY_MMAP), 0);
  if (Expected(2 << 20, Strategy::kMmap) != Strategy::kMmap) GTEST_SKIP() << "forced";
  void* p = hak_malloc_at(2 << 20, site);  // (mapping it may trim: os::MapHuge)
  const struct hak_stats before = Stats();
  free(p);
  const struct hak_stats after = Stats();
  EXPECT_EQ(after.munmap_calls - before.munmap_calls, 1u);
  EXPECT_EQ(after.bigcache_bytes, before.bigcache_bytes);
}

TEST(Route, ReallocKeepsTheStrategyInItsBandAndDecidesAgainAcrossBands) {
  const hak_site_t site = hak_site_register("route.realloc");
  ASSERT_EQ(hak_route_set(site, 300 << 10, HAK_STRATEGY_MMAP), 0);
  char* p = static_cast<char*>(hak_malloc_at(300 << 10, site));
  const Strategy first = ServedBy(p);
  EXPECT_EQ(first, Expected(300 << 10, Strategy::kMmap));
  memset(p, 7, 300 << 10);
  // Same band (256 KiB .. 4 MiB): same strategy, contents kept.
  p = static_cast<char*>(realloc(p, 3 << 20));
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(ServedBy(p), first);
  for (size_t i = 0; i < (300 << 10); i += 4099) ASSERT_EQ(p[i], 7);
  // Down to the middle band: realloc's own site decides (none: the band default).
  p = static_cast<char*>(realloc(p, 100 << 10));
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(ServedBy(p), Expected(100 << 10, Strategy::kNone));
  for (size_t i = 0; i < (100 << 10); i += 4099) ASSERT_EQ(p[i], 7);
  free(p);
}

TEST(Route, ForcedStrategyCountsFallbacksWhereItCannotServe) {
  const Strategy forced = ForcedByEnv();
  if (forced == Strategy::kNone) GTEST_SKIP() << "HAKMEM_STRATEGY not set";
  const struct hak_stats before = Stats();
  // volatile: under -O2 the compiler drops a malloc whose block is only freed.
  void* volatile p = malloc(1 << 20);  // pool cannot serve 1 MiB
  free(p);
  const struct hak_stats after = Stats();
  EXPECT_EQ(after.strategy_fallbacks - before.strategy_fallbacks, forced == Strategy::kPool ? 1u : 0u);
}

}  // namespace
}  // namespace hakmem
