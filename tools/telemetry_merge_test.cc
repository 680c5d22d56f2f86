#include "tools/telemetry_merge.h"

#include <algorithm>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "gtest/gtest.h"
#include "tools/site_view.h"
#include "tools/telemetry_file.h"
#include "tools/testdata/telemetry_testdata.h"

namespace hakmem {
namespace tools {
namespace {

using telemetry::Telemetry;

Telemetry Read(absl::string_view name) { return ReadTestData(name); }

// The file a merge writes: what "byte-identical" is about.
std::string Bytes(const Telemetry& t) { return EncodeTelemetryFile(t); }

Telemetry Merge(std::vector<const Telemetry*> inputs, std::vector<std::string>* notes = nullptr) {
  Telemetry out = MergeTelemetry(inputs, notes);
  EXPECT_TRUE(ValidateTelemetry(out).ok()) << ValidateTelemetry(out);
  return out;
}

// Every way to merge `leaves` in this order: all of them at once, or any split into two
// or more consecutive groups, each merged every way, then merged together. (For 4 leaves,
// 11 shapes: ((ab)c)d, (ab)(cd), a(b(cd)), (abc)d, a(bcd), abcd, ...)
std::vector<Telemetry> AllGroupings(const std::vector<const Telemetry*>& leaves) {
  if (leaves.size() == 1) return {Merge({leaves[0]})};
  std::vector<Telemetry> out = {Merge(leaves)};
  // Splits into consecutive groups: each bit of `cuts` places a cut after one leaf.
  const size_t n = leaves.size();
  for (uint32_t cuts = 1; cuts < (1u << (n - 1)); ++cuts) {
    std::vector<std::vector<const Telemetry*>> groups(1);
    for (size_t i = 0; i < n; ++i) {
      groups.back().push_back(leaves[i]);
      if (i + 1 < n && (cuts >> i & 1)) groups.emplace_back();
    }
    // Each group merged every way, then one of each combined (all combinations).
    std::vector<std::vector<Telemetry>> ways;
    for (const auto& g : groups) ways.push_back(AllGroupings(g));
    std::vector<size_t> pick(ways.size(), 0);
    for (;;) {
      std::vector<const Telemetry*> parts;
      for (size_t k = 0; k < ways.size(); ++k) parts.push_back(&ways[k][pick[k]]);
      out.push_back(Merge(parts));
      size_t k = 0;
      while (k < pick.size() && ++pick[k] == ways[k].size()) pick[k++] = 0;
      if (k == pick.size()) break;
    }
  }
  return out;
}

TEST(TelemetryMerge, EveryOrderAndGroupingGivesTheSameBytes) {
  const Telemetry files[4] = {Read("a"), Read("b"), Read("c"), Read("d")};
  std::vector<int> order = {0, 1, 2, 3};
  std::string first;
  int merges = 0;
  do {
    std::vector<const Telemetry*> leaves;
    for (int i : order) leaves.push_back(&files[i]);
    for (const Telemetry& m : AllGroupings(leaves)) {
      const std::string bytes = Bytes(m);
      if (first.empty()) first = bytes;
      ASSERT_EQ(bytes, first) << "order " << absl::StrJoin(order, ",") << ", merge " << merges;
      ++merges;
    }
  } while (std::next_permutation(order.begin(), order.end()));
  EXPECT_GE(merges, 24 * 11);  // every order, every shape (and every inner way)
  // And the result holds what the four hold: 5 processes (a's second run is in c too,
  // a's first in d too), 7 sites (b's __strdup among them).
  const Telemetry m = Merge({&files[0], &files[1], &files[2], &files[3]});
  EXPECT_EQ(m.runs_size(), 5);
  EXPECT_EQ(m.sites_size(), 7);
}

TEST(TelemetryMerge, AFileWithItselfIsItsCanonicalForm) {
  for (const char* name : {"a", "b", "c", "d", "changed", "drops"}) {
    const Telemetry a = Read(name);
    const Telemetry canonical = Merge({&a});
    EXPECT_EQ(Bytes(Merge({&a, &a})), Bytes(canonical)) << name;
    EXPECT_EQ(Bytes(Merge({&canonical})), Bytes(canonical)) << name << ": not idempotent";
    EXPECT_EQ(Bytes(Merge({&canonical, &a})), Bytes(canonical)) << name;
  }
}

// The canonical form says the same as the file: per site (by identity), the same totals.
TEST(TelemetryMerge, CanonicalFormKeepsEverything) {
  for (const char* name : {"a", "b", "d"}) {
    const Telemetry a = Read(name);
    const Telemetry m = Merge({&a});
    EXPECT_EQ(m.runs_size(), a.runs_size());
    EXPECT_EQ(m.sites_size(), a.sites_size());
    EXPECT_EQ(m.locations_size(), a.locations_size());
    EXPECT_EQ(m.modules_size(), a.modules_size());
    EXPECT_EQ(m.site_profiles_size(), a.site_profiles_size());
    EXPECT_EQ(m.choices_size(), a.choices_size());
    EXPECT_EQ(m.outcomes_size(), a.outcomes_size());
    EXPECT_EQ(m.matches_size(), a.matches_size());
    EXPECT_EQ(m.decisions_size(), a.decisions_size());
    EXPECT_EQ(m.timeline_size(), a.timeline_size());
    auto totals = [](const Telemetry& t) {
      std::map<SiteIdentity, std::string> out;
      for (const SiteTotals& s : AggregateSites(t)) {
        std::string v = absl::StrCat(s.allocs, "/", s.bytes, "/", s.live_bytes, "/",
                                     s.peak_live_bytes, "/", s.sizes.size(), "/", s.lifetimes.size());
        for (const BandTotals& b : s.bands) {
          absl::StrAppend(&v, " ", b.band, ":", b.chosen, ":", b.Samples(), ":",
                          b.strategies[0].rating, ":", b.strategies[1].cost_ns);
        }
        out[IdentityOf(t, t.sites(s.site))] = v;
      }
      return out;
    };
    EXPECT_EQ(totals(m), totals(a)) << name;
  }
}

TEST(TelemetryMerge, CanonicalOrder) {
  const Telemetry files[4] = {Read("a"), Read("b"), Read("c"), Read("d")};
  const Telemetry m = Merge({&files[3], &files[2], &files[1], &files[0]});
  for (int i = 1; i < m.runs_size(); ++i) {
    EXPECT_LT(m.runs(i - 1).start_unix_ns(), m.runs(i).start_unix_ns());
  }
  for (int i = 1; i < m.sites_size(); ++i) EXPECT_LT(m.sites(i - 1).key(), m.sites(i).key());
  for (int i = 2; i < m.string_table_size(); ++i) {
    EXPECT_LT(m.string_table(i - 1), m.string_table(i));
  }
  EXPECT_EQ(m.string_table(0), "");
  for (int i = 1; i < m.site_profiles_size(); ++i) {
    const auto& x = m.site_profiles(i - 1);
    const auto& y = m.site_profiles(i);
    EXPECT_LT(std::make_pair(x.run(), x.site_id()), std::make_pair(y.run(), y.site_id()));
  }
  // Within a run, the timeline stays in time order.
  for (int i = 1; i < m.timeline_size(); ++i) {
    if (m.timeline(i - 1).run() == m.timeline(i).run()) {
      EXPECT_LE(m.timeline(i - 1).time_ns(), m.timeline(i).time_ns());
    } else {
      EXPECT_LT(m.timeline(i - 1).run(), m.timeline(i).run());
    }
  }
}

TEST(TelemetryMerge, KeepsTheLaterWriteOfARunAndSaysSo) {
  const Telemetry a = Read("a"), c = Read("c");
  for (bool a_first : {true, false}) {
    std::vector<std::string> notes;
    const Telemetry m = a_first ? Merge({&a, &c}, &notes) : Merge({&c, &a}, &notes);
    ASSERT_EQ(notes.size(), 1u);
    EXPECT_EQ(notes[0],
              "run pid 4243 on build-1 started 2023-11-14 22:14:20.000 UTC is in several inputs "
              "with different data: kept the write that ended 2023-11-14 22:14:22.500 UTC (at "
              "exit), dropped the write that ended 2023-11-14 22:14:21.200 UTC (periodic, write 1)");
    ASSERT_EQ(m.runs_size(), 3);  // 4242, 4243 (a's, complete), 5000
    EXPECT_EQ(m.runs(1).pid(), 4243u);
    EXPECT_TRUE(m.runs(1).complete());
    EXPECT_EQ(m.runs(1).end_unix_ns(), a.runs(1).end_unix_ns());
  }
  // The same run in two files with the same data: kept once, silently.
  const Telemetry d = Read("d");
  std::vector<std::string> notes;
  EXPECT_EQ(Merge({&a, &d}, &notes).runs_size(), 3);
  EXPECT_TRUE(notes.empty());
}

// Where inputs describe one entity differently, the pick does not depend on the order.
TEST(TelemetryMerge, ResolvesDescriptionsByRuleNotByOrder) {
  const Telemetry a = Read("a"), b = Read("b"), d = Read("d");
  for (bool a_first : {true, false}) {
    const Telemetry ab = a_first ? Merge({&a, &b}) : Merge({&b, &a});
    // b could name the decoder's loop, a could not: the named one wins.
    bool found = false;
    for (const telemetry::Location& l : ab.locations()) {
      if (l.offset_bytes() == 0x910) {
        EXPECT_EQ(ab.string_table(static_cast<int>(l.function_str())), "decode_loop");
        found = true;
      }
    }
    EXPECT_TRUE(found);
    // One build of app installed at two paths: one module, the least path.
    const Telemetry ad = a_first ? Merge({&a, &d}) : Merge({&d, &a});
    int apps = 0;
    for (const telemetry::Module& m : ad.modules()) {
      if (m.build_id_hex().rfind("3f1c", 0) == 0) {
        ++apps;
        EXPECT_EQ(ad.string_table(static_cast<int>(m.path_str())), "/srv/app/bin/app");
      }
    }
    EXPECT_EQ(apps, 1);
  }
}

TEST(TelemetryMerge, RepointsEveryRecord) {
  const Telemetry a = Read("a"), b = Read("b");
  const Telemetry m = Merge({&b, &a});
  // b's run (pid 977) starts between a's two: it is run 1. Its __strdup profile points at
  // the site whose naming frame is __strdup.
  ASSERT_EQ(m.runs(1).pid(), 977u);
  bool found = false;
  for (const telemetry::SiteProfile& p : m.site_profiles()) {
    const telemetry::Site& s = m.sites(static_cast<int>(p.site_id() - 1));
    if (SiteLabel(m, s) == "__strdup (string/strdup.c:42)") {
      EXPECT_EQ(p.run(), 1u);
      EXPECT_EQ(p.allocs(), 700u);
      found = true;
    }
  }
  EXPECT_TRUE(found);
  for (const telemetry::Outcome& o : m.outcomes()) {
    const telemetry::Run& r = m.runs(static_cast<int>(o.run()));
    EXPECT_TRUE(r.pid() == 977 || r.pid() == 4242 || r.pid() == 4243);
  }
}

}  // namespace
}  // namespace tools
}  // namespace hakmem
