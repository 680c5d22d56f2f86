// The tournament as an instance (the replay engine's use): independent instances, the
// events it reports, the exploration seed, and the time histogram behind the prices.
#include "learner/tournament.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <algorithm>
#include <atomic>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "learner/elo.h"

namespace hakmem {
namespace learner {
namespace {

// Keeps what the tournament reports.
class Recorder final : public TournamentEvents {
 public:
  void Publish(uintptr_t site, int band, Strategy s) override { published.push_back(s); }
  void Decision(uintptr_t, int, DecisionKind kind, int, int to, uint64_t allocations) override {
    decisions.push_back({kind, to, allocations});
  }
  MatchRecord* BeginMatch(uint64_t* index) override {
    *index = 0;
    return &scratch;
  }
  void EndMatch(MatchRecord* r, uint64_t) override { matches.push_back(r->number); }
  uint64_t NowNs() override { return 0; }

  struct Made {
    DecisionKind kind;
    int to;
    uint64_t allocations;
    bool operator==(const Made& o) const {
      return kind == o.kind && to == o.to && allocations == o.allocations;
    }
  };
  std::vector<Strategy> published;
  std::vector<Made> decisions;
  std::vector<uint32_t> matches;
  MatchRecord scratch{};
};

struct Instance {
  explicit Instance(uint64_t seed, double explore_rate = 1.0 / 64) {
    memory.reset(static_cast<char*>(calloc(1, Tournament::MemoryBytes())));
    TournamentConfig c;
    c.params = DefaultParams();
    c.params.fault_ns = 1000;
    c.params.explore_rate = explore_rate;
    c.schedule_trials = true;
    c.seed = seed;
    t.Start(memory.get(), c, &events);
  }
  // Serves n allocations of a middle-band site as the route would, each costing `cost`
  // of its strategy (a pool allocation's cost is whole at once).
  void Serve(uintptr_t site, int n, const double cost[kNumLearnedStrategies]) {
    for (int i = 0; i < n; ++i) {
      const Strategy s = events.published.empty() ? Strategy::kPool : events.published.back();
      const uint32_t h = t.OnAlloc(site, kBandMiddle, s, 64 << 10, cost[static_cast<int>(s) - 1], true);
      if (s != Strategy::kPool) t.OnFree(h, s, 64 << 10, 0, 0, true, false);
    }
  }
  struct Free {
    void operator()(char* p) const { free(p); }
  };
  std::unique_ptr<char, Free> memory;
  Recorder events;
  Tournament t;
};

constexpr double kCosts[kNumLearnedStrategies] = {40, 900, 30000};

TEST(Tournament, InstancesAreIndependentAndReportThroughTheirEvents) {
  Instance a(0), b(0);
  a.Serve(0x1000, 400, kCosts);
  BandView v[kNumBands];
  ASSERT_TRUE(a.t.ViewSite(0x1000, v));
  EXPECT_EQ(v[kBandMiddle].chosen, kIdxPool);
  EXPECT_FALSE(b.t.ViewSite(0x1000, v));  // b saw nothing
  ASSERT_FALSE(a.events.decisions.empty());
  EXPECT_EQ(a.events.decisions[0].kind, DecisionKind::kTrialsBegin);
  EXPECT_FALSE(a.events.matches.empty());
  EXPECT_EQ(a.events.matches[0], 1u);
  // Trials alternate before the commitment: every strategy was published.
  EXPECT_NE(std::find(a.events.published.begin(), a.events.published.end(), Strategy::kMmap),
            a.events.published.end());
}

TEST(Tournament, TheSameSeedExploresTheSameWayAndAnotherDoesNot) {
  Instance a(5, 1.0), b(5, 1.0), c(6, 1.0);
  for (Instance* i : {&a, &b, &c}) i->Serve(0x2000, 3000, kCosts);
  auto explores = [](const Instance& i) {
    std::vector<Recorder::Made> e;
    for (const Recorder::Made& m : i.events.decisions) {
      if (m.kind == DecisionKind::kExplore) e.push_back(m);
    }
    return e;
  };
  ASSERT_GT(explores(a).size(), 3u);
  EXPECT_EQ(explores(a), explores(b));
  EXPECT_NE(explores(a), explores(c));
}

TEST(TimeHistogram, TheMedianIgnoresAFewHugeOutliers) {
  TimeHistogram h;
  EXPECT_EQ(h.MedianNs(), 0);
  for (int i = 0; i < 1000; ++i) h.Add(40);
  for (int i = 0; i < 30; ++i) h.Add(5e6);  // preempted measurements
  EXPECT_GE(h.MedianNs(), 40 / 1.2);
  EXPECT_LE(h.MedianNs(), 40 * 1.2);
  h.Clear();
  for (int i = 0; i < 10; ++i) h.Add(3);     // below the first bucket
  EXPECT_LT(h.MedianNs(), 10);
  h.Clear();
  h.Add(1e12);                                // past the last
  EXPECT_GT(h.MedianNs(), 4e5);
}

// What the preloaded learner's events do from many allocating threads at once: counted,
// and each match record written whole before it is handed back.
class SharedRecorder final : public TournamentEvents {
 public:
  void Publish(uintptr_t, int band, Strategy s) override {
    if (!Eligible(s, band)) bad.fetch_add(1);
    publishes.fetch_add(1);
  }
  void Decision(uintptr_t, int band, DecisionKind kind, int, int to, uint64_t) override {
    if (kind != DecisionKind::kTrialsBegin && !Eligible(static_cast<Strategy>(to + 1), band)) {
      bad.fetch_add(1);
    }
    std::lock_guard<std::mutex> l(mu);
    ++decisions[static_cast<int>(kind)];
  }
  MatchRecord* BeginMatch(uint64_t* index) override {
    *index = next.fetch_add(1);
    return &records[*index % kRecords];
  }
  void EndMatch(MatchRecord* r, uint64_t index) override {
    if (r->chosen >= 0 && !Eligible(static_cast<Strategy>(r->chosen + 1), r->band)) {
      bad.fetch_add(1);
    }
    r->seq.store(index + 1, std::memory_order_release);
    matches.fetch_add(1);
  }
  uint64_t NowNs() override { return 0; }

