#include "py/replay.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <algorithm>
#include <memory>
#include <queue>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "bigcache/big_cache.h"
#include "core/large.h"
#include "core/types.h"
#include "core/version.h"
#include "learner/elo.h"
#include "learner/fault_cost.h"
#include "learner/tournament.h"
#include "tools/input_file.h"
#include "tools/merge.h"
#include "tools/site_view.h"
#include "tools/table_file.h"
#include "tools/telemetry_to_table.h"
#include "tools/trace_file.h"

namespace hakmem {
namespace py {
namespace {

using learner::DecisionKind;
using learner::MatchRecord;
using learner::TraceRecord;

// The preload's defaults where the recorded run does not say (core/options.cc).
constexpr uint64_t kDefaultBigCacheBytes = 64 << 20;
constexpr uint64_t kDefaultDecayMs = 250;
// learner.cc's typical figures, for a trace replayed without its telemetry.
constexpr learner::OsCosts kTypicalOsCosts{1000, 2000, 2000, 100};
constexpr double kTypicalHitNs = 300, kTypicalPoolNs = 50;

struct Prices {
  learner::OsCosts os;
  double hit_ns, pool_ns;
};

// A cached block's record of who freed it and when, for its idle time.
struct Stamp {
  bool in_cache;
  uint32_t handle;  // the tournament's (0: not followed; the idle still counts in Summary)
  int band;
  uintptr_t site;
  size_t requested;
  uint64_t put_ns;
};

// A stand-in for a direct mapping: what the engine knows of it.
struct FakeMapping {
  uint64_t resident_pages;  // the most any user of it touched: what an munmap would find
};

// BigCache's regions here are address ranges and nothing else (the heap never touches
// the memory it manages, big_cache.h): handed out from far above any real mapping.
constexpr uintptr_t kFakeRegionBase = uintptr_t{1} << 46;

struct Block {
  uintptr_t site;
  int band;
  Strategy strategy;  // what serves it (the route's choice, or mmap where BigCache cannot)
  size_t requested;
  FakeMapping* mapping;  // a direct mapping's; nullptr for the pool and BigCache
  uintptr_t extent;      // BigCache's memory for it
  size_t mapping_size;
  bool fresh;
  uint32_t handle;
  uint64_t alloc_ns;
  uint64_t serial;
};

// What every request of a (site, band) cost under the model, followed or not.
struct BandCost {
  uint64_t allocations = 0;
  uint64_t served[learner::kNumLearnedStrategies] = {};
  double time_ns = 0, fault_ns = 0, idle_ns = 0, idle_mib_s = 0;
  uint64_t faults = 0;
  int64_t first_commit_allocations = -1;
  int64_t first_commit_ns = -1;
  // Blocks whose frees were seen: for the frees of pool-served ones, which were not.
  uint64_t seen_frees = 0;
  double lifetime_ns_sum = 0, touched_fraction_sum = 0;
};

struct SiteProfile {
  uint64_t allocs = 0, frees = 0, bytes = 0;
  // Bytes of the site's blocks in live_, so never below zero. A trace's sizes are any
  // 64-bit values (a fuzzed or damaged one is still read): 128 bits hold any sum of them,
  // and the telemetry's int64 gets the figure capped (Live64).
  unsigned __int128 live = 0, peak = 0;
};

int64_t Live64(unsigned __int128 v) {
  return v > static_cast<unsigned __int128>(INT64_MAX) ? INT64_MAX : static_cast<int64_t>(v);
}

// A free the trace does not have (see replay.h): when, and which block (by address and
// allocation serial, since the address may have been reused by then).
struct PendingFree {
  uint64_t time_ns;
  uint64_t serial;
  uint64_t address;
  bool operator>(const PendingFree& o) const {
    return time_ns != o.time_ns ? time_ns > o.time_ns : serial > o.serial;
  }
};

// TraceRecord.kind (learner/trace.h).
constexpr uint8_t kTraceAlloc = 1, kTraceFree = 2, kTraceResize = 3;

// A (site key, band): site keys use all 64 bits.
using BandKey = std::pair<uint64_t, int>;

uint64_t Pages(size_t bytes) { return (bytes + kPageSize - 1) / kPageSize; }

// As LargeAlloc sizes a mapping for an alignment of at most 16.
size_t MappingBytes(size_t size) {
  return PageRound(size + sizeof(LargeHeader));
}

table::Strategy ProtoStrategy(int index) {
  return index < 0 ? table::STRATEGY_NONE : static_cast<table::Strategy>(index + 1);
}

uint64_t NowUnixMs() {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000 + static_cast<uint64_t>(ts.tv_nsec) / 1000000;
}

void ToProto(const learner::LearnParams& p, table::LearnParams* out) {
  out->set_elo_initial_rating(p.elo_initial_rating);
  out->set_elo_k_factor(p.elo_k_factor);
  out->set_elo_scale_points(p.elo_scale);
  out->set_draw_margin_fraction(p.draw_margin);
  out->set_min_samples(p.min_samples);
  out->set_commit_margin_points(p.commit_margin);
  out->set_explore_rate_fraction(p.explore_rate);
  out->set_weight_time(p.weight_time);
  out->set_weight_faults(p.weight_faults);
  out->set_weight_idle_ns_per_mib_second(p.weight_idle_ns_per_mib_second);
  out->set_fault_cost_ns(p.fault_ns);
}

class ReplayImpl;
// BigCache's Env is plain function pointers: they find the replay being stepped on this
// thread (Step sets it).
thread_local ReplayImpl* t_replay = nullptr;
uint64_t EnvNow();
char* EnvMap(size_t size, bool huge);
void EnvUnmap(char* p, size_t size);
void EnvRelease(char* p, size_t size);
void EnvRetire(char* p, size_t size);

class ReplayImpl final : public Replay, public learner::TournamentEvents {
 public:
  ReplayImpl(tools::TraceFile trace, telemetry::Telemetry recorded, bool has_recorded,
             const learner::TournamentConfig& tc, const ReplayConfig& config, uint64_t bigcache_bytes,
             uint64_t decay_ms, int recorded_run)
      : trace_(std::move(trace)),
        recorded_(std::move(recorded)),
        has_recorded_(has_recorded),
        recorded_run_(recorded_run),
        config_(config),
        tc_(tc),
        cache_(bigcache::Env{&EnvNow, &EnvMap, &EnvUnmap, &EnvRelease, &EnvRetire, nullptr},
               bigcache_bytes),
        bigcache_bytes_(bigcache_bytes),
        decay_ns_(decay_ms * 1000000),
        memory_(calloc(1, learner::Tournament::MemoryBytes())) {
    tournament_.Start(memory_, tc_, this);
    if (has_recorded_) {
      for (const telemetry::Site& s : recorded_.sites()) {
        if (!s.overflow()) site_ids_.emplace(s.key(), s.id());
      }
    }
  }

