#include "tools/telemetry_to_table.h"

#include <string.h>

#include <string>

#include "gtest/gtest.h"
#include "learner/elo.h"
#include "tools/merge.h"
#include "tools/testdata/telemetry_testdata.h"

namespace hakmem {
namespace tools {
namespace {

using learner::kIdxBigCache;
using learner::kIdxMmap;
using learner::kIdxPool;

// The entry whose first frame is at `offset` (0: the explicit site), or nullptr.
const learner::TableEntry* Find(const Table& t, uint64_t offset) {
  for (const learner::TableEntry& e : t.entries) {
    if (offset == 0 ? e.num_frames == 0 : e.num_frames > 0 && e.frames[0].offset == offset) return &e;
  }
  return nullptr;
}

TEST(TelemetryToTable, OneStatePerRunThatLearned) {
  const telemetry::Telemetry t = ReadTestData("a");
  const ConvertedRuns runs = TelemetryToTables(t);
  ASSERT_EQ(runs.tables.size(), 2u);
  const Table& second = *runs.tables[1];
  EXPECT_STREQ(second.meta.hakmem_version, "0.1.0");
  ASSERT_EQ(second.meta.num_runs, 1u);
  EXPECT_STREQ(second.meta.runs[0].program, "/usr/bin/app");
  EXPECT_EQ(second.meta.runs[0].pid, 4243u);
  EXPECT_EQ(second.meta.runs[0].start_unix_ms, 1700000060000u);
  EXPECT_EQ(second.meta.runs[0].duration_ms, 2500u);
  EXPECT_EQ(second.meta.params.min_samples, 8u);
  EXPECT_DOUBLE_EQ(second.meta.params.elo_scale, 400);
  EXPECT_DOUBLE_EQ(second.meta.params.fault_ns, 1100.5);
  // parse_tokens (middle), decode_frame (large) and the explicit site (huge).
  ASSERT_EQ(second.entries.size(), 3u);
  const learner::TableEntry* parse = Find(second, 0x1a40);
  ASSERT_NE(parse, nullptr);
  ASSERT_EQ(parse->num_frames, 3u);
  EXPECT_EQ(parse->frames[1].offset, 0x2b10u);
  const learner::TableModule& app = second.meta.modules[parse->frames[0].module];
  EXPECT_STREQ(app.build_id_hex, "3f1c9a0e5b7d2468ace013579bdf2468ace01357");
  EXPECT_STREQ(app.path, "/usr/bin/app");
  EXPECT_EQ(parse->band, 0);
  EXPECT_EQ(parse->strategy, -1);  // decided again by MergeTables
  EXPECT_TRUE(parse->eligible[kIdxPool] && parse->eligible[kIdxBigCache] && parse->eligible[kIdxMmap]);
  EXPECT_EQ(parse->samples[kIdxPool], 80u);
  EXPECT_DOUBLE_EQ(parse->rating[kIdxPool], 1630);
  EXPECT_DOUBLE_EQ(parse->mean_cost_ns[kIdxBigCache], 215);  // cost_ns / samples
  const learner::TableEntry* named = Find(second, 0);
  ASSERT_NE(named, nullptr);
  EXPECT_STREQ(named->site_name, "decoder.frames");
  EXPECT_EQ(named->band, 2);
  EXPECT_FALSE(named->eligible[kIdxPool]);
  const learner::TableEntry* decode = Find(second, 0x5f0);
  ASSERT_NE(decode, nullptr);
  EXPECT_STREQ(second.meta.modules[decode->frames[0].module].build_id_hex, "");
  EXPECT_STREQ(second.meta.modules[decode->frames[0].module].path, "/opt/app/lib/libdecoder.so");
  EXPECT_EQ(runs.left_out.no_module + runs.left_out.overflow + runs.left_out.unrepresentable +
                runs.left_out.ineligible, 0u);

  // MergeTables takes them as it takes learner states: decided again.
  std::vector<const Table*> inputs = {runs.tables[0].get(), runs.tables[1].get()};
  const std::unique_ptr<Table> merged = MergeTables(inputs, runs.tables[0]->meta.params, 0);
  ASSERT_EQ(merged->entries.size(), 3u);
  const learner::TableEntry* m = Find(*merged, 0x1a40);
  EXPECT_EQ(m->samples[kIdxPool], 120u);
  EXPECT_EQ(m->strategy, kIdxPool);
  EXPECT_EQ(merged->meta.num_runs, 2u);
}

TEST(TelemetryToTable, LeavesOutWhatATableCannotKey) {
  telemetry::Telemetry t = ReadTestData("a");
  // Outcomes at the site with a JIT frame, at the overflow site, and the pool in the
  // large band: none can be a table's.
  telemetry::Outcome proto = t.outcomes(0);
  for (const telemetry::Site& s : t.sites()) {
    const bool jit = s.location_ids_size() == 2 && s.wrapper_frames() == 0 &&
                     t.locations(static_cast<int>(s.location_ids(1) - 1)).module_id() == 0;
    if (!jit && !s.overflow()) continue;
    telemetry::Outcome* o = t.add_outcomes();
    *o = proto;
    o->set_site_id(s.id());
    o->set_band(table::SIZE_BAND_LARGE);
  }
  for (telemetry::Outcome& o : *t.mutable_outcomes()) {
    if (o.run() == 0 && o.band() == table::SIZE_BAND_LARGE && o.strategy() == table::STRATEGY_BIGCACHE) {
      telemetry::Outcome* pool = t.add_outcomes();
      *pool = o;
      pool->set_strategy(table::STRATEGY_POOL);
      break;
    }
  }
  ASSERT_TRUE(ValidateTelemetry(t).ok()) << ValidateTelemetry(t);
  const ConvertedRuns runs = TelemetryToTables(t);
  EXPECT_EQ(runs.left_out.no_module, 1u);
  EXPECT_EQ(runs.left_out.overflow, 1u);
  EXPECT_EQ(runs.left_out.ineligible, 1u);
  EXPECT_EQ(runs.tables[0]->entries.size(), 3u);
}

}  // namespace
}  // namespace tools
}  // namespace hakmem
