// The preloaded learner: one Tournament (learner/tournament.h) behind the core's hooks,
// fed with measured costs (cycleclock ticks, mincore'd pages), its decisions published to
// the route table and its matches and decisions kept as curves.
#include "learner/learner.h"

#include <pthread.h>

#include "core/arena.h"
#include "core/cycleclock.h"
#include "core/large.h"
#include "core/learner_hooks.h"
#include "core/options.h"
#include "core/os.h"
#include "core/route_table.h"
#include "learner/curves.h"
#include "learner/elo.h"
#include "learner/fault_cost.h"

namespace hakmem {
namespace learner {
namespace {

// The route table, the curve store and the monotonic clock.
class PreloadEvents final : public TournamentEvents {
 public:
  constexpr PreloadEvents() = default;
  void Publish(uintptr_t site, int band, Strategy s) override {
    PublishRouteDecision(site, band, s);
  }
  void Decision(uintptr_t site, int band, DecisionKind kind, int from, int to,
                uint64_t allocations) override {
    RecordDecision(site, band, kind, from, to, allocations);
  }
  MatchRecord* BeginMatch(uint64_t* index) override { return learner::BeginMatch(index); }
  void EndMatch(MatchRecord* r, uint64_t index) override { learner::EndMatch(r, index); }
  uint64_t NowNs() override { return os::NowNs() - CurvesStartNs(); }
};

// Constant-initialized (see elo.h): the allocator may start learning before dynamic
// initializers run.
PreloadEvents g_events;
Tournament g_tournament;
LearnMode g_mode = LearnMode::kOff;
// Typical figures until MeasureOsCosts replaces them.
constexpr OsCosts kTypicalOsCosts{1000, 2000, 2000, 100};
OsCosts g_os = kTypicalOsCosts;

TournamentConfig ConfigFor(LearnMode mode, const LearnParams& params) {
  TournamentConfig c;
  c.params = params;
  c.os = g_os;
  c.schedule_trials = mode == LearnMode::kLearn;
  c.counterfactuals = mode == LearnMode::kShadow;
  c.model_mmap = mode == LearnMode::kLearn;
  return c;
}

void TournamentAfterFork() { g_tournament.ResetAfterFork(); }

// The site table's memory (arena, zeroed), claimed once.
bool EnsureStarted(LearnMode mode, const LearnParams& params) {
  if (g_tournament.started()) return true;
  void* memory = ArenaAllocate(Tournament::MemoryBytes());
  if (memory == nullptr) return false;
  g_tournament.Start(memory, ConfigFor(mode, params), &g_events);
  pthread_atfork(nullptr, nullptr, TournamentAfterFork);
  return true;
}

}  // namespace

LearnMode Mode() { return g_mode; }
const LearnParams& Params() {
  static constexpr LearnParams kDefaults = DefaultParams();
  return g_tournament.started() ? g_tournament.params() : kDefaults;
}
const OsCosts& MeasuredOsCosts() { return g_os; }
uint64_t UnfollowedAllocations() { return g_tournament.unfollowed(); }
double MeasuredHitNs() {
  const double m = g_tournament.median_hit_ns();
  return m > 0 ? m : g_tournament.hit_ns();
}
double MeasuredPoolNs() {
  const double m = g_tournament.median_pool_ns();
  return m > 0 ? m : g_tournament.pool_ns();
}

void StartMeasuring(LearnMode mode) {
  // Once per process: the tournament keeps the prices it started with, and a second
  // measurement would leave MeasuredOsCosts() (what telemetry reports) disagreeing with
  // them.
  if (g_tournament.started()) return;
  g_mode = mode;
  LearnParams params = DefaultParams();
  params.elo_k_factor = static_cast<double>(GetOption(Option::kLearnK));
  params.min_samples = static_cast<uint64_t>(GetOption(Option::kLearnMinSamples));
  params.commit_margin = static_cast<double>(GetOption(Option::kLearnCommitMargin));
  const int64_t every = GetOption(Option::kLearnExploreEvery);
  params.explore_rate = every == 0 ? 0.0 : 1.0 / static_cast<double>(every);
  params.weight_idle_ns_per_mib_second = static_cast<double>(GetOption(Option::kLearnIdleCost));
  // Huge pages are priced only where they are already decided on (HAKMEM_HUGE_PAGES=1, or
  // the probe ran): calling LargeHugePages() here ran the probe at every learn-mode start,
  // 32 MiB of touched huge pages and up to 20 ms in processes that never map 2 MiB
  // (glibc-simple's peak RSS: 33.4 MiB against 2.1 in mode off). Where the probe decides
  // later, blocks of 2 MiB and up are priced at the small-page rate, 512 faults each.
  g_os = MeasureOsCosts(LargeHugePagesState() == 1);
  params.fault_ns = g_os.fault_ns;
  // Both model direct mapping from other strategies' blocks, reused ones included.
  g_learner_wants_all_pages = mode == LearnMode::kShadow || mode == LearnMode::kLearn;
  // The site table's memory now, not on the first routed request: shadow mode must not
  // change what the program sees, not even one mmap in the middle of its run.
  if (!EnsureStarted(mode, params)) return;
  g_learner_measuring = true;
}

void SetFrozenMode() { g_mode = LearnMode::kFrozen; }

bool ViewSite(uintptr_t site, BandView out[kNumBands]) { return g_tournament.ViewSite(site, out); }

void ForEachSite(void (*fn)(uintptr_t site, const BandView* bands, void* arg), void* arg) {
  g_tournament.ForEachSite(fn, arg);
}

}  // namespace learner

// ---- the core's hooks (core/learner_hooks.h) ----

uint32_t LearnerOnAlloc(uintptr_t site, int band, Strategy s, size_t size, uint64_t ticks,
                        bool fresh) {
  return learner::g_tournament.OnAlloc(site, band, s, size,
                                       static_cast<double>(cycleclock::ToNs(ticks)), fresh);
}

void LearnerOnFree(uint32_t handle, Strategy s, size_t requested, uint64_t ticks,
                   uint64_t touched_pages, bool fresh, bool cached) {
  learner::g_tournament.OnFree(handle, s, requested, static_cast<double>(cycleclock::ToNs(ticks)),
                               touched_pages, fresh, cached);
}

void LearnerOnResize(uint32_t handle, Strategy s, uint64_t ticks) {
  learner::g_tournament.OnResize(handle, s, static_cast<double>(cycleclock::ToNs(ticks)));
}

void LearnerOnCacheIdle(uint32_t handle, size_t bytes, size_t requested, uint64_t idle_ticks) {
  learner::g_tournament.OnCacheIdle(handle, bytes, requested,
                                    static_cast<double>(cycleclock::ToNs(idle_ticks)));
}

}  // namespace hakmem