  ~ReplayImpl() override {
    // Direct mappings still live: the stand-ins are the engine's to free. BigCache's
    // page maps are real memory.
    Bind bind(this);
    cache_.Drop();
    for (auto& [address, b] : live_) delete b.mapping;
    free(memory_);
  }

  size_t events() const override { return trace_.size(); }
  size_t position() const override { return position_; }

  bool Step(size_t n) override {
    Bind bind(this);
    const size_t end = std::min(trace_.size(), position_ + (n > trace_.size() ? trace_.size() : n));
    for (; position_ < end; ++position_) Play(trace_[position_]);
    return position_ == trace_.size();
  }

  telemetry::Telemetry Result() const override;
  Frame Summary() const override;
  absl::Status Freeze(const std::string& path) const override;

  // ---- TournamentEvents ----
  void Publish(uintptr_t site, int band, Strategy s) override { published_[BandKey(site, band)] = s; }

  void Decision(uintptr_t site, int band, DecisionKind kind, int from, int to,
                uint64_t allocations) override {
    telemetry::Decision* d = out_.add_decisions();
    d->set_site_id(SiteId(site));
    d->set_band(static_cast<table::SizeBand>(band));
    d->set_kind(static_cast<telemetry::DecisionKind>(kind));
    d->set_from(ProtoStrategy(from));
    d->set_to(ProtoStrategy(to));
    d->set_time_ns(now_);
    d->set_allocations(allocations);
    BandCost& c = costs_[BandKey(site, band)];
    if (kind == DecisionKind::kCommit && c.first_commit_allocations < 0) {
      c.first_commit_allocations = static_cast<int64_t>(allocations);
      c.first_commit_ns = static_cast<int64_t>(now_);
    }
  }

  MatchRecord* BeginMatch(uint64_t* index) override {
    *index = 0;
    return &scratch_;
  }

  void EndMatch(MatchRecord* r, uint64_t) override {
    telemetry::Match* m = out_.add_matches();
    m->set_site_id(SiteId(r->site));
    m->set_band(static_cast<table::SizeBand>(r->band));
    m->set_number(r->number);
    m->set_allocations(r->allocations);
    m->set_time_ns(r->time_ns);
    m->set_chosen(ProtoStrategy(r->chosen));
    for (int k = 0; k < learner::kNumLearnedStrategies; ++k) {
      if ((r->played & (1u << k)) == 0) continue;
      const learner::MatchPart& p = r->part[k];
      telemetry::MatchResult* x = m->add_results();
      x->set_strategy(ProtoStrategy(k));
      x->set_rating_elo(p.rating);
      x->set_window_samples(p.window_samples);
      x->set_window_bytes(p.window_bytes);
      x->set_time_ns(static_cast<double>(p.time_ns));
      x->set_fault_ns(static_cast<double>(p.fault_ns));
      x->set_idle_ns(static_cast<double>(p.idle_ns));
      x->set_cost_ns(x->time_ns() + x->fault_ns() + x->idle_ns());
      x->set_faults(p.faults);
      x->set_idle_mib_seconds(static_cast<double>(p.idle_micro_mib_s) * 1e-6);
    }
  }

