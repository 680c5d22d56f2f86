#include "tools/site_view.h"

#include "gtest/gtest.h"
#include "tools/testdata/telemetry_testdata.h"

namespace hakmem {
namespace tools {
namespace {

using telemetry::Telemetry;

const telemetry::Site* SiteNamed(const Telemetry& t, absl::string_view label) {
  for (const telemetry::Site& s : t.sites()) {
    if (SiteLabel(t, s) == label) return &s;
  }
  ADD_FAILURE() << "no site " << label;
  return nullptr;
}

TEST(SiteView, Labels) {
  FrameInfo f;
  f.module = "/usr/lib/libx.so.1";
  f.build_id = "0123456789abcdef0123";
  f.offset = 0x1a40;
  EXPECT_EQ(FrameLabel(f), "libx.so.1+0x1a40");
  f.symbol = "x_alloc";
  EXPECT_EQ(FrameLabel(f), "x_alloc");
  f.file = "src/x.c";
  EXPECT_EQ(FrameLabel(f), "x_alloc (src/x.c)");
  f.line = 12;
  EXPECT_EQ(FrameLabel(f), "x_alloc (src/x.c:12)");
  FrameInfo nowhere;
  nowhere.offset = 0x7f0000001000;
  EXPECT_EQ(FrameLabel(nowhere), "0x7f0000001000");
  FrameInfo no_path;
  no_path.build_id = "0123456789abcdef0123";
  no_path.offset = 16;
  EXPECT_EQ(FrameLabel(no_path), "[0123456789ab]+0x10");
  EXPECT_EQ(Printable("a\xff\\b"), "a\\xff\\x5cb");

  const Telemetry t = ReadTestData("a");
  // Named by the frame after the wrapper (xmalloc), with file:line.
  EXPECT_NE(SiteNamed(t, "parse_tokens (src/parse.cc:88)"), nullptr);
  EXPECT_NE(SiteNamed(t, "site 'decoder.frames'"), nullptr);
  EXPECT_NE(SiteNamed(t, "(overflow)"), nullptr);
  EXPECT_NE(SiteNamed(t, "app+0x4c00"), nullptr);  // no symbol: module + offset
}

TEST(SiteView, IdentityIsTheSameWhateverTheIds) {
  const Telemetry a = ReadTestData("a"), b = ReadTestData("b");
  // b declares everything in another order: other ids, the same identities.
  int renumbered = 0;
  for (const telemetry::Site& sa : a.sites()) {
    bool found = false;
    for (const telemetry::Site& sb : b.sites()) {
      if (sa.key() != sb.key()) continue;
      renumbered += sa.id() != sb.id() ? 1 : 0;
      EXPECT_TRUE(IdentityOf(a, sa) == IdentityOf(b, sb)) << SiteLabel(a, sa);
      found = true;
    }
    EXPECT_TRUE(found) << SiteLabel(a, sa);
  }
  EXPECT_GT(renumbered, 0);
  const SiteIdentity named = IdentityOf(a, *SiteNamed(a, "site 'decoder.frames'"));
  EXPECT_EQ(named.name, "decoder.frames");
  EXPECT_TRUE(named.frames.empty());
  const SiteIdentity parse = IdentityOf(a, *SiteNamed(a, "parse_tokens (src/parse.cc:88)"));
  ASSERT_EQ(parse.frames.size(), 3u);
  EXPECT_EQ(parse.frames[0].first, "build-id:3f1c9a0e5b7d2468ace013579bdf2468ace01357");
  EXPECT_EQ(parse.frames[0].second, 0x1a40u);
  const SiteIdentity jit = IdentityOf(a, *SiteNamed(a, "app+0x4c00"));
  EXPECT_EQ(jit.frames[1].first, "");  // in no module
  EXPECT_EQ(ModuleIdentity("", "/opt/x.so"), "path:/opt/x.so");
}

TEST(SiteView, SumsOverRuns) {
  Telemetry t = ReadTestData("a");
  const telemetry::Site* parse = SiteNamed(t, "parse_tokens (src/parse.cc:88)");
  ASSERT_NE(parse, nullptr);
  const int index = static_cast<int>(parse->id() - 1);
  {
    const SiteTotals s = AggregateSites(t)[index];
    EXPECT_TRUE(s.profiled);
    EXPECT_EQ(s.allocs, 200113u * 3);        // run 1 has twice run 0's
    EXPECT_EQ(s.peak_live_bytes, 81200 * 2);  // the larger, not the sum
    EXPECT_EQ(s.live_bytes, 24300 * 2);
    EXPECT_TRUE(s.estimated);
    EXPECT_EQ(s.sizes.at(112), 150000u * 3);
    ASSERT_EQ(s.bands.size(), 1u);
    const BandTotals& b = s.bands[0];
    EXPECT_EQ(b.band, table::SIZE_BAND_MIDDLE);
    EXPECT_EQ(b.chosen, learner::kIdxPool);
    EXPECT_EQ(b.strategies[learner::kIdxPool].samples, 120u);
    EXPECT_DOUBLE_EQ(b.strategies[learner::kIdxPool].MeanCostNs(), 85.0);
    EXPECT_EQ(b.Samples(), 360u);
  }
  // The latest run's choice (by start time), whatever the record order; ratings weighted
  // by samples.
  for (telemetry::BandChoice& c : *t.mutable_choices()) {
    if (c.site_id() == parse->id() && c.run() == 0) c.set_strategy(table::STRATEGY_MMAP);
  }
  for (telemetry::Outcome& o : *t.mutable_outcomes()) {
    if (o.site_id() == parse->id() && o.run() == 0 && o.strategy() == table::STRATEGY_POOL) {
      o.set_rating_elo(1300);  // 40 samples at 1300, 80 at 1630
    }
  }
  EXPECT_EQ(AggregateSites(t)[index].bands[0].chosen, learner::kIdxPool);
  EXPECT_DOUBLE_EQ(AggregateSites(t)[index].bands[0].strategies[learner::kIdxPool].rating,
                   (1300.0 * 40 + 1630.0 * 80) / 120);
  t.mutable_runs(0)->set_start_unix_ns(t.runs(1).start_unix_ns() + 1);  // run 0 is now later
  EXPECT_EQ(AggregateSites(t)[index].bands[0].chosen, learner::kIdxMmap);
}

TEST(SiteView, LifetimePercentiles) {
  const std::map<uint64_t, uint64_t> h = {{1023, 50}, {2047, 40}, {4095, 9}, {8191, 1}};
  EXPECT_EQ(LifetimePercentileNs(h, 0.0), 1023u);
  EXPECT_EQ(LifetimePercentileNs(h, 0.50), 1023u);
  EXPECT_EQ(LifetimePercentileNs(h, 0.51), 2047u);
  EXPECT_EQ(LifetimePercentileNs(h, 0.90), 2047u);
  EXPECT_EQ(LifetimePercentileNs(h, 0.99), 4095u);
  EXPECT_EQ(LifetimePercentileNs(h, 1.0), 8191u);
  EXPECT_EQ(LifetimePercentileNs({}, 0.5), 0u);
}

}  // namespace
}  // namespace tools
}  // namespace hakmem
