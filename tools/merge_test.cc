#include "tools/merge.h"

#include <string.h>

#include <memory>
#include <vector>

#include "gtest/gtest.h"
#include "learner/elo.h"

namespace hakmem {
namespace tools {
namespace {

using learner::kIdxBigCache;
using learner::kIdxMmap;
using learner::kIdxPool;
using learner::TableEntry;

TableEntry ModuleEntry(const char* build_id, const char* path, uint64_t offset, int band) {
  TableEntry e;
  memset(&e, 0, sizeof(e));
  strcpy(e.build_id_hex, build_id);
  strcpy(e.module_path, path);
  e.offset = offset;
  e.band = band;
  e.strategy = -1;
  return e;
}

void Measure(TableEntry* e, int k, double rating, uint64_t samples, double cost) {
  e->eligible[k] = true;
  e->rating[k] = rating;
  e->samples[k] = samples;
  e->mean_cost_ns[k] = cost;
}

std::unique_ptr<Table> State(std::vector<TableEntry> entries,
                             std::vector<std::pair<uint64_t, uint64_t>> runs = {}) {
  auto t = std::make_unique<Table>();
  memset(&t->meta, 0, sizeof(t->meta));
  t->meta.params = learner::DefaultParams();
  for (const auto& [pid, start] : runs) {
    learner::RunInfo& r = t->meta.runs[t->meta.num_runs++];
    r.pid = pid;
    r.start_unix_ms = start;
    strcpy(r.program, "/usr/bin/prog");
  }
  t->entries = std::move(entries);
  return t;
}

learner::LearnParams Params(uint64_t min_samples, double margin) {
  learner::LearnParams p = learner::DefaultParams();
  p.min_samples = min_samples;
  p.commit_margin = margin;
  return p;
}

TEST(MergeTables, SameKeyIsMergedWeightedBySamples) {
  TableEntry a = ModuleEntry("aa11", "/usr/lib/liba.so", 0x10, 0);
  Measure(&a, kIdxPool, 1600, 10, 100);
  Measure(&a, kIdxMmap, 1400, 10, 900);
  // The same build at another path: the same module.
  TableEntry b = ModuleEntry("aa11", "/opt/lib/liba.so", 0x10, 0);
  Measure(&b, kIdxPool, 1640, 30, 80);
  Measure(&b, kIdxMmap, 1380, 30, 1000);
  Measure(&b, kIdxBigCache, 1450, 0, 300);
  const auto sa = State({a}), sb = State({b});
  const auto m = MergeTables({sa.get(), sb.get()}, Params(16, 50), 1234);
  ASSERT_EQ(m->entries.size(), 1u);
  const TableEntry& e = m->entries[0];
  EXPECT_STREQ(e.module_path, "/usr/lib/liba.so");  // the first input's
  EXPECT_EQ(e.samples[kIdxPool], 40u);
  EXPECT_DOUBLE_EQ(e.rating[kIdxPool], (1600.0 * 10 + 1640.0 * 30) / 40);
  EXPECT_DOUBLE_EQ(e.mean_cost_ns[kIdxPool], (100.0 * 10 + 80.0 * 30) / 40);
  EXPECT_DOUBLE_EQ(e.rating[kIdxMmap], (1400.0 * 10 + 1380.0 * 30) / 40);
  EXPECT_TRUE(e.eligible[kIdxBigCache]);  // measured in one input, with no samples
  EXPECT_EQ(e.samples[kIdxBigCache], 0u);
  EXPECT_DOUBLE_EQ(e.rating[kIdxBigCache], 1450);
  // bigcache has no samples, so nothing can commit at min_samples 16.
  EXPECT_EQ(e.strategy, -1);
  EXPECT_EQ(m->meta.created_unix_ms, 1234u);
  EXPECT_STRNE(m->meta.hakmem_version, "");
}

TEST(MergeTables, DecisionIsReappliedWithTheGivenParams) {
  TableEntry a = ModuleEntry("", "/opt/app/bin", 0x99, 1);
  Measure(&a, kIdxBigCache, 1560, 20, 10);
  Measure(&a, kIdxMmap, 1440, 20, 30);
  a.strategy = kIdxMmap;  // a stale choice: re-decided, not kept
  const auto s = State({a});
  EXPECT_EQ(MergeTables({s.get()}, Params(16, 50), 0)->entries[0].strategy, kIdxBigCache);
  EXPECT_EQ(MergeTables({s.get()}, Params(16, 200), 0)->entries[0].strategy, -1);
  EXPECT_EQ(MergeTables({s.get()}, Params(21, 50), 0)->entries[0].strategy, -1);
  EXPECT_EQ(MergeTables({s.get()}, Params(16, 50), 0)->meta.params.min_samples, 16u);
}

TEST(MergeTables, DifferentKeysStayApartInFirstAppearanceOrder) {
  TableEntry x = ModuleEntry("", "/opt/app/bin", 0x99, 1);
  TableEntry y = x;
  y.band = 2;  // another band
  TableEntry z = x;
  z.offset = 0x98;
  TableEntry w = ModuleEntry("bb", "/opt/app/bin", 0x99, 1);  // has a build-id: another key
  TableEntry n;
  memset(&n, 0, sizeof(n));
  strcpy(n.site_name, "decoder");
  n.band = 1;
  n.strategy = -1;
  const auto s1 = State({x, y}), s2 = State({z, w, n, x});
  const auto m = MergeTables({s1.get(), s2.get()}, Params(16, 50), 0);
  ASSERT_EQ(m->entries.size(), 5u);
  EXPECT_EQ(m->entries[0].band, 1);
  EXPECT_EQ(m->entries[1].band, 2);
  EXPECT_EQ(m->entries[2].offset, 0x98u);
  EXPECT_STREQ(m->entries[3].build_id_hex, "bb");
  EXPECT_STREQ(m->entries[4].site_name, "decoder");
}

TEST(MergeTables, RunsAreDedupedSortedAndTheNewestKept) {
  std::vector<std::pair<uint64_t, uint64_t>> many;
  for (uint64_t i = 0; i < 12; ++i) many.push_back({100 + i, 1000 + i});
  std::vector<std::pair<uint64_t, uint64_t>> more = {{1, 5}, {105, 1005}};  // one repeated
  for (uint64_t i = 0; i < 8; ++i) more.push_back({200 + i, 2000 + i});
  const auto s1 = State({}, many), s2 = State({}, more);
  const auto m = MergeTables({s2.get(), s1.get()}, Params(16, 50), 0);
  // 12 + 10 - 1 duplicate = 21 runs; the newest 16 kept, oldest first.
  ASSERT_EQ(m->meta.num_runs, learner::kMaxRuns);
  EXPECT_EQ(m->meta.runs[0].start_unix_ms, 1004u);  // dropped: 5, 1000..1003
  EXPECT_EQ(m->meta.runs[15].start_unix_ms, 2007u);
  for (uint32_t i = 1; i < m->meta.num_runs; ++i) {
    EXPECT_LT(m->meta.runs[i - 1].start_unix_ms, m->meta.runs[i].start_unix_ms);
  }
}

TEST(RatingsComparable, OnlyTheParamsThatShapeRatings) {
  learner::LearnParams a = learner::DefaultParams(), b = a;
  b.min_samples += 1;
  b.commit_margin += 1;
  b.fault_ns = 1234;
  EXPECT_TRUE(RatingsComparable(a, b));
  b.elo_k_factor += 1;
  EXPECT_FALSE(RatingsComparable(a, b));
}

}  // namespace
}  // namespace tools
}  // namespace hakmem