  static constexpr int kRecords = 1 << 16;  // more than the test plays: no slot is shared
  std::atomic<uint64_t> next{0}, matches{0}, publishes{0}, bad{0};
  std::mutex mu;
  uint64_t decisions[5] = {};
  MatchRecord records[kRecords] = {};
};

// The preloaded learner's use: allocating threads report allocations, frees, resizes and
// idle time of shared and private sites in every band while another thread reads the
// table (the telemetry writer's ForEachSite, the prices' medians). Run under
// --config=tsan, this is the tournament's race detector; everywhere, its counts must add up.
TEST(Tournament, ManyThreadsFeedAndReadOneInstance) {
  auto memory = std::make_unique<char[]>(Tournament::MemoryBytes());
  memset(memory.get(), 0, Tournament::MemoryBytes());
  auto events = std::make_unique<SharedRecorder>();
  Tournament t;
  TournamentConfig c;
  c.params = DefaultParams();
  c.params.fault_ns = 1000;
  c.params.explore_rate = 1.0 / 8;
  c.schedule_trials = true;
  c.counterfactuals = true;  // shadow mode's path too: charges every band's others
  t.Start(memory.get(), c, events.get());

  constexpr int kThreads = 8, kRounds = 3000;
  constexpr uintptr_t kShared[] = {0x5000, 0x5001, 0x5002};
  const size_t kSize[kNumBands] = {96 << 10, 1 << 20, 8 << 20};
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> views{0};
  std::thread reader([&] {
    do {  // at least one pass, however late this thread starts
      t.ForEachSite(
          [](uintptr_t, const BandView* bands, void* arg) {
            for (int b = 0; b < kNumBands; ++b) {
              const BandView& v = bands[b];
              // A chosen strategy is eligible, and ratings are finite numbers.
              if (v.chosen >= 0) EXPECT_TRUE(v.eligible[v.chosen]);
              for (int i = 0; i < kNumLearnedStrategies; ++i) {
                EXPECT_TRUE(std::isfinite(v.rating[i]));
              }
            }
            static_cast<std::atomic<uint64_t>*>(arg)->fetch_add(1);
          },
          &views);
      EXPECT_GE(t.median_hit_ns(), 0);
      EXPECT_GE(t.median_pool_ns(), 0);
      std::this_thread::yield();
    } while (!stop.load());
  });
  std::vector<std::thread> feeders;
  for (int th = 0; th < kThreads; ++th) {
    feeders.emplace_back([&, th] {
      for (int r = 0; r < kRounds; ++r) {
        const uintptr_t site = r % 2 == 0 ? kShared[r % 3] : 0x9000 + th;
        const int band = (r / 2) % kNumBands;
        // Each strategy in turn, whatever was published: the route may serve a request
        // by another strategy than decided (fallbacks).
        const Strategy s = static_cast<Strategy>(band == kBandMiddle ? 1 + r % 3 : 2 + r % 2);
        const double ns = 100.0 * (1 + static_cast<int>(s)) + th;
        const uint32_t h = t.OnAlloc(site, band, s, kSize[band], ns, r % 5 != 0);
        if (s == Strategy::kPool) continue;  // pool frees are not followed
        if (r % 7 == 0) t.OnResize(h, s, 50);
        const bool cached = s == Strategy::kBigCache && r % 3 != 0;
        t.OnFree(h, s, kSize[band], 80, kSize[band] / 4096, r % 5 != 0, cached);
        if (cached) t.OnCacheIdle(h, kSize[band], kSize[band], 1e6);
      }
    });
  }
  for (std::thread& f : feeders) f.join();
  stop.store(true);
  reader.join();

  EXPECT_EQ(events->bad.load(), 0u);
  EXPECT_GT(events->matches.load(), 0u);
  EXPECT_GT(views.load(), 0u);
  uint64_t allocations = 0;
  int sites = 0;
  t.ForEachSite(
      [](uintptr_t, const BandView* bands, void* arg) {
        for (int b = 0; b < kNumBands; ++b) {
          *static_cast<uint64_t*>(arg) += bands[b].allocations;
        }
      },
      &allocations);
  t.ForEachSite([](uintptr_t, const BandView*, void* arg) { ++*static_cast<int*>(arg); },
                &sites);
  EXPECT_EQ(allocations, uint64_t{kThreads} * kRounds);  // every report counted once
  EXPECT_EQ(sites, 3 + kThreads);
  EXPECT_EQ(t.unfollowed(), 0u);
  // Every record handed out was finished.
  ASSERT_LT(events->next.load(), uint64_t{SharedRecorder::kRecords});
  for (uint64_t i = 0; i < events->next.load(); ++i) {
    EXPECT_EQ(events->records[i].seq.load(), i + 1);
  }
}

}  // namespace
}  // namespace learner
}  // namespace hakmem
