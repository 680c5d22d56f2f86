#include "py/frames.h"

#include <limits>
#include <memory>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "learner/table.h"
#include "learner/telemetry.pb.h"
#include "tools/input_file.h"
#include "tools/site_view.h"

namespace hakmem {
namespace py {
namespace {

using Kind = Column::Kind;

// Categories of the enum columns, in enum order, so a value's code is its number.
const std::vector<std::string> kStrategies = {"none", "pool", "bigcache", "mmap"};
const std::vector<std::string> kBands = {"middle", "large", "huge"};
const std::vector<std::string> kDecisionKinds = {"unspecified", "trials_begin", "commit",
                                                 "switch", "explore"};

int64_t Code(int value, const std::vector<std::string>& categories) {
  return value >= 0 && static_cast<size_t>(value) < categories.size() ? value : -1;
}

// The symbol column: one category per distinct site name, and each site's code.
struct SiteSymbols {
  std::vector<std::string> categories;
  std::vector<int64_t> code_of_site;  // by site index (id - 1)
};
SiteSymbols Symbols(const std::vector<std::string>& names) {
  SiteSymbols out;
  absl::flat_hash_map<std::string, int64_t> index;
  for (const std::string& n : names) {
    auto [it, fresh] = index.try_emplace(n, static_cast<int64_t>(out.categories.size()));
    if (fresh) out.categories.push_back(n);
    out.code_of_site.push_back(it->second);
  }
  return out;
}

const std::vector<std::string> kModes = {"off", "learn", "shadow", "frozen"};

// An enum value's name from its column's categories.
const std::string& Name(int value, const std::vector<std::string>& names) {
  static const std::string kUnknown = "?";
  const int64_t code = Code(value, names);
  return code < 0 ? kUnknown : names[static_cast<size_t>(code)];
}
const std::string& StrategyName(int strategy) { return Name(strategy, kStrategies); }
const std::string& BandName(int band) { return Name(band, kBands); }

// The cost of a window or of a strategy's total, in its parts (Outcome and MatchResult
// carry the same fields): one set of columns for the curves and the outcomes.
class CostColumns {
 public:
  explicit CostColumns(FrameBuilder* b)
      : cost_(b->Float("cost_ns")), time_(b->Float("alloc_time_ns")),
        fault_(b->Float("fault_ns")), idle_(b->Float("idle_ns")), faults_(b->Int("faults")),
        idle_mib_s_(b->Float("idle_mib_seconds")) {}
  template <typename Message>
  void Push(const Message& m) {
    cost_->push_back(m.cost_ns());
    time_->push_back(m.time_ns());
    fault_->push_back(m.fault_ns());
    idle_->push_back(m.idle_ns());
    faults_->push_back(static_cast<int64_t>(m.faults()));
    idle_mib_s_->push_back(m.idle_mib_seconds());
  }

