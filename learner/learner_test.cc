// The learner in a process: the tournament fed with known costs, what it publishes to
// the route table in each mode, and the frozen-table loader (good and bad tables).
#include "learner/learner.h"

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "callsite/module_map.h"
#include "core/route_table.h"
#include "learner/elo.h"
#include "learner/frozen.h"
#include "learner/table_codec.h"

namespace hakmem {
namespace learner {
namespace {

// Costs per allocation (ns) by strategy: a site where `best` is clearly cheapest.
struct Costs {
  double c[kNumLearnedStrategies];
};

// Serves `n` allocations of (site, band) the way the route would: with the strategy
// the route table says (the band's default when none), charging its known cost.
// Returns how many allocations each strategy served.
std::vector<int> Serve(uintptr_t site, int band, const Costs& costs, int n) {
  std::vector<int> served(kNumLearnedStrategies, 0);
  for (int i = 0; i < n; ++i) {
    Strategy s = RouteDecision(site, band);
    if (s == Strategy::kNone) s = DefaultStrategy(band);
    const int idx = static_cast<int>(s) - 1;
    ++served[idx];
    RecordForTest(site, band, idx, costs.c[idx]);
  }
  return served;
}

int Chosen(uintptr_t site, int band) {
  BandView v[kNumBands];
  if (!ViewSite(site, v)) return -2;
  return v[band].chosen;
}

TEST(Learner, LearnModeFindsTheCheapestStrategyAtEachSiteAndPublishesIt) {
  ResetForTest(LearnMode::kLearn);
  const uintptr_t frames = 0x1000, churn = 0x2000, snapshots = 0x3000;
  Serve(frames, kBandLarge, Costs{{0, 5e3, 5e6}}, 200);
  Serve(churn, kBandMiddle, Costs{{50, 400, 3e5}}, 400);
  Serve(snapshots, kBandHuge, Costs{{0, 2e6, 1e6}}, 200);
  EXPECT_EQ(Chosen(frames, kBandLarge), kIdxBigCache);
  EXPECT_EQ(Chosen(churn, kBandMiddle), kIdxPool);
  EXPECT_EQ(Chosen(snapshots, kBandHuge), kIdxMmap);
  // After committing, the route mostly serves the choice: exploring a strategy 1000x
  // dearer happens about explore_rate / 1000 of the time.
  const std::vector<int> after = Serve(frames, kBandLarge, Costs{{0, 5e3, 5e6}}, 2000);
  EXPECT_GE(after[kIdxBigCache], 1995);
  const std::vector<int> churn_after = Serve(churn, kBandMiddle, Costs{{50, 400, 3e5}}, 2000);
  EXPECT_GE(churn_after[kIdxPool], 1900);
  EXPECT_GE(churn_after[kIdxBigCache], 1);  // a cheap loser is still explored now and then
}

TEST(Learner, EqualCostsNeverCommit) {
  ResetForTest(LearnMode::kLearn);
  const uintptr_t site = 0x4000;
  const std::vector<int> served = Serve(site, kBandLarge, Costs{{0, 1000, 1020}}, 1000);
  EXPECT_EQ(Chosen(site, kBandLarge), -1);  // every match a draw: no rating lead
  // Undecided, the trials alternate: both strategies keep being measured.
  EXPECT_NEAR(served[kIdxBigCache], served[kIdxMmap], 2);
}

TEST(Learner, ShadowModeRatesButNeverPublishes) {
  ResetForTest(LearnMode::kShadow);
  const uintptr_t site = 0x5000;
  for (int i = 0; i < 200; ++i) {
    RecordForTest(site, kBandLarge, kIdxBigCache, 5e3);
    RecordForTest(site, kBandLarge, kIdxMmap, 5e6);
  }
  EXPECT_EQ(Chosen(site, kBandLarge), kIdxBigCache);  // it knows what it would do...
  EXPECT_EQ(RouteDecision(site, kBandLarge), Strategy::kNone);  // ...and does nothing
}

TEST(Learner, ManyThreadsAndSitesAtOnce) {
  ResetForTest(LearnMode::kLearn);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([t] {
      for (int s = 0; s < 50; ++s) {
        // Every thread feeds every site: the counters and the try-lock are shared.
        Serve(0x10000 + 0x100 * s, kBandLarge, Costs{{0, (s % 2) ? 5e3 : 5e6, (s % 2) ? 5e6 : 5e3}},
              100 + t);
      }
    });
  }
  for (std::thread& th : threads) th.join();
  for (int s = 0; s < 50; ++s) {
    EXPECT_EQ(Chosen(0x10000 + 0x100 * s, kBandLarge), (s % 2) ? kIdxBigCache : kIdxMmap) << s;
  }
}

// ---- the frozen-table loader ----

// A site in this test binary, so its module (and build-id) is loaded.
__attribute__((noinline)) uintptr_t ThisSite() { return reinterpret_cast<uintptr_t>(&ThisSite) + 16; }

class Frozen : public ::testing::Test {
 protected:
  void SetUp() override {
    ResetForTest(LearnMode::kOff);
    const uintptr_t site = ThisSite();
    const callsite::CodeKey key = callsite::ResolveAddress(site);
    const callsite::Module* m = callsite::GetModule(key.module);
    ASSERT_NE(m, nullptr);
    memset(&entry_, 0, sizeof(entry_));
    strncpy(entry_.build_id_hex, m->build_id, sizeof(entry_.build_id_hex) - 1);
    strncpy(entry_.module_path, m->path, sizeof(entry_.module_path) - 1);
    entry_.offset = key.offset;
    entry_.band = kBandLarge;
    entry_.strategy = kIdxMmap;
    entry_.eligible[kIdxBigCache] = entry_.eligible[kIdxMmap] = true;
    entry_.rating[kIdxBigCache] = 1450;
    entry_.rating[kIdxMmap] = 1550;
    entry_.samples[kIdxBigCache] = entry_.samples[kIdxMmap] = 40;
    memset(&meta_, 0, sizeof(meta_));
    strcpy(meta_.hakmem_version, "0.1.0");
    meta_.params = DefaultParams();
    meta_.num_runs = 1;
    strcpy(meta_.runs[0].program, "/usr/bin/some-other-program");
    path_ = std::string(getenv("TEST_TMPDIR") != nullptr ? getenv("TEST_TMPDIR") : "/tmp") +
            "/frozen_test.pb";
    // Start each test with no decision for the site.
    PublishRouteDecision(site, kBandLarge, Strategy::kNone);
  }

