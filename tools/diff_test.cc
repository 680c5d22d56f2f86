#include "tools/diff.h"

#include <string.h>

#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "learner/elo.h"
#include "tools/testdata/telemetry_testdata.h"

namespace hakmem {
namespace tools {
namespace {

std::vector<std::string> Lines(const std::vector<Change>& changes) {
  std::vector<std::string> out;
  for (const Change& c : changes) out.push_back(c.line);
  return out;
}

TEST(Diff, AFileAgainstItselfHasNoChanges) {
  for (const char* name : {"a", "b", "c", "d", "changed"}) {
    const Learned l = LearnedFromTelemetry(ReadTestData(name));
    EXPECT_FALSE(l.empty()) << name;
    EXPECT_TRUE(DiffLearned(l, l, 0.10).empty()) << name;
  }
}

TEST(Diff, FindsEveryKindOfChange) {
  const Learned a = LearnedFromTelemetry(ReadTestData("a"));
  const Learned changed = LearnedFromTelemetry(ReadTestData("changed"));
  EXPECT_EQ(Lines(DiffLearned(a, changed, 0.10)),
            (std::vector<std::string>{
                "new     middle  __strdup (string/strdup.c:42): chooses none (undecided)",
                "cost    large   decode_frame: mmap mean cost 6.00 µs -> 9.00 µs (+50.0%)",
                "chosen  middle  parse_tokens (src/parse.cc:88): pool (mean cost 85 ns) -> "
                "bigcache (mean cost 80 ns)",
                "gone    huge    site 'decoder.frames': chose bigcache (mean cost 30.0 µs)",
            }));
  // Backwards: new and gone swap, the cost moved by -33%.
  const std::vector<Change> back = DiffLearned(changed, a, 0.10);
  ASSERT_EQ(back.size(), 4u);
  EXPECT_EQ(back[0].kind, ChangeKind::kGone);
  EXPECT_EQ(back[1].line, "cost    large   decode_frame: mmap mean cost 9.00 µs -> 6.00 µs (-33.3%)");
  EXPECT_EQ(back[3].kind, ChangeKind::kNew);
}

TEST(Diff, Threshold) {
  const Learned a = LearnedFromTelemetry(ReadTestData("a"));
  const Learned changed = LearnedFromTelemetry(ReadTestData("changed"));
  auto costs = [&](double threshold) {
    int n = 0;
    for (const Change& c : DiffLearned(a, changed, threshold)) n += c.kind == ChangeKind::kCost;
    return n;
  };
  EXPECT_EQ(costs(0.49), 1);
  EXPECT_EQ(costs(0.50), 0);  // more than the threshold, not as much
  EXPECT_EQ(costs(2.0), 0);
}

TEST(Diff, ComparesTablesWithTelemetry) {
  // A table with parse_tokens' context (by module identity and offset) choosing mmap:
  // matched with the telemetry's site, whatever the table calls its modules.
  Table t;
  memset(&t.meta, 0, sizeof(t.meta));
  t.meta.params = learner::DefaultParams();
  strcpy(t.meta.modules[0].build_id_hex, "3f1c9a0e5b7d2468ace013579bdf2468ace01357");
  strcpy(t.meta.modules[0].path, "/elsewhere/app");
  t.meta.num_modules = 1;
  learner::TableEntry e;
  memset(&e, 0, sizeof(e));
  e.frames[0] = {0, 0x1a40};
  e.frames[1] = {0, 0x2b10};
  e.frames[2] = {0, 0x1200};
  e.num_frames = 3;
  e.band = 0;
  e.strategy = learner::kIdxMmap;
  e.eligible[learner::kIdxMmap] = true;
  e.samples[learner::kIdxMmap] = 10;
  e.mean_cost_ns[learner::kIdxMmap] = 975;
  t.entries.push_back(e);
  const Learned table = LearnedFromTable(t);
  const Learned a = LearnedFromTelemetry(ReadTestData("a"));
  const std::vector<Change> changes = DiffLearned(table, a, 0.10);
  // parse_tokens changed its choice (named from the telemetry, which has symbols); the
  // rest of the telemetry is new (ordered by site: decode_frame, parse_tokens, site '...').
  ASSERT_EQ(changes.size(), 3u);
  EXPECT_EQ(changes[1].line,
            "chosen  middle  parse_tokens (src/parse.cc:88): mmap (mean cost 975 ns) -> pool "
            "(mean cost 85 ns)");
  EXPECT_EQ(changes[0].kind, ChangeKind::kNew);
  // A table alone names sites by module and offset.
  const std::vector<Change> gone = DiffLearned(table, Learned(), 0.10);
  ASSERT_EQ(gone.size(), 1u);
  EXPECT_EQ(gone[0].line, "gone    middle  app+0x1a40: chose mmap (mean cost 975 ns)");
  // Two sites with one allocation call (another caller): one label, so each gets its
  // context.
  e.frames[1].offset = 0x2f00;
  t.entries.push_back(e);
  const std::vector<Change> two = DiffLearned(LearnedFromTable(t), Learned(), 0.10);
  ASSERT_EQ(two.size(), 2u);
  EXPECT_EQ(two[0].line,
            "gone    middle  app+0x1a40 [app+0x1a40 <- app+0x2b10 <- app+0x1200]: chose mmap "
            "(mean cost 975 ns)");
  EXPECT_EQ(two[1].line,
            "gone    middle  app+0x1a40 [app+0x1a40 <- app+0x2f00 <- app+0x1200]: chose mmap "
            "(mean cost 975 ns)");
}

}  // namespace
}  // namespace tools
}  // namespace hakmem