  uint64_t NowNs() override { return now_; }

  // ---- BigCache's Env ----
  uint64_t now() const { return now_; }

  char* FakeRegion(size_t size) {
    const uintptr_t p = next_region_;
    next_region_ += (size + (size_t{2} << 20) - 1) & ~((size_t{2} << 20) - 1);
    return reinterpret_cast<char*>(p);
  }

  // BigCache releases free pages (over its bound, or idle past the decay period): priced
  // as an unmap of all of them, an upper bound (some may never have been touched).
  void Released(size_t size) {
    evicted_ns_ += tc_.os.unmap_call_ns + static_cast<double>(Pages(size)) * tc_.os.unmap_page_ns;
  }

  // The memory of the block freed at p stops being idle (big_cache.h, Env::retire).
  void Retire(uintptr_t p, size_t size) {
    auto it = stamps_.find(p);
    if (it == stamps_.end()) return;
    const Stamp s = it->second;
    stamps_.erase(it);
    CloseStamp(s, size != 0 ? size : s.requested);
  }


 private:
  struct Bind {
    explicit Bind(ReplayImpl* r) : saved(t_replay) { t_replay = r; }
    ~Bind() { t_replay = saved; }
    ReplayImpl* saved;
  };

  uint64_t SiteId(uintptr_t key) const {
    auto [it, fresh] = site_ids_.try_emplace(key, 0);
    if (fresh) {
      // A site the recorded telemetry does not name (or no telemetry): known by its key.
      it->second = static_cast<uint64_t>(recorded_.sites_size()) + extra_sites_.size() + 1;
      extra_sites_.push_back(key);
    }
    return it->second;
  }

  Strategy Choose(uintptr_t site, int band) const {
    Strategy s = Strategy::kNone;
    if (config_.mode == ReplayConfig::Mode::kLearn) {
      auto it = published_.find(BandKey(site, band));
      if (it != published_.end()) s = it->second;
    } else if (config_.mode == ReplayConfig::Mode::kFixed) {
      s = config_.fixed;
    }
    if (s == Strategy::kNone) s = DefaultStrategy(band);
    if (!Eligible(s, band)) s = Strategy::kBigCache;  // as RouteChoose
    return s;
  }

  void Play(const TraceRecord& r) {
    // One clock for the cache and the curves, never going back (records of different
    // threads are only nearly in order).
    if (r.time_ns > now_) now_ = r.time_ns;
    const uint64_t now = now_;
    while (!pending_.empty() && pending_.top().time_ns <= now) {
      const PendingFree p = pending_.top();
      pending_.pop();
      auto it = live_.find(p.address);
      if (it == live_.end() || it->second.serial != p.serial) continue;  // gone already
      now_ = std::max(p.time_ns, last_event_ns_);
      Free(it, EstimatedTouched(it->second), false);
    }
    now_ = now;
    last_event_ns_ = now;
    MaybeDecay();
    switch (r.kind) {
      case kTraceAlloc:
        Alloc(r);
        break;
      case kTraceFree: {
        auto it = live_.find(r.address);
        if (it == live_.end()) {
          ++unknown_frees_;  // allocated before the trace began, or its record was dropped
          break;
        }
        Free(it, r.touched_pages, true);
        break;
      }
      case kTraceResize:
        Resize(r);
        break;
    }
  }

  // The live learner's decay pass (core/decay.cc): a few per decay period.
  void MaybeDecay() {
    if (now_ < next_decay_ns_) return;
    next_decay_ns_ = now_ + decay_ns_ / 4 + 1000000;
    evicted_ns_ = 0;
    cache_.Release(now_, decay_ns_);
  }

  // Pages a block whose free was not seen touched: the (site, band)'s mean fraction of
  // the blocks whose frees were, else all of them.
  uint64_t EstimatedTouched(const Block& b) const {
    auto it = costs_.find(BandKey(b.site, b.band));
    const double f = it == costs_.end() || it->second.seen_frees == 0
                         ? 1.0
                         : it->second.touched_fraction_sum / it->second.seen_frees;
    return static_cast<uint64_t>(llround(f * static_cast<double>(Pages(b.requested))));
  }