  std::vector<uint8_t> Encode(const TableEntry& e) {
    std::vector<uint8_t> buf(EncodedSize(meta_, &e, 1));
    EXPECT_EQ(EncodeTableFile(meta_, &e, 1, buf.data(), buf.size()), buf.size());
    return buf;
  }

  void Write(const std::vector<uint8_t>& bytes) {
    const int fd = open(path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(write(fd, bytes.data(), bytes.size()), static_cast<ssize_t>(bytes.size()));
    close(fd);
  }

  // Loads the file and returns what went to stderr.
  std::string Load(size_t* published) {
    ::testing::internal::CaptureStderr();
    *published = StartFrozen(path_.c_str());
    return ::testing::internal::GetCapturedStderr();
  }

  TableEntry entry_;
  TableMeta meta_;
  std::string path_;
};

TEST_F(Frozen, AGoodTablePublishesItsChoicesForThisProgram) {
  Write(Encode(entry_));
  size_t published = 0;
  EXPECT_EQ(Load(&published), "");
  EXPECT_EQ(published, 1u);
  EXPECT_EQ(RouteDecision(ThisSite(), kBandLarge), Strategy::kMmap);
  EXPECT_EQ(Mode(), LearnMode::kFrozen);
}

TEST_F(Frozen, EveryTruncationIsRejectedWithOneLine) {
  const std::vector<uint8_t> good = Encode(entry_);
  for (size_t len = 0; len < good.size(); len += 1) {
    Write(std::vector<uint8_t>(good.begin(), good.begin() + len));
    size_t published = 1;
    const std::string err = Load(&published);
    EXPECT_EQ(published, 0u) << len;
    EXPECT_EQ(std::count(err.begin(), err.end(), '\n'), 1) << len << ": " << err;
    EXPECT_NE(err.find("using the default strategies"), std::string::npos) << err;
  }
  EXPECT_EQ(RouteDecision(ThisSite(), kBandLarge), Strategy::kNone);
}

TEST_F(Frozen, EveryBitFlipIsRejected) {
  const std::vector<uint8_t> good = Encode(entry_);
  for (size_t byte = 0; byte < good.size(); ++byte) {
    for (int bit = 0; bit < 8; ++bit) {
      std::vector<uint8_t> bad = good;
      bad[byte] ^= static_cast<uint8_t>(1u << bit);
      Write(bad);
      size_t published = 1;
      const std::string err = Load(&published);
      ASSERT_EQ(published, 0u) << byte << ":" << bit;
      ASSERT_EQ(std::count(err.begin(), err.end(), '\n'), 1) << err;
    }
  }
  EXPECT_EQ(RouteDecision(ThisSite(), kBandLarge), Strategy::kNone);
}

TEST_F(Frozen, AWrongFormatVersionIsNamed) {
  std::vector<uint8_t> bytes = Encode(entry_);
  // FrozenTableFile.format_version is field 2, a varint right after the 5-byte magic.
  ASSERT_EQ(bytes[5], 0x10);
  bytes[6] = 7;
  Write(bytes);
  size_t published = 1;
  const std::string err = Load(&published);
  EXPECT_EQ(published, 0u);
  EXPECT_NE(err.find("version"), std::string::npos) << err;
}

TEST_F(Frozen, KeysOfAnotherBinaryMatchNothingAndSaySo) {
  strcpy(entry_.build_id_hex, "0123456789abcdef0123456789abcdef01234567");
  Write(Encode(entry_));
  size_t published = 1;
  const std::string err = Load(&published);
  EXPECT_EQ(published, 0u);
  EXPECT_NE(err.find("none of its 1 entries"), std::string::npos) << err;
  EXPECT_NE(err.find("/usr/bin/some-other-program"), std::string::npos) << err;
  EXPECT_EQ(RouteDecision(ThisSite(), kBandLarge), Strategy::kNone);
}

TEST_F(Frozen, MissingFileAndMissingSettingAreOneLineEach) {
  unlink(path_.c_str());
  size_t published = 1;
  std::string err = Load(&published);
  EXPECT_EQ(published, 0u);
  EXPECT_NE(err.find("cannot read frozen table"), std::string::npos) << err;
  ::testing::internal::CaptureStderr();
  EXPECT_EQ(StartFrozen(nullptr), 0u);
  err = ::testing::internal::GetCapturedStderr();
  EXPECT_NE(err.find("HAKMEM_FROZEN_TABLE"), std::string::npos) << err;
}

TEST_F(Frozen, FreezeThenLoadRoundTripsTheLearnedChoice) {
  ResetForTest(LearnMode::kLearn);
  const uintptr_t site = ThisSite();
  Serve(site, kBandLarge, Costs{{0, 5e6, 5e3}}, 300);  // mmap cheapest here
  ASSERT_EQ(Chosen(site, kBandLarge), kIdxMmap);
  ASSERT_TRUE(FreezeTo(path_.c_str()));
  PublishRouteDecision(site, kBandLarge, Strategy::kNone);
  ASSERT_EQ(RouteDecision(site, kBandLarge), Strategy::kNone);
  size_t published = 0;
  EXPECT_EQ(Load(&published), "");
  EXPECT_EQ(published, 1u);
  EXPECT_EQ(RouteDecision(site, kBandLarge), Strategy::kMmap);
}

}  // namespace
}  // namespace learner
}  // namespace hakmem