 private:
  std::vector<double>* cost_;
  std::vector<double>* time_;
  std::vector<double>* fault_;
  std::vector<double>* idle_;
  std::vector<int64_t>* faults_;
  std::vector<double>* idle_mib_s_;
};

// ---- telemetry ----

void TelemetryRuns(const telemetry::Telemetry& t, Frame* f) {
  FrameBuilder b(f);
  auto* run = b.Int("run");
  auto program = b.Cat("program");
  auto* pid = b.Int("pid");
  auto host = b.Cat("host");
  auto* start = b.Int("start_unix_ns");
  auto* end = b.Int("end_unix_ns");
  auto* complete = b.Bool("complete");
  auto mode = b.Cat("mode");
  auto version = b.Cat("hakmem_version");
  auto* writes = b.Int("writes");
  auto* fault = b.Float("fault_ns");
  auto* map_call = b.Float("map_call_ns");
  auto* unmap_call = b.Float("unmap_call_ns");
  auto* unmap_page = b.Float("unmap_page_ns");
  auto* huge_fault = b.Float("huge_fault_ns");
  auto* hit = b.Float("bigcache_hit_ns");
  auto* pool = b.Float("pool_alloc_ns");
  auto* k_factor = b.Float("k_factor");
  auto* commit_margin = b.Float("commit_margin");
  auto* min_samples = b.Int("min_samples");
  auto* explore_rate = b.Float("explore_rate");
  auto* idle_weight = b.Float("idle_weight");
  auto* d_sites = b.Int("dropped_sites");
  auto* d_contexts = b.Int("dropped_contexts");
  auto* d_matches = b.Int("dropped_matches");
  auto* d_decisions = b.Int("dropped_decisions");
  auto* d_timeline = b.Int("dropped_timeline_samples");
  auto* d_writes = b.Int("failed_writes");
  for (int i = 0; i < t.runs_size(); ++i) {
    const telemetry::Run& r = t.runs(i);
    run->push_back(i);
    program->Push(tools::Printable(t.string_table(static_cast<int>(r.program_str()))));
    pid->push_back(static_cast<int64_t>(r.pid()));
    host->Push(tools::Printable(t.string_table(static_cast<int>(r.host_str()))));
    start->push_back(static_cast<int64_t>(r.start_unix_ns()));
    end->push_back(static_cast<int64_t>(r.end_unix_ns()));
    complete->push_back(r.complete());
    mode->Push(Name(r.mode(), kModes));
    version->Push(r.hakmem_version());
    writes->push_back(static_cast<int64_t>(r.writes()));
    fault->push_back(r.os_costs().fault_ns());
    map_call->push_back(r.os_costs().map_call_ns());
    unmap_call->push_back(r.os_costs().unmap_call_ns());
    unmap_page->push_back(r.os_costs().unmap_page_ns());
    huge_fault->push_back(r.os_costs().huge_fault_ns());
    hit->push_back(r.os_costs().bigcache_hit_ns());
    pool->push_back(r.os_costs().pool_alloc_ns());
    // A run that did not learn has no parameters: NaN, not a made-up value.
    const bool p = r.has_learn_params();
    const double nan = std::numeric_limits<double>::quiet_NaN();
    k_factor->push_back(p ? r.learn_params().elo_k_factor() : nan);
    commit_margin->push_back(p ? r.learn_params().commit_margin_points() : nan);
    min_samples->push_back(p ? static_cast<int64_t>(r.learn_params().min_samples()) : 0);
    explore_rate->push_back(p ? r.learn_params().explore_rate_fraction() : nan);
    idle_weight->push_back(p ? r.learn_params().weight_idle_ns_per_mib_second() : nan);
    d_sites->push_back(static_cast<int64_t>(r.drops().sites()));
    d_contexts->push_back(static_cast<int64_t>(r.drops().contexts()));
    d_matches->push_back(static_cast<int64_t>(r.drops().matches()));
    d_decisions->push_back(static_cast<int64_t>(r.drops().decisions()));
    d_timeline->push_back(static_cast<int64_t>(r.drops().timeline_samples()));
    d_writes->push_back(static_cast<int64_t>(r.drops().failed_writes()));
    b.Row();
  }
}

// Per site: the label of its naming frame (as `hakmem report`), for every table's
// `symbol` column.
std::vector<std::string> SiteNames(const telemetry::Telemetry& t) {
  std::vector<std::string> names;
  names.reserve(static_cast<size_t>(t.sites_size()));
  for (const telemetry::Site& s : t.sites()) names.push_back(tools::SiteLabel(t, s));
  return names;
}

void TelemetrySites(const telemetry::Telemetry& t, const std::vector<std::string>& names,
                    Frame* f) {
  FrameBuilder b(f);
  auto* site = b.Int("site");
  auto* key = b.Uint("key");
  auto symbol = b.Cat("symbol");
  auto function = b.Cat("function");
  auto file = b.Cat("file");
  auto* line = b.Int("line");
  auto module = b.Cat("module");
  auto* offset = b.Uint("offset");
  auto context = b.Cat("context");
  auto* depth = b.Int("depth");
  auto* allocs = b.Int("allocs");
  auto* estimated = b.Bool("allocs_estimated");
  auto* frees = b.Int("frees");
  auto* cross = b.Int("cross_thread_frees");
  auto* bytes = b.Int("bytes");
  auto* live = b.Int("live_bytes");
  auto* peak = b.Int("peak_live_bytes");
  auto* p50 = b.Int("lifetime_p50_ns");
  auto* p90 = b.Int("lifetime_p90_ns");
  auto* p99 = b.Int("lifetime_p99_ns");
  auto strategy = b.Cat("strategy");
  std::unique_ptr<FrameBuilder::Category> chosen[3] = {b.Cat("chosen_middle"), b.Cat("chosen_large"),
                                                  b.Cat("chosen_huge")};
  auto* allocations = b.Int("routed_allocations");
  const std::vector<tools::SiteTotals> totals = tools::AggregateSites(t);
  for (const tools::SiteTotals& st : totals) {
    const telemetry::Site& s = t.sites(st.site);
    site->push_back(static_cast<int64_t>(s.id()));
    key->push_back(s.key());
    symbol->Push(names[static_cast<size_t>(st.site)]);
    if (s.location_ids_size() > 0) {
      const tools::FrameInfo fi =
          tools::DescribeLocation(t, s.location_ids(tools::NamingFrame(s)));
      function->Push(fi.symbol);
      file->Push(fi.file);
      line->push_back(fi.line);
      module->Push(fi.module);
      offset->push_back(fi.offset);
      std::string ctx;
      for (int k = 0; k < s.location_ids_size(); ++k) {
        absl::StrAppend(&ctx, k > 0 ? " <- " : "",
                        tools::FrameLabel(tools::DescribeLocation(t, s.location_ids(k))));
      }
      context->Push(ctx);
    } else {
      function->PushNone();
      file->PushNone();
      line->push_back(0);
      module->PushNone();
      offset->push_back(0);
      context->PushNone();
    }
    depth->push_back(s.location_ids_size());
    allocs->push_back(static_cast<int64_t>(st.allocs));
    estimated->push_back(st.estimated);
    frees->push_back(static_cast<int64_t>(st.frees));
    cross->push_back(static_cast<int64_t>(st.cross_thread_frees));
    bytes->push_back(static_cast<int64_t>(st.bytes));
    live->push_back(st.live_bytes);
    peak->push_back(st.peak_live_bytes);
    p50->push_back(static_cast<int64_t>(tools::LifetimePercentileNs(st.lifetimes, 0.5)));
    p90->push_back(static_cast<int64_t>(tools::LifetimePercentileNs(st.lifetimes, 0.9)));
    p99->push_back(static_cast<int64_t>(tools::LifetimePercentileNs(st.lifetimes, 0.99)));
    // The site's strategy: the choice of its busiest band (as the site report says).
    const tools::BandTotals* busiest = nullptr;
    uint64_t routed = 0;
    bool has[3] = {};
    int band_choice[3] = {-1, -1, -1};
    for (const tools::BandTotals& bt : st.bands) {
      routed += bt.allocations;
      if (bt.band >= 0 && bt.band < 3 && bt.has_choice) {
        has[bt.band] = true;
        band_choice[bt.band] = bt.chosen;
      }
      if (bt.has_choice && (busiest == nullptr || bt.allocations > busiest->allocations)) {
        busiest = &bt;
      }
    }
    if (busiest != nullptr && busiest->chosen >= 0) {
      strategy->Push(StrategyName(busiest->chosen + 1));
    } else {
      strategy->PushNone();
    }
    for (int band = 0; band < 3; ++band) {
      if (has[band]) {
        chosen[band]->Push(StrategyName(band_choice[band] + 1));
      } else {
        chosen[band]->PushNone();
      }
    }
    allocations->push_back(static_cast<int64_t>(routed));
    b.Row();
  }
}

void TelemetryCurves(const telemetry::Telemetry& t, const SiteSymbols& sym,
                     Frame* f) {
  FrameBuilder b(f);
  auto* run = b.Int("run");
  auto* site = b.Int("site");
  auto symbol = b.Cat("symbol");
  auto band = b.Cat("band");
  auto strategy = b.Cat("strategy");
  auto* match = b.Int("match");
  auto* allocations = b.Int("allocations");
  auto* time = b.Int("time_ns");
  auto* rating = b.Float("rating");
  CostColumns cost(&b);
  auto* samples = b.Int("window_samples");
  auto* wbytes = b.Int("window_bytes");
  auto* per_byte = b.Float("cost_ns_per_byte");
  auto chosen = b.Cat("chosen");
  symbol->SetCategories(sym.categories);
  band->SetCategories(kBands);
  strategy->SetCategories(kStrategies);
  chosen->SetCategories(kStrategies);
  size_t rows = 0;
  for (const telemetry::Match& m : t.matches()) rows += static_cast<size_t>(m.results_size());
  b.Reserve(rows);
  for (const telemetry::Match& m : t.matches()) {
    for (const telemetry::MatchResult& r : m.results()) {
      run->push_back(m.run());
      site->push_back(static_cast<int64_t>(m.site_id()));
      symbol->PushCode(sym.code_of_site[static_cast<size_t>(m.site_id() - 1)]);
      band->PushCode(Code(m.band(), kBands));
      strategy->PushCode(Code(r.strategy(), kStrategies));
      match->push_back(static_cast<int64_t>(m.number()));
      allocations->push_back(static_cast<int64_t>(m.allocations()));
      time->push_back(static_cast<int64_t>(m.time_ns()));
      rating->push_back(r.rating_elo());
      cost.Push(r);
      samples->push_back(static_cast<int64_t>(r.window_samples()));
      wbytes->push_back(static_cast<int64_t>(r.window_bytes()));
      per_byte->push_back(r.window_bytes() > 0 ? r.cost_ns() / static_cast<double>(r.window_bytes())
                                               : 0.0);
      chosen->PushCode(Code(m.chosen(), kStrategies));
      b.Row();
    }
  }
}

void TelemetryDecisions(const telemetry::Telemetry& t, const SiteSymbols& sym,
                        Frame* f) {
  FrameBuilder b(f);
  auto* run = b.Int("run");
  auto* site = b.Int("site");
  auto symbol = b.Cat("symbol");
  auto band = b.Cat("band");
  auto kind = b.Cat("kind");
  auto from = b.Cat("from");
  auto to = b.Cat("to");
  auto* time = b.Int("time_ns");
  auto* allocations = b.Int("allocations");
  symbol->SetCategories(sym.categories);
  band->SetCategories(kBands);
  kind->SetCategories(kDecisionKinds);
  from->SetCategories(kStrategies);
  to->SetCategories(kStrategies);
  for (const telemetry::Decision& d : t.decisions()) {
    run->push_back(d.run());
    site->push_back(static_cast<int64_t>(d.site_id()));
    symbol->PushCode(sym.code_of_site[static_cast<size_t>(d.site_id() - 1)]);
    band->PushCode(Code(d.band(), kBands));
    kind->PushCode(Code(d.kind(), kDecisionKinds));
    from->PushCode(Code(d.from(), kStrategies));
    to->PushCode(Code(d.to(), kStrategies));
    time->push_back(static_cast<int64_t>(d.time_ns()));
    allocations->push_back(static_cast<int64_t>(d.allocations()));
    b.Row();
  }
}

void TelemetryOutcomes(const telemetry::Telemetry& t, const SiteSymbols& sym,
                       Frame* f) {
  FrameBuilder b(f);
  auto* run = b.Int("run");
  auto* site = b.Int("site");
  auto symbol = b.Cat("symbol");
  auto band = b.Cat("band");
  auto strategy = b.Cat("strategy");
  auto* tries = b.Int("tries");
  auto* samples = b.Int("samples");
  auto* modelled = b.Int("modelled");
  auto* rating = b.Float("rating");
  CostColumns cost(&b);
  auto* mean = b.Float("mean_cost_ns");
  symbol->SetCategories(sym.categories);
  band->SetCategories(kBands);
  strategy->SetCategories(kStrategies);
  for (const telemetry::Outcome& o : t.outcomes()) {
    run->push_back(o.run());
    site->push_back(static_cast<int64_t>(o.site_id()));
    symbol->PushCode(sym.code_of_site[static_cast<size_t>(o.site_id() - 1)]);
    band->PushCode(Code(o.band(), kBands));
    strategy->PushCode(Code(o.strategy(), kStrategies));
    tries->push_back(static_cast<int64_t>(o.tries()));
    samples->push_back(static_cast<int64_t>(o.samples()));
    modelled->push_back(static_cast<int64_t>(o.modelled()));
    rating->push_back(o.rating_elo());
    cost.Push(o);
    mean->push_back(o.samples() > 0 ? o.cost_ns() / static_cast<double>(o.samples()) : 0.0);
    b.Row();
  }
}

void TelemetryTimeline(const telemetry::Telemetry& t, Frame* f) {
  FrameBuilder b(f);
  auto* run = b.Int("run");
  auto* time = b.Int("time_ns");
  auto* mapped = b.Int("mapped_bytes");
  auto* resident = b.Int("resident_bytes");
  auto* spans = b.Int("heap_span_bytes");
  auto* heap_free = b.Int("heap_free_bytes");
  auto* returned = b.Int("returned_bytes");
  auto* large_live = b.Int("large_live_bytes");
  auto* large_allocs = b.Int("large_allocs");
  auto* hits = b.Int("bigcache_hits");
  auto* misses = b.Int("bigcache_misses");
  auto* evictions = b.Int("bigcache_evictions");
  auto* held = b.Int("bigcache_held_bytes");
  auto* mmaps = b.Int("mmap_calls");
  auto* munmaps = b.Int("munmap_calls");
  auto* madvises = b.Int("madvise_calls");
  for (const telemetry::AllocatorSample& s : t.timeline()) {
    run->push_back(s.run());
    time->push_back(static_cast<int64_t>(s.time_ns()));
    mapped->push_back(static_cast<int64_t>(s.mapped_bytes()));
    resident->push_back(static_cast<int64_t>(s.resident_bytes()));
    spans->push_back(static_cast<int64_t>(s.heap_span_bytes()));
    heap_free->push_back(static_cast<int64_t>(s.heap_free_bytes()));
    returned->push_back(static_cast<int64_t>(s.returned_bytes()));
    large_live->push_back(static_cast<int64_t>(s.large_live_bytes()));
    large_allocs->push_back(static_cast<int64_t>(s.large_allocs()));
    hits->push_back(static_cast<int64_t>(s.bigcache_hits()));
    misses->push_back(static_cast<int64_t>(s.bigcache_misses()));
    evictions->push_back(static_cast<int64_t>(s.bigcache_evictions()));
    held->push_back(static_cast<int64_t>(s.bigcache_held_bytes()));
    mmaps->push_back(static_cast<int64_t>(s.mmap_calls()));
    munmaps->push_back(static_cast<int64_t>(s.munmap_calls()));
    madvises->push_back(static_cast<int64_t>(s.madvise_calls()));
    b.Row();
  }
}

// ---- frozen tables: runs, sites (one per entry's site) and outcomes (its stats) ----

std::string EntryName(const tools::Table& table, const learner::TableEntry& e) {
  if (e.num_frames == 0) return absl::StrCat("site '", e.site_name, "'");
  const learner::TableModule& m = table.meta.modules[e.frames[0].module];
  std::string path = m.path;
  const size_t slash = path.rfind('/');
  if (slash != std::string::npos) path = path.substr(slash + 1);
  if (path.empty()) path = absl::StrCat("build-id:", m.build_id_hex);
  return absl::StrCat(path, "+0x", absl::Hex(e.frames[0].offset));
}

void TableFrames(const tools::Table& table, Frames* out) {
  {
    FrameBuilder b(&out->runs);
    auto* run = b.Int("run");
    auto program = b.Cat("program");
    auto* pid = b.Int("pid");
    auto* start = b.Int("start_unix_ns");
    auto* duration = b.Int("duration_ms");
    for (uint32_t i = 0; i < table.meta.num_runs; ++i) {
      const learner::RunInfo& r = table.meta.runs[i];
      run->push_back(i);
      program->Push(tools::Printable(r.program));
      pid->push_back(static_cast<int64_t>(r.pid));
      start->push_back(static_cast<int64_t>(r.start_unix_ms) * 1000000);
      duration->push_back(static_cast<int64_t>(r.duration_ms));
      b.Row();
    }
  }
  FrameBuilder s(&out->sites);
  auto* site = s.Int("site");
  auto symbol = s.Cat("symbol");
  auto band = s.Cat("band");
  auto strategy = s.Cat("strategy");
  auto* depth = s.Int("depth");
  FrameBuilder o(&out->outcomes);
  auto* osite = o.Int("site");
  auto osymbol = o.Cat("symbol");
  auto oband = o.Cat("band");
  auto ostrategy = o.Cat("strategy");
  auto* samples = o.Int("samples");
  auto* rating = o.Float("rating");
  auto* mean = o.Float("mean_cost_ns");
  for (size_t i = 0; i < table.entries.size(); ++i) {
    const learner::TableEntry& e = table.entries[i];
    const std::string name = tools::Printable(EntryName(table, e));
    site->push_back(static_cast<int64_t>(i + 1));
    symbol->Push(name);
    band->Push(BandName(e.band));
    strategy->Push(StrategyName(e.strategy + 1));
    depth->push_back(e.num_frames);
    s.Row();
    for (int k = 0; k < learner::kNumLearnedStrategies; ++k) {
      if (!e.eligible[k]) continue;
      osite->push_back(static_cast<int64_t>(i + 1));
      osymbol->Push(name);
      oband->Push(BandName(e.band));
      ostrategy->Push(StrategyName(k + 1));
      samples->push_back(static_cast<int64_t>(e.samples[k]));
      rating->push_back(e.rating[k]);
      mean->push_back(e.mean_cost_ns[k]);
      o.Row();
    }
  }
}

}  // namespace

absl::StatusOr<Frames> LoadFrames(const std::string& path) {
  absl::StatusOr<tools::InputFile> in = tools::ReadTableOrTelemetry(path);
  if (!in.ok()) {
    return absl::Status(in.status().code(), absl::StrCat(path, ": ", in.status().message()));
  }
  if (in->kind == tools::FileKind::kFrozenTable) {
    Frames out;
    out.kind = "frozen_table";
    TableFrames(*in->table, &out);
    // The tables a frozen table has no data for, with no columns.
    return out;
  }
  return TelemetryFrames(in->telemetry);
}

Frames TelemetryFrames(const telemetry::Telemetry& t) {
  Frames out;
  out.kind = "telemetry";
  const std::vector<std::string> names = SiteNames(t);
  TelemetryRuns(t, &out.runs);
  TelemetrySites(t, names, &out.sites);
  const SiteSymbols sym = Symbols(names);
  TelemetryCurves(t, sym, &out.curves);
  TelemetryDecisions(t, sym, &out.decisions);
  TelemetryOutcomes(t, sym, &out.outcomes);
  TelemetryTimeline(t, &out.timeline);
  return out;
}

}  // namespace py
}  // namespace hakmem