  void Alloc(const TraceRecord& r) {
    const uintptr_t site = r.site;
    const size_t size = r.size;
    const int band = BandOf(size);
    // The address is handed out again: whatever had it is freed by now.
    if (auto it = live_.find(r.address); it != live_.end()) Free(it, EstimatedTouched(it->second), false);
    const Strategy s = Choose(site, band);
    Block b{};
    b.site = site;
    b.band = band;
    b.strategy = s;
    b.requested = size;
    b.alloc_ns = now_;
    b.serial = ++serial_;
    double ns;
    if (s == Strategy::kPool) {
      ns = prices_pool();
    } else {
      const size_t need = MappingBytes(size);
      if (s == Strategy::kBigCache) {
        size_t got = 0;
        bool fresh = true;
        // As LargeAlloc: huge-page regions for blocks that get huge pages in the run.
        const bool huge = tc_.os.huge_fault_ns > 0 && need >= kHugeBlockBytes;
        char* m = cache_.Take(need, huge, &got, &fresh);
        if (m == nullptr) {
          b.strategy = Strategy::kMmap;  // past the largest block: mapped directly
        } else {
          b.extent = reinterpret_cast<uintptr_t>(m);
          b.mapping_size = got;
          b.fresh = fresh;
          if (!fresh) Retire(b.extent, got);
        }
      }
      if (b.strategy == Strategy::kMmap) {
        b.mapping = new FakeMapping{};
        b.mapping_size = need;
        b.fresh = true;
      }
      // A hit costs the run's measured hit cost; a fresh mapping one mmap call.
      ns = b.fresh ? tc_.os.map_call_ns : tc_.hit_ns;
    }
    b.handle = tournament_.OnAlloc(site, band, s, size, ns, b.fresh);
    BandCost& c = costs_[BandKey(site, band)];
    ++c.allocations;
    ++c.served[static_cast<int>(b.strategy) - 1];
    c.time_ns += ns * tc_.params.weight_time;
    SiteProfile& p = profiles_[site];
    ++p.allocs;
    p.bytes += size;
    p.live += size;
    p.peak = std::max(p.peak, p.live);
    // The recorded run served it from the pool: no free record will come.
    if (r.strategy == static_cast<uint8_t>(Strategy::kPool)) {
      const double lifetime = c.seen_frees == 0 ? 0.0 : c.lifetime_ns_sum / c.seen_frees;
      const uint64_t after = learner::SaturatingU64(lifetime);
      pending_.push(PendingFree{after > UINT64_MAX - now_ ? UINT64_MAX : now_ + after, b.serial,
                                r.address});
    }
    live_[r.address] = b;
  }

  void Free(absl::flat_hash_map<uint64_t, Block>::iterator it, uint64_t touched, bool seen) {
    const Block b = it->second;
    live_.erase(it);
    BandCost& c = costs_[BandKey(b.site, b.band)];
    if (seen) {
      ++c.seen_frees;
      c.lifetime_ns_sum += static_cast<double>(now_ - std::min(now_, b.alloc_ns));
      c.touched_fraction_sum +=
          std::min(1.0, static_cast<double>(touched) / static_cast<double>(Pages(b.requested)));
    }
    SiteProfile& p = profiles_[b.site];
    ++p.frees;
    p.live -= b.requested;
    if (b.strategy == Strategy::kPool) return;  // not followed, as in the preload
    double ns;
    bool cached = false;
    if (b.strategy == Strategy::kBigCache) {
      stamps_[b.extent] = Stamp{true, b.handle, b.band, b.site, b.requested, now_};
      evicted_ns_ = 0;
      // Released at once past the bound: its release is priced in evicted_ns_.
      cached = cache_.Put(reinterpret_cast<char*>(b.extent), b.mapping_size);
      ns = prices_pool() + evicted_ns_;
    } else {
      b.mapping->resident_pages = std::max(b.mapping->resident_pages, touched);
      ns = tc_.os.unmap_call_ns + static_cast<double>(b.mapping->resident_pages) * tc_.os.unmap_page_ns;
      delete b.mapping;
    }
    const uint64_t faults = b.fresh ? touched : 0;
    c.time_ns += ns * tc_.params.weight_time;
    c.fault_ns += static_cast<double>(faults) *
                  tournament_.PagePrice(b.requested, tc_.params.fault_ns) *
                  tc_.params.weight_faults;
    c.faults += faults;
    tournament_.OnFree(b.handle, b.strategy, b.requested, ns, touched, b.fresh, cached);
  }

