#include "tools/merge.h"

#include <string.h>

#include <memory>
#include <vector>

#include "gtest/gtest.h"
#include "learner/elo.h"
#include "learner/table_codec.h"

namespace hakmem {
namespace tools {
namespace {

using learner::kIdxBigCache;
using learner::kIdxMmap;
using learner::kIdxPool;
using learner::TableEntry;
using learner::TableModule;

// A module of a test table: build-id (may be "") and path.
struct Mod {
  const char* build_id;
  const char* path;
};

// An entry whose context is `frames` (module index into its table's modules, offset),
// innermost first.
TableEntry ContextEntry(std::vector<std::pair<uint32_t, uint64_t>> frames, int band) {
  TableEntry e;
  memset(&e, 0, sizeof(e));
  for (const auto& [module, offset] : frames) e.frames[e.num_frames++] = {module, offset};
  e.band = band;
  e.strategy = -1;
  return e;
}

// A one-frame context in module 0.
TableEntry ModuleEntry(uint64_t offset, int band) { return ContextEntry({{0, offset}}, band); }

void Measure(TableEntry* e, int k, double rating, uint64_t samples, double cost) {
  e->eligible[k] = true;
  e->rating[k] = rating;
  e->samples[k] = samples;
  e->mean_cost_ns[k] = cost;
}

std::unique_ptr<Table> State(std::vector<Mod> modules, std::vector<TableEntry> entries,
                             std::vector<std::pair<uint64_t, uint64_t>> runs = {}) {
  auto t = std::make_unique<Table>();
  memset(&t->meta, 0, sizeof(t->meta));
  t->meta.params = learner::DefaultParams();
  for (const Mod& m : modules) {
    TableModule& tm = t->meta.modules[t->meta.num_modules++];
    strcpy(tm.build_id_hex, m.build_id);
    strcpy(tm.path, m.path);
  }
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
  TableEntry a = ModuleEntry(0x10, 0);
  Measure(&a, kIdxPool, 1600, 10, 100);
  Measure(&a, kIdxMmap, 1400, 10, 900);
  // The same build at another path: the same module.
  TableEntry b = ModuleEntry(0x10, 0);
  Measure(&b, kIdxPool, 1640, 30, 80);
  Measure(&b, kIdxMmap, 1380, 30, 1000);
  Measure(&b, kIdxBigCache, 1450, 0, 300);
  const auto sa = State({{"aa11", "/usr/lib/liba.so"}}, {a});
  const auto sb = State({{"aa11", "/opt/lib/liba.so"}}, {b});
  const auto m = MergeTables({sa.get(), sb.get()}, Params(16, 50), 1234);
  ASSERT_EQ(m->entries.size(), 1u);
  const TableEntry& e = m->entries[0];
  ASSERT_EQ(m->meta.num_modules, 1u);
  EXPECT_STREQ(m->meta.modules[0].path, "/usr/lib/liba.so");  // the first input's
  EXPECT_STREQ(m->meta.modules[0].build_id_hex, "aa11");
  ASSERT_EQ(e.num_frames, 1u);
  EXPECT_EQ(e.frames[0].module, 0u);
  EXPECT_EQ(e.frames[0].offset, 0x10u);
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
  TableEntry a = ModuleEntry(0x99, 1);
  Measure(&a, kIdxBigCache, 1560, 20, 10);
  Measure(&a, kIdxMmap, 1440, 20, 30);
  a.strategy = kIdxMmap;  // a stale choice: re-decided, not kept
  const auto s = State({{"", "/opt/app/bin"}}, {a});
  EXPECT_EQ(MergeTables({s.get()}, Params(16, 50), 0)->entries[0].strategy, kIdxBigCache);
  EXPECT_EQ(MergeTables({s.get()}, Params(16, 200), 0)->entries[0].strategy, -1);
  EXPECT_EQ(MergeTables({s.get()}, Params(21, 50), 0)->entries[0].strategy, -1);
  EXPECT_EQ(MergeTables({s.get()}, Params(16, 50), 0)->meta.params.min_samples, 16u);
}

TEST(MergeTables, DifferentKeysStayApartInFirstAppearanceOrder) {
  TableEntry x = ModuleEntry(0x99, 1);
  TableEntry y = x;
  y.band = 2;  // another band
  TableEntry z = x;
  z.frames[0].offset = 0x98;
  TableEntry w = ModuleEntry(0x99, 1);
  w.frames[0].module = 1;  // a module with a build-id: another key than its path alone
  TableEntry n;
  memset(&n, 0, sizeof(n));
  strcpy(n.site_name, "decoder");
  n.band = 1;
  n.strategy = -1;
  const auto s1 = State({{"", "/opt/app/bin"}}, {x, y});
  const auto s2 = State({{"", "/opt/app/bin"}, {"bb", "/opt/app/bin"}}, {z, w, n, x});
  const auto m = MergeTables({s1.get(), s2.get()}, Params(16, 50), 0);
  ASSERT_EQ(m->entries.size(), 5u);
  EXPECT_EQ(m->entries[0].band, 1);
  EXPECT_EQ(m->entries[1].band, 2);
  EXPECT_EQ(m->entries[2].frames[0].offset, 0x98u);
  ASSERT_EQ(m->meta.num_modules, 2u);
  EXPECT_EQ(m->entries[3].frames[0].module, 1u);
  EXPECT_STREQ(m->meta.modules[1].build_id_hex, "bb");
  EXPECT_STREQ(m->entries[4].site_name, "decoder");
  EXPECT_EQ(m->entries[4].num_frames, 0u);
}

// Tables number their modules each their own way: a context is the same site when its
// frames name the same module identities (build-id, else path) at the same offsets.
TEST(MergeTables, SameContextUnderDifferentModuleIdsIsOneEntry) {
  // state 1: modules liba (0), app (1); state 2: app (0), other (1), liba elsewhere (2).
  TableEntry a = ContextEntry({{0, 0x10}, {1, 0x500}, {1, 0x900}}, 0);
  Measure(&a, kIdxPool, 1600, 10, 100);
  TableEntry b = ContextEntry({{2, 0x10}, {0, 0x500}, {0, 0x900}}, 0);
  Measure(&b, kIdxPool, 1700, 30, 60);
  const auto s1 = State({{"aa11", "/usr/lib/liba.so"}, {"", "/usr/bin/app"}}, {a});
  const auto s2 = State({{"", "/usr/bin/app"}, {"", "/usr/bin/other"}, {"aa11", "/opt/liba.so"}},
                        {b});
  const auto m = MergeTables({s1.get(), s2.get()}, Params(16, 50), 0);
  ASSERT_EQ(m->entries.size(), 1u);
  const TableEntry& e = m->entries[0];
  EXPECT_EQ(e.samples[kIdxPool], 40u);
  EXPECT_DOUBLE_EQ(e.rating[kIdxPool], (1600.0 * 10 + 1700.0 * 30) / 40);
  // Frames renumbered into the output's modules: only those that frames name.
  ASSERT_EQ(m->meta.num_modules, 2u);
  EXPECT_STREQ(m->meta.modules[0].build_id_hex, "aa11");
  EXPECT_STREQ(m->meta.modules[1].path, "/usr/bin/app");
  ASSERT_EQ(e.num_frames, 3u);
  EXPECT_EQ(e.frames[0].module, 0u);
  EXPECT_EQ(e.frames[1].module, 1u);
  EXPECT_EQ(e.frames[2].module, 1u);
  EXPECT_EQ(e.frames[2].offset, 0x900u);
}

TEST(MergeTables, ContextsDifferingInOneOuterFrameStayApart) {
  const std::vector<Mod> mods = {{"aa11", "/usr/lib/liba.so"}, {"", "/usr/bin/app"}};
  TableEntry a = ContextEntry({{0, 0x10}, {1, 0x500}}, 0);
  TableEntry b = ContextEntry({{0, 0x10}, {1, 0x504}}, 0);  // another caller's offset
  TableEntry c = ContextEntry({{0, 0x10}, {1, 0x500}, {1, 0x40}}, 0);  // one frame deeper
  TableEntry d = ContextEntry({{0, 0x10}}, 0);                         // frame 0 alone
  // The same offsets in a module of another identity.
  const auto s1 = State(mods, {a, b, c, d});
  const auto s2 = State({{"aa11", "/usr/lib/liba.so"}, {"", "/usr/bin/app2"}}, {a});
  const auto m = MergeTables({s1.get(), s2.get()}, Params(16, 50), 0);
  ASSERT_EQ(m->entries.size(), 5u);
  EXPECT_EQ(m->entries[1].frames[1].offset, 0x504u);
  EXPECT_EQ(m->entries[2].num_frames, 3u);
  EXPECT_EQ(m->entries[3].num_frames, 1u);
  ASSERT_EQ(m->meta.num_modules, 3u);
  EXPECT_STREQ(m->meta.modules[2].path, "/usr/bin/app2");
  EXPECT_EQ(m->entries[4].frames[1].module, 2u);
}

// Found by tools/telemetry_file_fuzz (corpus: bug_merge_sum_overflows): a valid state
// whose rating is -4.2e306 over 75 samples made the weighted sum -inf, and `hakmem freeze`
// then failed on its own table ("rating is not finite"). Means of finite values are
// finite, however large.
TEST(MergeTables, HugeFiniteValuesMergeToFiniteMeans) {
  TableEntry a = ModuleEntry(0x10, 1);
  Measure(&a, learner::kIdxBigCache, -4.220486628887663e+306, 75, 1.7e308);
  Measure(&a, learner::kIdxMmap, 1.7e308, 0, 1.7e308);  // no samples: the plain mean
  TableEntry b = a;
  Measure(&b, learner::kIdxMmap, 1.6e308, 0, 1.6e308);
  const auto s1 = State({{"", "/usr/bin/app"}}, {a});
  const auto s2 = State({{"", "/usr/bin/app"}}, {b});
  const auto m = MergeTables({s1.get(), s2.get()}, Params(16, 50), 0);
  ASSERT_EQ(m->entries.size(), 1u);
  const TableEntry& e = m->entries[0];
  EXPECT_DOUBLE_EQ(e.rating[learner::kIdxBigCache], -4.220486628887663e+306);
  EXPECT_DOUBLE_EQ(e.mean_cost_ns[learner::kIdxBigCache], 1.7e308);
  EXPECT_DOUBLE_EQ(e.rating[learner::kIdxMmap], 1.65e308);
  EXPECT_DOUBLE_EQ(e.mean_cost_ns[learner::kIdxMmap], 1.65e308);
  const size_t need = learner::EncodedSize(m->meta, m->entries.data(), m->entries.size());
  std::vector<uint8_t> buf(need);
  ASSERT_EQ(learner::EncodeTableFile(m->meta, m->entries.data(), m->entries.size(), buf.data(),
                                     need),
            need);
  size_t n = 0;
  const char* why = learner::CountTableEntries(buf.data(), need, &n);
  EXPECT_TRUE(why == nullptr) << why;
}

TEST(MergeTables, EntriesPastTheModuleLimitAreLeftOutAndCounted) {
  // Two states that fit a table each (the first full of modules, the second with one
  // more), whose union does not: the entry naming the 257th module is left out. (One
  // state of 257 modules cannot be built: Table::meta holds kMaxTableModules. An earlier
  // version of this test wrote the 257th past the array; ASan found it.)
  std::vector<std::string> paths;
  for (size_t i = 0; i <= learner::kMaxTableModules; ++i) paths.push_back("/lib/m" + std::to_string(i));
  std::vector<Mod> mods;
  std::vector<TableEntry> entries;
  for (size_t i = 0; i < learner::kMaxTableModules; ++i) {
    mods.push_back({"", paths[i].c_str()});
    entries.push_back(ModuleEntry(0x10, 1));
    entries.back().frames[0].module = static_cast<uint32_t>(i);
  }
  const auto full = State(mods, entries);
  const auto one_more = State({{"", paths.back().c_str()}}, {ModuleEntry(0x10, 1)});
  size_t left_out = 99;
  const auto m = MergeTables({full.get(), one_more.get()}, Params(16, 50), 0, &left_out);
  EXPECT_EQ(left_out, 1u);
  EXPECT_EQ(m->entries.size(), learner::kMaxTableModules);
  EXPECT_EQ(m->meta.num_modules, learner::kMaxTableModules);
}

TEST(MergeTables, RunsAreDedupedSortedAndTheNewestKept) {
  std::vector<std::pair<uint64_t, uint64_t>> many;
  for (uint64_t i = 0; i < 12; ++i) many.push_back({100 + i, 1000 + i});
  std::vector<std::pair<uint64_t, uint64_t>> more = {{1, 5}, {105, 1005}};  // one repeated
  for (uint64_t i = 0; i < 8; ++i) more.push_back({200 + i, 2000 + i});
  const auto s1 = State({}, {}, many), s2 = State({}, {}, more);
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
