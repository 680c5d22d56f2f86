#include "learner/tournament.h"

#include <string.h>

#include <algorithm>
#include <atomic>
#include <initializer_list>

#include "core/fastmath.h"
#include "learner/elo.h"

namespace hakmem {
namespace learner {
namespace {

constexpr int kSiteBits = 12;
static_assert(Tournament::kMaxSites == 1u << kSiteBits, "the hash's range");

// Once a strategy has kFollowAll live samples at a band, one mapped block in kFollowEvery is
// followed: the free of a followed block may count its pages (mincore, a syscall), which
// a site churning big blocks should not pay every time.
constexpr uint64_t kFollowAll = 64;
constexpr uint64_t kFollowEvery = 8;

// An allocation's time is wall-clock time around the strategy's work, so a thread
// preempted in between measures milliseconds that are not the strategy's: one such
// sample outweighs a window of 40 ns pool allocations and loses the pool a match it
// should win. Once a strategy has a window of samples at a band, an allocation time over
// kImplausibleRatio times its mean time per sample there and over kImplausibleFloorNs is
// taken for interference and charged at that mean instead (and counted). Only the
// allocation's time: frees can legitimately take milliseconds (munmap of resident pages,
// BigCache evicting), and those costs stay. A pool refill that faults in fresh span
// memory can also be caught; the pool's faults are not charged anyway (tournament.h).
constexpr double kImplausibleRatio = 64;
constexpr double kImplausibleFloorNs = 50000;

// Learn mode's screen of direct mapping (tournament.h): the model's matches after which
// a direct mapping still not ruled out is tried live. Ruling out a strategy that costs
// 3x the leader takes one match and a 1.5x one about three (K's margin multiplier); one
// the model rates a little dearer but cannot rule out is measured, not left to the model.
constexpr uint32_t kModelMatches = 3;

// A cost in its parts (ns-equivalents, weighted; see tournament.h), for the window since
// a strategy's last match and for all time. Telemetry reports the parts; the tournament
// plays on their sum.
struct CostParts {
  std::atomic<uint64_t> time_ns{0};
  std::atomic<uint64_t> fault_ns{0};
  std::atomic<uint64_t> idle_ns{0};
  std::atomic<uint64_t> faults{0};            // first-touch pages charged
  std::atomic<uint64_t> idle_micro_mib_s{0};  // MiB-seconds held idle, in millionths
  uint64_t Sum() const {
    return time_ns.load(std::memory_order_relaxed) + fault_ns.load(std::memory_order_relaxed) +
           idle_ns.load(std::memory_order_relaxed);
  }
};

struct StrategyStats {
  std::atomic<uint64_t> tries{0};         // allocations served (the trial schedule)
  std::atomic<uint64_t> samples{0};       // allocations whose cost is complete
  std::atomic<uint64_t> modelled{0};      // of those, priced by the model, not served
  std::atomic<uint64_t> window_n{0};      // samples since this strategy's last match
  std::atomic<uint64_t> window_bytes{0};  // bytes requested by those samples
  std::atomic<uint64_t> total_bytes{0};   // bytes requested by all samples
  CostParts window;                       // charged since the last match
  CostParts total;                        // all time
};

}  // namespace

struct Tournament::BandState {
  StrategyStats s[kNumLearnedStrategies];
  std::atomic<uint64_t> allocs{0};
  std::atomic<uint32_t> matches{0};  // written under busy
  std::atomic<bool> busy{false};     // the try-lock over the ratings
  // Ratings as offsets from the initial rating, and the choice as index + 1, so that the
  // zeroed memory of a new slot is already a valid, undecided band. Written under busy,
  // read without it (ViewSite, from the telemetry writer's thread: TSan found the plain
  // doubles racing), hence atomic.
  std::atomic<double> rating_delta[kNumLearnedStrategies];
  std::atomic<int> chosen_plus1{0};
  std::atomic<int> published{0};  // the Strategy last published
  // Pages the program touched in this band's fresh blocks, and the bytes they requested:
  // what a reused block's pages would have cost mapped directly. Its own resident pages
  // say nothing of that, as they include what earlier owners touched (a block BigCache
  // gathered from other sites' pieces is all resident, whatever the program writes).
  std::atomic<uint64_t> fresh_touched{0};
  std::atomic<uint64_t> fresh_requested{0};
  // Learn mode: the model could not rule direct mapping out here, so it is tried live
  // (ScreenMmap). Zeroed: screened.
  std::atomic<bool> mmap_live{false};
  // Tries the trial schedule credits direct mapping with once live: the fewest the others
  // had then, so that its live trials take turns with theirs, not come all at once.
  std::atomic<uint64_t> mmap_schedule_base{0};
};

struct Tournament::Site {
  std::atomic<uintptr_t> key{0};
  BandState band[kNumBands];
};

namespace {

using BandState = Tournament::BandState;
using Site = Tournament::Site;

void Ewma(std::atomic<double>& a, double x) {
  a.store(a.load(std::memory_order_relaxed) * (15.0 / 16) + x / 16, std::memory_order_relaxed);
}

inline bool EligibleIndex(int i, int band) {
  return Eligible(static_cast<Strategy>(i + 1), band);
}

uint32_t Hash(uintptr_t key) {
  return static_cast<uint32_t>((key * 0x9E3779B97F4A7C15ull) >> (64 - kSiteBits));
}

static_assert(Tournament::kMaxProbes <= Tournament::kMaxSites, "probes stay in the table");

// Handles name (site slot, band): nonzero, so 0 can mean "not followed".
uint32_t MakeHandle(uint32_t index, int band) {
  return ((index + 1) << 2) | static_cast<uint32_t>(band);
}
bool SplitHandle(uint32_t h, uint32_t* index, int* band) {
  if (h == 0) return false;
  *index = (h >> 2) - 1;
  *band = static_cast<int>(h & 3);
  return *index < Tournament::kMaxSites && *band < kNumBands;
}

uint64_t Ns(double x) { return SaturatingU64(x); }

// One charge, in parts: weighted time, weighted faults (and their count), weighted idle
// memory (and its MiB-seconds).
struct Cost {
  double time_ns = 0, fault_ns = 0, idle_ns = 0;
  uint64_t faults = 0;
  double idle_mib_s = 0;
};

void Add(CostParts& p, const Cost& c) {
  if (c.time_ns > 0) p.time_ns.fetch_add(Ns(c.time_ns), std::memory_order_relaxed);
  if (c.fault_ns > 0) p.fault_ns.fetch_add(Ns(c.fault_ns), std::memory_order_relaxed);
  if (c.idle_ns > 0) p.idle_ns.fetch_add(Ns(c.idle_ns), std::memory_order_relaxed);
  if (c.faults > 0) p.faults.fetch_add(c.faults, std::memory_order_relaxed);
  if (c.idle_mib_s > 0) {
    p.idle_micro_mib_s.fetch_add(Ns(c.idle_mib_s * 1e6), std::memory_order_relaxed);
  }
}

void Charge(StrategyStats& st, const Cost& c) {
  Add(st.window, c);
  Add(st.total, c);
}

Cost TimeCost(double ns) {
  Cost c;
  c.time_ns = ns;
  return c;
}

// One allocation's cost is whole: it counts in the window, with its size.
void Complete(StrategyStats& st, size_t bytes) {
  const uint64_t b = bytes == 0 ? 1 : bytes;
  st.samples.fetch_add(1, std::memory_order_relaxed);
  st.window_bytes.fetch_add(b, std::memory_order_relaxed);
  st.total_bytes.fetch_add(b, std::memory_order_relaxed);
  st.window_n.fetch_add(1, std::memory_order_relaxed);
}

void Exchange0(std::atomic<uint64_t>& a, uint64_t* out) {
  *out = a.exchange(0, std::memory_order_relaxed);
}

// xorshift on the band's allocation count: exploration needs a fair coin, not a secure one.
double Coin(uint64_t n, uintptr_t key) {
  uint64_t x = n * 0x9E3779B97F4A7C15ull ^ key;
  x ^= x >> 31;
  x *= 0xBF58476D1CE4E5B9ull;
  x ^= x >> 29;
  return static_cast<double>(x >> 11) * (1.0 / 9007199254740992.0);
}

}  // namespace

void TimeHistogram::Add(double ns) {
  int b = 0;
  if (ns >= 8) {
    const uint64_t q = Ns(ns) >> 3;  // in 8 ns units, >= 1 (Ns: saturating)
    const int octave = 63 - __builtin_clzll(q);
    // The two bits below the leading one: the quarter of the octave.
    const int quarter = octave >= 2 ? static_cast<int>((q >> (octave - 2)) & 3)
                                    : static_cast<int>((q << (2 - octave)) & 3);
    b = octave * 4 + quarter;
  }
  if (b >= kBuckets) b = kBuckets - 1;
  counts_[b].fetch_add(1, std::memory_order_relaxed);
}

double TimeHistogram::MedianNs() const {
  uint64_t c[kBuckets], total = 0;
  for (int i = 0; i < kBuckets; ++i) total += c[i] = counts_[i].load(std::memory_order_relaxed);
  if (total == 0) return 0;
  uint64_t seen = 0;
  int b = 0;
  for (; b < kBuckets - 1; ++b) {
    seen += c[b];
    if (2 * seen >= total) break;
  }
  // Bucket b holds [8 * 2^(b/4) * (1 + (b%4)/4), the next bucket's start).
  const double lo = 8.0 * static_cast<double>(uint64_t{1} << (b / 4)) * (1.0 + (b % 4) / 4.0);
  const double hi = 8.0 * static_cast<double>(uint64_t{1} << ((b + 1) / 4)) * (1.0 + ((b + 1) % 4) / 4.0);
  return Sqrt(lo * hi);
}

void TimeHistogram::Clear() {
  for (std::atomic<uint64_t>& c : counts_) c.store(0, std::memory_order_relaxed);
}

size_t Tournament::MemoryBytes() {
  return sizeof(Site) * kMaxSites + sizeof(std::atomic<uint32_t>) * kMaxSites;
}

void Tournament::Start(void* memory, const TournamentConfig& config, TournamentEvents* events) {
  config_ = config;
  // 0 stays 0: the preloaded learner's coin is the seed-0 one.
  seed_mix_ = config.seed * 0xD6E8FEB86659FD93ull;
  events_ = events;
  hit_ns_.store(config.hit_ns, std::memory_order_relaxed);
  pool_ns_.store(config.pool_ns, std::memory_order_relaxed);
  // Zeroed memory is a valid empty table (see BandState).
  used_ = reinterpret_cast<std::atomic<uint32_t>*>(static_cast<char*>(memory) +
                                                    sizeof(Site) * kMaxSites);
  sites_.store(static_cast<Site*>(memory), std::memory_order_release);
}

// The slot of `key`, claimed if new; nullptr when the table is full or missing.
Tournament::Site* Tournament::FindOrInsert(uintptr_t key, uint32_t* index) {
  Site* table = sites_.load(std::memory_order_acquire);
  if (table == nullptr || key == 0) return nullptr;
  uint32_t i = Hash(key);
  for (uint32_t probe = 0; probe < kMaxProbes; ++probe, i = (i + 1) & (kMaxSites - 1)) {
    Site& s = table[i];
    uintptr_t cur = s.key.load(std::memory_order_acquire);
    if (cur == key) {
      *index = i;
      return &s;
    }
    if (cur == 0) {
      if (s.key.compare_exchange_strong(cur, key, std::memory_order_acq_rel)) {
        used_[num_used_.fetch_add(1, std::memory_order_relaxed)].store(i + 1,
                                                                      std::memory_order_release);
        *index = i;
        return &s;
      }
      if (cur == key) {
        *index = i;
        return &s;
      }
    }
  }
  unfollowed_.fetch_add(1, std::memory_order_relaxed);
  return nullptr;
}

uint32_t Tournament::HomeSlot(uintptr_t key) { return Hash(key); }

Tournament::Site* Tournament::SiteAt(uint32_t index) const {
  Site* table = sites_.load(std::memory_order_acquire);
  return table != nullptr && index < kMaxSites ? &table[index] : nullptr;
}

// The band a handle names, its site's key; false for a handle that names nothing.
bool Tournament::Lookup(uint32_t handle, BandState** band_state, int* band,
                        uintptr_t* key) const {
  uint32_t index;
  if (!SplitHandle(handle, &index, band)) return false;
  Site* st = SiteAt(index);
  if (st == nullptr) return false;
  *band_state = &st->band[*band];
  *key = st->key.load(std::memory_order_relaxed);
  return true;
}

void Tournament::Fill(const BandState& b, int band, TableEntry* e) const {
  for (int i = 0; i < kNumLearnedStrategies; ++i) {
    e->eligible[i] = EligibleIndex(i, band);
    e->rating[i] =
        config_.params.elo_initial_rating + b.rating_delta[i].load(std::memory_order_relaxed);
    e->samples[i] = b.s[i].samples.load(std::memory_order_relaxed);
    const uint64_t n = e->samples[i];
    e->mean_cost_ns[i] = n == 0 ? 0.0 : static_cast<double>(b.s[i].total.Sum()) / n;
  }
}

// Every pair of eligible strategies with full windows plays one match on their windows'
// mean cost per allocation; then the decision is re-taken. Runs under the band's try-lock.
void Tournament::RunMatches(uintptr_t key, BandState& b, int band) {
  const LearnParams& params = config_.params;
  int ready[kNumLearnedStrategies];
  int n = 0;
  for (int i = 0; i < kNumLearnedStrategies; ++i) {
    if (!EligibleIndex(i, band)) continue;
    if (b.s[i].window_n.load(std::memory_order_relaxed) < kWindow) return;  // not yet
    ready[n++] = i;
  }
  if (n < 2) return;
  // Matches compare cost per byte requested, not per allocation: at a site whose sizes
  // vary (4-13 MiB snapshots), faults grow with size, and a window that happened to draw
  // big blocks would otherwise lose for its sizes, not its strategy.
  double mean[kNumLearnedStrategies] = {};
  double rating[kNumLearnedStrategies];
  for (int i = 0; i < kNumLearnedStrategies; ++i) {
    rating[i] = params.elo_initial_rating + b.rating_delta[i].load(std::memory_order_relaxed);
  }
  // The windows, taken (and emptied) for the match and its curve record.
  MatchPart part[kNumLearnedStrategies] = {};
  uint8_t played = 0;
  for (int k = 0; k < n; ++k) {
    StrategyStats& st = b.s[ready[k]];
    MatchPart& p = part[ready[k]];
    played |= static_cast<uint8_t>(1u << ready[k]);
    p.window_samples = static_cast<uint32_t>(st.window_n.exchange(0, std::memory_order_relaxed));
    Exchange0(st.window_bytes, &p.window_bytes);
    Exchange0(st.window.time_ns, &p.time_ns);
    Exchange0(st.window.fault_ns, &p.fault_ns);
    Exchange0(st.window.idle_ns, &p.idle_ns);
    Exchange0(st.window.faults, &p.faults);
    Exchange0(st.window.idle_micro_mib_s, &p.idle_micro_mib_s);
    const uint64_t wc = p.time_ns + p.fault_ns + p.idle_ns;
    const uint64_t wb = p.window_bytes;
    mean[ready[k]] = static_cast<double>(wc) / static_cast<double>(wb == 0 ? 1 : wb);
  }
  for (int x = 0; x < n; ++x) {
    for (int y = x + 1; y < n; ++y) {
      const int a = ready[x], c = ready[y];
      UpdateRatings(&rating[a], &rating[c], MatchScore(mean[a], mean[c], params.draw_margin),
                    params, MarginMultiplier(mean[a], mean[c]));
    }
  }
  for (int i = 0; i < kNumLearnedStrategies; ++i) {
    b.rating_delta[i].store(rating[i] - params.elo_initial_rating, std::memory_order_relaxed);
  }
  TableEntry e{};
  Fill(b, band, &e);
  int chosen = Decide(e, params);
  if (ModelsMmap(b, band)) ScreenMmap(b, e, b.matches.load(std::memory_order_relaxed) + 1, &chosen);
  const int before = b.chosen_plus1.load(std::memory_order_relaxed) - 1;
  // A commitment stands until another strategy clears the margin: one close window must
  // not send a decided site back to trying everything.
  if (chosen < 0) chosen = before;
  b.chosen_plus1.store(chosen + 1, std::memory_order_relaxed);
  const uint32_t number = b.matches.fetch_add(1, std::memory_order_relaxed) + 1;
  const uint64_t allocs = b.allocs.load(std::memory_order_relaxed);
  if (chosen != before) {
    events_->Decision(key, band, before < 0 ? DecisionKind::kCommit : DecisionKind::kSwitch,
                      before, chosen, allocs);
  }
  uint64_t index;
  if (MatchRecord* r = events_->BeginMatch(&index)) {
    r->site = key;
    r->time_ns = events_->NowNs();
    r->allocations = allocs;
    r->number = number;
    r->band = static_cast<int8_t>(band);
    r->chosen = static_cast<int8_t>(chosen);
    r->played = played;
    for (int i = 0; i < kNumLearnedStrategies; ++i) {
      part[i].rating = static_cast<float>(e.rating[i]);
      part[i].samples = e.samples[i];
      r->part[i] = part[i];
    }
    events_->EndMatch(r, index);
  }
}

// Learn mode: whether direct mapping is still priced by the model at this band.
bool Tournament::ModelsMmap(const BandState& b, int band) const {
  return config_.model_mmap && EligibleIndex(kIdxMmap, band) &&
         !b.mmap_live.load(std::memory_order_relaxed);
}

// After the `number`th match of a band whose direct mapping the model priced: if the model
// rates it above every other strategy, or has played kModelMatches without putting it
// commit_margin behind the leader, it is tried live from now on. A choice of it waits for
// a match on live samples. A tie is not enough: a band's first BigCache window is mostly
// misses into a cold cache, fresh mappings that cost what a direct mapping does, so the
// first match drew, and malloc-large's 5-25 MiB band then paid 30 live trials of about
// 3800 faults each (266k minor faults against mode off's 126k) before BigCache, warm,
// committed; two more modelled matches rule direct mapping out.
void Tournament::ScreenMmap(BandState& b, const TableEntry& e, uint32_t number, int* chosen) {
  double top = 0;
  bool any = false;
  uint64_t fewest = 0;  // the others' fewest tries: where its live trials join the schedule
  for (int i = 0; i < kNumLearnedStrategies; ++i) {
    if (i == kIdxMmap || !e.eligible[i]) continue;
    const uint64_t t = b.s[i].tries.load(std::memory_order_relaxed);
    if (!any || e.rating[i] > top) top = e.rating[i];
    if (!any || t < fewest) fewest = t;
    any = true;
  }
  const double behind = top - e.rating[kIdxMmap];
  if (!any || behind < 0 || (number >= kModelMatches && behind < config_.params.commit_margin)) {
    b.mmap_schedule_base.store(fewest, std::memory_order_relaxed);
    b.mmap_live.store(true, std::memory_order_relaxed);
  }
  if (*chosen == kIdxMmap) *chosen = -1;
}

// Learn mode: which strategy serves this site's next allocation in `band`.
int Tournament::NextTrial(uintptr_t key, BandState& b, int band) {
  const int chosen = b.chosen_plus1.load(std::memory_order_relaxed) - 1;
  if (chosen < 0) {
    // Undecided: the eligible strategy with the fewest tries, so each fills its windows;
    // direct mapping only once the model could not rule it out.
    const bool screened = ModelsMmap(b, band);
    int best = -1;
    uint64_t fewest = 0;
    for (int i = 0; i < kNumLearnedStrategies; ++i) {
      if (!EligibleIndex(i, band) || (screened && i == kIdxMmap)) continue;
      uint64_t t = b.s[i].tries.load(std::memory_order_relaxed);
      if (i == kIdxMmap) t += b.mmap_schedule_base.load(std::memory_order_relaxed);
      if (best < 0 || t < fewest) best = i, fewest = t;
    }
    return best;  // BigCache is eligible everywhere: never only a screened direct mapping
  }
  // Decided: explore each loser with probability explore_rate, scaled down by how much
  // costlier it is (a strategy 1000x dearer is tried 1000x less often), so exploring
  // costs the site at most about explore_rate of its running cost.
  const uint64_t n = b.allocs.load(std::memory_order_relaxed);
  const uint64_t cn = b.s[chosen].samples.load(std::memory_order_relaxed);
  const double chosen_mean = cn == 0 ? 0 : static_cast<double>(b.s[chosen].total.Sum()) / cn;
  double u = Coin(n, key ^ seed_mix_);
  for (int i = 0; i < kNumLearnedStrategies; ++i) {
    if (i == chosen || !EligibleIndex(i, band)) continue;
    const uint64_t ln = b.s[i].samples.load(std::memory_order_relaxed);
    const double loser_mean = ln == 0 ? 0 : static_cast<double>(b.s[i].total.Sum()) / ln;
    double p = config_.params.explore_rate;
    if (loser_mean > chosen_mean && loser_mean > 0) p *= chosen_mean / loser_mean;
    if (u < p) {
      events_->Decision(key, band, DecisionKind::kExplore, chosen, i, n);
      return i;
    }
    u -= p;
  }
  return chosen;
}

// Learn mode: publishes the strategy for this site's next allocation in `band`.
void Tournament::ScheduleNextTrial(uintptr_t key, BandState& b, int band) {
  if (!config_.schedule_trials) return;
  const int next = NextTrial(key, b, band);
  if (next < 0) return;
  const int s = next + 1;
  if (b.published.load(std::memory_order_relaxed) == s) return;
  b.published.store(s, std::memory_order_relaxed);
  events_->Publish(key, band, static_cast<Strategy>(s));
}

void Tournament::AfterSample(uintptr_t key, BandState& b, int band) {
  bool expected = false;
  if (b.busy.load(std::memory_order_relaxed) ||
      !b.busy.compare_exchange_strong(expected, true, std::memory_order_acquire)) {
    return;  // another thread is running this band's tournament: skip, never wait
  }
  RunMatches(key, b, band);
  b.busy.store(false, std::memory_order_release);
}

// Shadow mode, and learn mode's screen of direct mapping (which charges that one only):
// charges the strategies that did not run with what this allocation would have cost under
// them, from the unit costs measured at start-up and as the process
// runs. The model: direct mapping maps and unmaps once and faults on every touched page;
// a BigCache hit costs what measured hits cost (idle time unknown: not charged); the
// pool costs what measured pool allocations cost.
void Tournament::ChargeCounterfactuals(uintptr_t key, BandState& b, int band, int real,
                                       size_t bytes, uint64_t touched) {
  const LearnParams& params = config_.params;
  const OsCosts& os = config_.os;
  for (int i = 0; i < kNumLearnedStrategies; ++i) {
    if (i == real || !EligibleIndex(i, band)) continue;
    if (!config_.counterfactuals && i != kIdxMmap) continue;  // learn mode's screen
    Cost cost;
    switch (i) {
      case kIdxMmap:
        cost.time_ns = (os.map_call_ns + os.unmap_call_ns +
                        static_cast<double>(touched) * os.unmap_page_ns) *
                       params.weight_time;
        cost.fault_ns =
            static_cast<double>(touched) * PagePrice(bytes, os.fault_ns) * params.weight_faults;
        cost.faults = touched;
        break;
      case kIdxBigCache:
        cost = TimeCost(hit_ns_.load(std::memory_order_relaxed) * params.weight_time);
        break;
      default:
        cost = TimeCost(pool_ns_.load(std::memory_order_relaxed) * params.weight_time);
        break;
    }
    StrategyStats& st = b.s[i];
    st.modelled.fetch_add(1, std::memory_order_relaxed);
    Charge(st, cost);
    Complete(st, bytes);
  }
  AfterSample(key, b, band);
}

uint32_t Tournament::OnAlloc(uintptr_t site, int band, Strategy s, size_t size, double ns,
                             bool fresh) {
  const int idx = static_cast<int>(s) - 1;
  if (idx < 0 || idx >= kNumLearnedStrategies || band < 0 || band >= kNumBands) return 0;
  uint32_t index;
  Site* st = FindOrInsert(site, &index);
  if (st == nullptr) return 0;
  BandState& b = st->band[band];
  const uint64_t n = b.allocs.fetch_add(1, std::memory_order_relaxed);
  if (n == 0) events_->Decision(site, band, DecisionKind::kTrialsBegin, -1, idx, 1);
  StrategyStats& ss = b.s[idx];
  // One in kFollowEvery of this strategy's own tries, not of the band's allocations:
  // strategies that take turns (an undecided band's trials alternate) would otherwise
  // fall on fixed residues of the band's count, and one of them would never be followed
  // again, its window never fill, and the band never play another match.
  const uint64_t tried = ss.tries.fetch_add(1, std::memory_order_relaxed);
  if (s != Strategy::kPool &&
      ss.samples.load(std::memory_order_relaxed) - ss.modelled.load(std::memory_order_relaxed) >=
          kFollowAll &&
      tried % kFollowEvery != 0) {
    ScheduleNextTrial(site, b, band);
    return 0;
  }
  const uint64_t samples = ss.samples.load(std::memory_order_relaxed);
  if (samples >= kWindow && ns > kImplausibleFloorNs) {
    const double mean = static_cast<double>(ss.total.time_ns.load(std::memory_order_relaxed)) /
                        static_cast<double>(samples) / config_.params.weight_time;
    if (ns > kImplausibleRatio * mean) {
      implausible_.fetch_add(1, std::memory_order_relaxed);
      ns = mean;
    }
  }
  Charge(ss, TimeCost(ns * config_.params.weight_time));
  if (s == Strategy::kBigCache && !fresh) {
    Ewma(hit_ns_, ns);
    hit_times_.Add(ns);
  }
  // A pool block's cost is complete now (its free is not followed); a mapped block's
  // when it is freed.
  if (s == Strategy::kPool) {
    Ewma(pool_ns_, ns);
    pool_times_.Add(ns);
    Complete(ss, size);
    AfterSample(site, b, band);
    // Its touched pages are unknown. Shadow mode charges a fresh mapping of it all of
    // them; learn mode's screen none, a lower bound (see OnFree).
    if (config_.counterfactuals || ModelsMmap(b, band)) {
      ChargeCounterfactuals(site, b, band, idx, size,
                            config_.counterfactuals ? (size + 4095) / 4096 : 0);
    }
  }
  ScheduleNextTrial(site, b, band);
  return MakeHandle(index, band);
}

void Tournament::OnFree(uint32_t handle, Strategy s, size_t requested, double ns,
                        uint64_t touched_pages, bool fresh, bool cached) {
  const int idx = static_cast<int>(s) - 1;
  BandState* bs;
  int band;
  uintptr_t key;
  if (idx < 0 || idx >= kNumLearnedStrategies || !Lookup(handle, &bs, &band, &key)) return;
  BandState& b = *bs;
  StrategyStats& ss = b.s[idx];
  // Only a fresh block's touches were faults; a reused block's pages were resident.
  const double faults = fresh ? static_cast<double>(touched_pages) : 0.0;
  Cost cost = TimeCost(ns * config_.params.weight_time);
  cost.fault_ns =
      faults * PagePrice(requested, config_.params.fault_ns) * config_.params.weight_faults;
  cost.faults = fresh ? touched_pages : 0;
  Charge(ss, cost);
  // A block waiting in BigCache has a cost still running (the memory it holds idle): it
  // counts as a sample when that ends, so no window compares BigCache without it.
  if (!cached) {
    Complete(ss, requested);
    AfterSample(key, b, band);
  }
  if (fresh) {
    b.fresh_touched.fetch_add(touched_pages, std::memory_order_relaxed);
    b.fresh_requested.fetch_add(requested, std::memory_order_relaxed);
  }
  if (!config_.counterfactuals && (idx == kIdxMmap || !ModelsMmap(b, band))) return;
  uint64_t touched = touched_pages;
  const uint64_t seen = b.fresh_requested.load(std::memory_order_relaxed);
  if (!fresh && seen != 0) {  // resident pages are an upper bound here, the band's rate a guess
    const double rate = static_cast<double>(b.fresh_touched.load(std::memory_order_relaxed)) /
                        static_cast<double>(seen);
    touched = std::min(touched, SaturatingU64(rate * static_cast<double>(requested)));
  } else if (!fresh && !config_.counterfactuals) {
    // Learn mode's screen, with no fresh block of the band seen: the upper bound would rule
    // direct mapping out on pages earlier owners touched (a site whose blocks all come
    // from BigCache, filled by a site that wrote every page, was priced 8 ms a block
    // instead of the 0.1 ms it measures live). The screen takes the lower bound, none: it
    // rules direct mapping out only where even that loses.
    touched = 0;
  }
  ChargeCounterfactuals(key, b, band, idx, requested, touched);
}

void Tournament::OnResize(uint32_t handle, Strategy s, double ns) {
  const int idx = static_cast<int>(s) - 1;
  BandState* b;
  int band;
  uintptr_t key;
  if (idx < 0 || idx >= kNumLearnedStrategies || !Lookup(handle, &b, &band, &key)) return;
  // Part of the allocation's cost: charged, not counted as a sample of its own.
  Charge(b->s[idx], TimeCost(ns * config_.params.weight_time));
}

void Tournament::OnCacheIdle(uint32_t handle, size_t bytes, size_t requested, double idle_ns) {
  BandState* b;
  int band;
  uintptr_t key;
  if (!Lookup(handle, &b, &band, &key)) return;
  const double mib_seconds = static_cast<double>(bytes) / (1024.0 * 1024.0) * idle_ns * 1e-9;
  Cost cost;
  cost.idle_ns = mib_seconds * config_.params.weight_idle_ns_per_mib_second;
  cost.idle_mib_s = mib_seconds;
  Charge(b->s[kIdxBigCache], cost);
  Complete(b->s[kIdxBigCache], requested);  // the block's cost is whole now (see OnFree)
  AfterSample(key, *b, band);
}

void Tournament::ResetAfterFork() {
  Site* table = sites_.load(std::memory_order_acquire);
  if (table == nullptr) return;
  for (uint32_t i = 0; i < kMaxSites; ++i) {
    for (BandState& b : table[i].band) b.busy.store(false, std::memory_order_relaxed);
  }
}

bool Tournament::ViewSite(uintptr_t key, BandView out[kNumBands]) const {
  Site* table = sites_.load(std::memory_order_acquire);
  if (table == nullptr || key == 0) return false;
  uint32_t i = Hash(key);
  for (uint32_t probe = 0; probe < kMaxProbes; ++probe, i = (i + 1) & (kMaxSites - 1)) {
    const uintptr_t cur = table[i].key.load(std::memory_order_acquire);
    if (cur == 0) return false;
    if (cur != key) continue;
    for (int band = 0; band < kNumBands; ++band) {
      const BandState& b = table[i].band[band];
      TableEntry e{};
      Fill(b, band, &e);
      BandView& v = out[band];
      v.allocations = b.allocs.load(std::memory_order_relaxed);
      v.seen = v.allocations != 0;
      v.matches = b.matches.load(std::memory_order_relaxed);
      v.chosen = b.chosen_plus1.load(std::memory_order_relaxed) - 1;
      for (int k = 0; k < kNumLearnedStrategies; ++k) {
        v.eligible[k] = e.eligible[k];
        v.rating[k] = e.rating[k];
        v.samples[k] = e.samples[k];
        v.mean_cost_ns[k] = e.mean_cost_ns[k];
        const StrategyStats& st = b.s[k];
        StrategyTotals& t = v.totals[k];
        t.tries = st.tries.load(std::memory_order_relaxed);
        t.modelled = st.modelled.load(std::memory_order_relaxed);
        t.sample_bytes = st.total_bytes.load(std::memory_order_relaxed);
        t.time_ns = st.total.time_ns.load(std::memory_order_relaxed);
        t.fault_ns = st.total.fault_ns.load(std::memory_order_relaxed);
        t.idle_ns = st.total.idle_ns.load(std::memory_order_relaxed);
        t.faults = st.total.faults.load(std::memory_order_relaxed);
        t.idle_mib_s =
            static_cast<double>(st.total.idle_micro_mib_s.load(std::memory_order_relaxed)) * 1e-6;
      }
    }
    return true;
  }
  return false;
}

void Tournament::ForEachSite(void (*fn)(uintptr_t site, const BandView* bands, void* arg),
                             void* arg) const {
  Site* table = sites_.load(std::memory_order_acquire);
  if (table == nullptr) return;
  uint32_t n = num_used_.load(std::memory_order_acquire);
  if (n > kMaxSites) n = kMaxSites;
  for (uint32_t k = 0; k < n; ++k) {
    const uint32_t i = used_[k].load(std::memory_order_acquire);
    if (i == 0) continue;  // being claimed right now
    const uintptr_t key = table[i - 1].key.load(std::memory_order_acquire);
    if (key == 0) continue;
    BandView v[kNumBands];
    if (ViewSite(key, v)) fn(key, v, arg);
  }
}

}  // namespace learner
}  // namespace hakmem