  void Resize(const TraceRecord& r) {
    auto it = live_.find(r.old_address);
    if (it == live_.end()) {
      ++unknown_frees_;
      return;
    }
    Block b = it->second;
    live_.erase(it);
    SiteProfile& p = profiles_[b.site];
    p.live = p.live - b.requested + r.size;
    p.peak = std::max(p.peak, p.live);
    b.requested = r.size;
    if (b.strategy != Strategy::kPool) {
      // As LargeRealloc: in place when the mapping fits without gross waste, else mremap
      // (priced as a map call); grown pages are fresh.
      const size_t need = MappingBytes(r.size);
      double ns = 0;
      if (b.strategy == Strategy::kBigCache &&
          (need > b.mapping_size || need < b.mapping_size / 2)) {
        // As LargeRealloc: BigCache resizes in place, into the free extent after the
        // block, or the contents move (a put and a take).
        size_t resized = 0;
        bool gained_fresh = false;
        char* m = reinterpret_cast<char*>(b.extent);
        if (cache_.Resize(m, b.mapping_size, need, &resized, &gained_fresh)) {
          b.mapping_size = resized;
          b.fresh = b.fresh || gained_fresh;
          ns = prices_pool();
        } else {
          evicted_ns_ = 0;
          cache_.Put(m, b.mapping_size);
          const bool huge = tc_.os.huge_fault_ns > 0 && need >= kHugeBlockBytes;
          bool fresh = true;
          size_t got = 0;
          m = cache_.Take(need, huge, &got, &fresh);
          ns = evicted_ns_ + prices_pool() + (fresh ? tc_.os.map_call_ns : tc_.hit_ns);
          if (m == nullptr) {  // past the largest block: mapped directly
            b.strategy = Strategy::kMmap;
            b.mapping = new FakeMapping{};
            b.extent = 0;
            b.mapping_size = need;
            b.fresh = true;
          } else {
            if (!fresh) Retire(reinterpret_cast<uintptr_t>(m), got);
            b.extent = reinterpret_cast<uintptr_t>(m);
            b.mapping_size = got;
            b.fresh = b.fresh || fresh;
          }
        }
      } else if (need > b.mapping_size || need < b.mapping_size / 2) {
        ns = tc_.os.map_call_ns;
        b.fresh = b.fresh || need > b.mapping_size;
        b.mapping_size = need;
      }
      costs_[BandKey(b.site, b.band)].time_ns += ns * tc_.params.weight_time;
      tournament_.OnResize(b.handle, b.strategy, ns);
    }
    // The new address is handed out again: whatever had it is freed by now (a trace
    // can say so; trace_fuzz found the overwritten block's mapping leaking).
    if (auto old = live_.find(r.address); old != live_.end()) {
      Free(old, EstimatedTouched(old->second), false);
    }
    live_[r.address] = b;
  }

  void CloseStamp(const Stamp& s, size_t size) {
    if (!s.in_cache) return;
    const double idle_ns = static_cast<double>(now_ > s.put_ns ? now_ - s.put_ns : 0);
    const double mib_s = static_cast<double>(size) / (1024.0 * 1024.0) * idle_ns * 1e-9;
    BandCost& c = costs_[BandKey(s.site, s.band)];
    c.idle_mib_s += mib_s;
    c.idle_ns += mib_s * tc_.params.weight_idle_ns_per_mib_second;
    tournament_.OnCacheIdle(s.handle, size, s.requested, idle_ns);
  }

  // A pool allocation, and a put into BigCache (both a list push).
  double prices_pool() const { return tc_.pool_ns; }

  tools::TraceFile trace_;
  telemetry::Telemetry recorded_;
  bool has_recorded_;
  int recorded_run_;
  ReplayConfig config_;
  learner::TournamentConfig tc_;
  bigcache::BigCache cache_;
  uint64_t bigcache_bytes_;
  uint64_t decay_ns_;
  void* memory_;
  learner::Tournament tournament_;

  size_t position_ = 0;
  uint64_t now_ = 0, last_event_ns_ = 0, next_decay_ns_ = 0;
  uint64_t serial_ = 0;
  uint64_t unknown_frees_ = 0;
  double evicted_ns_ = 0;
  uintptr_t next_region_ = kFakeRegionBase;
  absl::flat_hash_map<uintptr_t, Stamp> stamps_;  // BigCache's free extents' records
  MatchRecord scratch_{};
  absl::flat_hash_map<BandKey, Strategy> published_;
  absl::flat_hash_map<uint64_t, Block> live_;
  absl::flat_hash_map<BandKey, BandCost> costs_;
  absl::flat_hash_map<uintptr_t, SiteProfile> profiles_;
  std::priority_queue<PendingFree, std::vector<PendingFree>, std::greater<PendingFree>> pending_;
  // Key -> id in Result(); ids for keys the recorded catalog lacks are handed out as
  // they are first needed (mutable: Result and Summary may be the first).
  mutable absl::flat_hash_map<uint64_t, uint64_t> site_ids_;
  mutable std::vector<uint64_t> extra_sites_;
  telemetry::Telemetry out_;                          // matches and decisions so far
};

uint64_t EnvNow() { return t_replay != nullptr ? t_replay->now() : 0; }

char* EnvMap(size_t size, bool) { return t_replay != nullptr ? t_replay->FakeRegion(size) : nullptr; }

void EnvUnmap(char*, size_t) {}

void EnvRelease(char*, size_t size) {
  if (t_replay != nullptr) t_replay->Released(size);
}

void EnvRetire(char* p, size_t size) {
  if (t_replay != nullptr) t_replay->Retire(reinterpret_cast<uintptr_t>(p), size);
}

telemetry::Telemetry ReplayImpl::Result() const {
  // Ids for every site first: the catalog below must hold them all.
  std::vector<std::pair<uint64_t, uintptr_t>> profile_sites;
  for (const auto& [key, p] : profiles_) profile_sites.emplace_back(SiteId(key), key);
  std::sort(profile_sites.begin(), profile_sites.end());
  struct Collected {
    const ReplayImpl* self;
    std::vector<std::pair<uintptr_t, std::vector<learner::BandView>>> sites;
  } collected{this, {}};
  tournament_.ForEachSite(
      [](uintptr_t site, const learner::BandView* bands, void* arg) {
        auto* c = static_cast<Collected*>(arg);
        c->self->SiteId(site);
        c->sites.emplace_back(site, std::vector<learner::BandView>(bands, bands + kNumBands));
      },
      &collected);

  telemetry::Telemetry t = out_;
  if (has_recorded_) {
    *t.mutable_string_table() = recorded_.string_table();
    *t.mutable_modules() = recorded_.modules();
    *t.mutable_locations() = recorded_.locations();
    *t.mutable_sites() = recorded_.sites();
  } else {
    t.add_string_table("");
  }
  for (uintptr_t key : extra_sites_) {
    telemetry::Site* s = t.add_sites();
    s->set_id(static_cast<uint64_t>(t.sites_size()));
    s->set_key(key);
  }

  telemetry::Run* run = t.add_runs();
  if (recorded_run_ >= 0) {
    *run = recorded_.runs(recorded_run_);
  } else {
    run->set_pid(trace_.header().pid);
    run->set_start_unix_ns(trace_.header().start_unix_ns);
    run->set_hakmem_version(kVersion);
  }
  run->set_end_unix_ns(run->start_unix_ns() + last_event_ns_);
  run->set_complete(true);
  run->set_writes(0);
  run->set_mode(config_.mode == ReplayConfig::Mode::kLearn    ? telemetry::MODE_LEARN
                : config_.mode == ReplayConfig::Mode::kShadow ? telemetry::MODE_SHADOW
                                                               : telemetry::MODE_OFF);
  ToProto(tc_.params, run->mutable_learn_params());
  telemetry::OsCosts* os = run->mutable_os_costs();
  os->set_fault_ns(tc_.os.fault_ns);
  os->set_map_call_ns(tc_.os.map_call_ns);
  os->set_unmap_call_ns(tc_.os.unmap_call_ns);
  os->set_unmap_page_ns(tc_.os.unmap_page_ns);
  os->set_huge_fault_ns(tc_.os.huge_fault_ns);
  os->set_bigcache_hit_ns(tc_.hit_ns);
  os->set_pool_alloc_ns(tc_.pool_ns);
  run->clear_drops();
  run->mutable_drops()->set_learner_sites(tournament_.unfollowed());

  for (const auto& [id, key] : profile_sites) {
    const SiteProfile& p = profiles_.at(key);
    telemetry::SiteProfile* sp = t.add_site_profiles();
    sp->set_site_id(id);
    sp->set_allocs(p.allocs);
    sp->set_records(p.allocs);
    sp->set_frees(p.frees);
    sp->set_allocated_bytes(p.bytes);
    sp->set_live_bytes(Live64(p.live));
    sp->set_peak_live_bytes(Live64(p.peak));
  }
  for (const auto& [key, bands] : collected.sites) {
    for (int b = 0; b < kNumBands; ++b) {
      const learner::BandView& v = bands[static_cast<size_t>(b)];
      if (!v.seen) continue;
      telemetry::BandChoice* c = t.add_choices();
      c->set_site_id(SiteId(key));
      c->set_band(static_cast<table::SizeBand>(b));
      c->set_strategy(ProtoStrategy(v.chosen));
      c->set_allocations(v.allocations);
      c->set_matches(v.matches);
    }
  }
  for (const auto& [key, bands] : collected.sites) {
    for (int b = 0; b < kNumBands; ++b) {
      const learner::BandView& v = bands[static_cast<size_t>(b)];
      if (!v.seen) continue;
      for (int k = 0; k < learner::kNumLearnedStrategies; ++k) {
        const learner::StrategyTotals& st = v.totals[k];
        if (!v.eligible[k] || (st.tries == 0 && v.samples[k] == 0)) continue;
        telemetry::Outcome* o = t.add_outcomes();
        o->set_site_id(SiteId(key));
        o->set_band(static_cast<table::SizeBand>(b));
        o->set_strategy(ProtoStrategy(k));
        o->set_tries(st.tries);
        o->set_modelled(st.modelled);
        o->set_samples(v.samples[k]);
        o->set_rating_elo(v.rating[k]);
        o->set_time_ns(static_cast<double>(st.time_ns));
        o->set_fault_ns(static_cast<double>(st.fault_ns));
        o->set_idle_ns(static_cast<double>(st.idle_ns));
        o->set_cost_ns(o->time_ns() + o->fault_ns() + o->idle_ns());
        o->set_faults(st.faults);
        o->set_idle_mib_seconds(st.idle_mib_s);
        o->set_sample_bytes(st.sample_bytes);
      }
    }
  }
  return t;
}

Frame ReplayImpl::Summary() const {
  const telemetry::Telemetry t = Result();
  std::vector<std::pair<std::pair<uint64_t, int>, BandKey>> rows;  // ((site id, band), key)
  for (const auto& [bk, c] : costs_) rows.push_back({{SiteId(bk.first), bk.second}, bk});
  std::sort(rows.begin(), rows.end());
  Frame f;
  FrameBuilder b(&f);
  auto* site = b.Int("site");
  auto* key_col = b.Uint("key");
  auto symbol = b.Cat("symbol");
  auto band = b.Cat("band");
  band->SetCategories({"middle", "large", "huge"});
  auto chosen = b.Cat("chosen");
  chosen->SetCategories({"none", "pool", "bigcache", "mmap"});
  auto* allocations = b.Int("allocations");
  auto* pool = b.Int("pool_allocations");
  auto* bigcache = b.Int("bigcache_allocations");
  auto* mmap = b.Int("mmap_allocations");
  auto* commit_allocs = b.Int("first_commit_allocations");
  auto* commit_ns = b.Int("first_commit_time_ns");
  auto* cost = b.Float("cost_ns");
  auto* time = b.Float("alloc_time_ns");
  auto* fault = b.Float("fault_ns");
  auto* idle = b.Float("idle_ns");
  auto* faults = b.Int("faults");
  auto* idle_mib_s = b.Float("idle_mib_seconds");
  for (const auto& [id_band, bk] : rows) {
    const BandCost& c = costs_.at(bk);
    const uintptr_t key = static_cast<uintptr_t>(bk.first);
    const int bnd = id_band.second;
    site->push_back(static_cast<int64_t>(id_band.first));
    key_col->push_back(key);
    symbol->Push(tools::SiteLabel(t, t.sites(static_cast<int>(id_band.first) - 1)));
    band->PushCode(bnd);
    learner::BandView v[kNumBands];
    const int ch = tournament_.ViewSite(key, v) ? v[bnd].chosen : -1;
    chosen->PushCode(ch + 1);
    allocations->push_back(static_cast<int64_t>(c.allocations));
    pool->push_back(static_cast<int64_t>(c.served[learner::kIdxPool]));
    bigcache->push_back(static_cast<int64_t>(c.served[learner::kIdxBigCache]));
    mmap->push_back(static_cast<int64_t>(c.served[learner::kIdxMmap]));
    commit_allocs->push_back(c.first_commit_allocations);
    commit_ns->push_back(c.first_commit_ns);
    cost->push_back(c.time_ns + c.fault_ns + c.idle_ns);
    time->push_back(c.time_ns);
    fault->push_back(c.fault_ns);
    idle->push_back(c.idle_ns);
    faults->push_back(static_cast<int64_t>(c.faults));
    idle_mib_s->push_back(c.idle_mib_s);
    b.Row();
  }
  return f;
}

absl::Status ReplayImpl::Freeze(const std::string& path) const {
  if (!has_recorded_) {
    return absl::FailedPreconditionError(absl::StrCat(
        path, ": freezing needs the recorded run's telemetry (Engine(..., telemetry=FILE)): a "
              "table names sites by their frames, which a trace does not have"));
  }
  const tools::ConvertedRuns converted = tools::TelemetryToTables(Result());
  if (converted.tables.empty()) {
    return absl::FailedPreconditionError(
        absl::StrCat(path, ": nothing to freeze: the replay measured no strategy"));
  }
  const tools::Table& table = *converted.tables[0];
  const std::unique_ptr<tools::Table> merged =
      tools::MergeTables({&table}, table.meta.params, NowUnixMs());
  std::string error;
  if (!tools::WriteTableAtomically(path, *merged, &error)) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": ", error));
  }
  return absl::OkStatus();
}

}  // namespace

namespace {

absl::Status Bad(const char* name, const std::string& why) {
  return absl::InvalidArgumentError(absl::StrCat(name, ": ", why));
}

}  // namespace

absl::Status CheckReplayConfig(const ReplayConfig& c) {
  if (c.k_factor && !(*c.k_factor > 0 && isfinite(*c.k_factor))) {
    return Bad("k_factor", absl::StrCat("must be a positive number, not ", *c.k_factor));
  }
  if (c.commit_margin && !(*c.commit_margin >= 0 && isfinite(*c.commit_margin))) {
    return Bad("commit_margin", absl::StrCat("must be a number of Elo points >= 0, not ", *c.commit_margin));
  }
  if (c.idle_weight && !(*c.idle_weight >= 0 && isfinite(*c.idle_weight))) {
    return Bad("idle_weight", absl::StrCat("must be ns per MiB-second >= 0, not ", *c.idle_weight));
  }
  if (c.min_samples && *c.min_samples == 0) return Bad("min_samples", "must be at least 1");
  if (c.bigcache_bytes && *c.bigcache_bytes > (uint64_t{1} << 40)) {
    return Bad("bigcache_bytes", "must be at most 1 TiB");
  }
  if (c.decay_ms && *c.decay_ms > 3600 * 1000) return Bad("decay_ms", "must be at most an hour");
  if (c.mode == ReplayConfig::Mode::kFixed && c.fixed == Strategy::kNone) {
    return Bad("strategy", "mode 'fixed' needs a strategy: pool, bigcache or mmap");
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<Replay>> Replay::Create(const std::string& trace_path,
                                                       const std::string& telemetry_path,
                                                       const ReplayConfig& config) {
  if (absl::Status s = CheckReplayConfig(config); !s.ok()) return s;
  absl::StatusOr<tools::TraceFile> trace = tools::ReadTrace(trace_path);
  if (!trace.ok()) {
    return absl::Status(trace.status().code(),
                        absl::StrCat(trace_path, ": ", trace.status().message()));
  }
  telemetry::Telemetry recorded;
  const bool has_recorded = !telemetry_path.empty();
  int run = -1;
  if (has_recorded) {
    absl::StatusOr<tools::InputFile> in = tools::ReadTableOrTelemetry(telemetry_path);
    if (!in.ok()) {
      return absl::Status(in.status().code(),
                          absl::StrCat(telemetry_path, ": ", in.status().message()));
    }
    if (in->kind != tools::FileKind::kTelemetry) {
      return absl::InvalidArgumentError(absl::StrCat(
          telemetry_path, ": a frozen table, not telemetry (the engine takes the recorded "
                          "run's prices and site names from its HAKMEM_TELEMETRY file)"));
    }
    recorded = std::move(in->telemetry);
    for (int i = 0; i < recorded.runs_size(); ++i) {
      if (recorded.runs(i).pid() == trace->header().pid) run = i;
    }
    if (run < 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          telemetry_path, ": no run with the trace's pid ", trace->header().pid,
          " (the telemetry of another process?)"));
    }
  }

  learner::LearnParams params = learner::DefaultParams();
  learner::OsCosts os = kTypicalOsCosts;
  double hit_ns = kTypicalHitNs, pool_ns = kTypicalPoolNs;
  uint64_t bigcache_bytes = kDefaultBigCacheBytes, decay_ms = kDefaultDecayMs;
  if (run >= 0) {
    const telemetry::Run& r = recorded.runs(run);
    if (r.has_learn_params()) params = tools::ToLearnParams(r.learn_params());
    const telemetry::OsCosts& c = r.os_costs();
    if (c.fault_ns() > 0) {
      os = {c.fault_ns(), c.map_call_ns(), c.unmap_call_ns(), c.unmap_page_ns(),
            c.huge_fault_ns() > 0 ? c.huge_fault_ns() : 0};
    }
    if (c.bigcache_hit_ns() > 0) hit_ns = c.bigcache_hit_ns();
    if (c.pool_alloc_ns() > 0) pool_ns = c.pool_alloc_ns();
    for (const telemetry::Setting& s : r.settings()) {
      const std::string& name = recorded.string_table(static_cast<int>(s.name_str()));
      if (name == "HAKMEM_BIGCACHE_BYTES") bigcache_bytes = static_cast<uint64_t>(s.value());
      if (name == "HAKMEM_DECAY_MS") decay_ms = static_cast<uint64_t>(s.value());
    }
  }
  params.fault_ns = os.fault_ns;
  if (config.k_factor) params.elo_k_factor = *config.k_factor;
  if (config.commit_margin) params.commit_margin = *config.commit_margin;
  if (config.min_samples) params.min_samples = *config.min_samples;
  if (config.explore_every) {
    params.explore_rate = *config.explore_every == 0 ? 0.0 : 1.0 / static_cast<double>(*config.explore_every);
  }
  if (config.idle_weight) params.weight_idle_ns_per_mib_second = *config.idle_weight;
  if (config.bigcache_bytes) bigcache_bytes = *config.bigcache_bytes;
  if (config.decay_ms) decay_ms = *config.decay_ms;

  learner::TournamentConfig tc;
  tc.params = params;
  tc.os = os;
  tc.hit_ns = hit_ns;
  tc.pool_ns = pool_ns;
  tc.schedule_trials = config.mode == ReplayConfig::Mode::kLearn;
  tc.counterfactuals = config.mode == ReplayConfig::Mode::kShadow;
  tc.model_mmap = config.mode == ReplayConfig::Mode::kLearn;  // as the live learner does
  tc.seed = config.seed;
  return std::unique_ptr<Replay>(new ReplayImpl(std::move(*trace), std::move(recorded),
                                                has_recorded, tc, config, bigcache_bytes,
                                                decay_ms, run));
}

}  // namespace py
}  // namespace hakmem
