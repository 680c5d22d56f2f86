#include "learner/telemetry.h"

#include <errno.h>
#include <link.h>
#include <pb_encode.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "callsite/context.h"
#include "callsite/module_map.h"
#include "callsite/profiler.h"
#include "core/format.h"
#include "core/init.h"
#include "core/options.h"
#include "core/os.h"
#include "core/route_table.h"
#include "core/version.h"
#include "core/atomic_file.h"
#include "learner/curves.h"
#include "learner/learner.h"
#include "learner/table_codec.h"
#include "learner/telemetry.nanopb.h"
#include "learner/telemetry_catalog.h"
#include "learner/timeline.h"

namespace hakmem {
namespace learner {

namespace {

// ---- the run ----

uint64_t g_start_unix_ns = 0;  // constant-initialized (see elo.h)
uint64_t g_start_ns = 0;       // CLOCK_MONOTONIC at the start
uint64_t g_writes = 0;         // under g_write_mu
uint64_t g_failed_writes = 0;  // under g_write_mu
bool g_complained = false;     // under g_write_mu

// One write at a time: the background thread's and the exit's. Also guards the catalog
// and the timeline.
pthread_mutex_t g_write_mu = PTHREAD_MUTEX_INITIALIZER;
Catalog g_catalog;

// The background thread: woken early only to stop.
pthread_mutex_t g_thread_mu = PTHREAD_MUTEX_INITIALIZER;
pthread_cond_t g_thread_cv;
bool g_stop = false;      // under g_thread_mu
bool g_thread_running = false;

// HAKMEM_TELEMETRY with %p replaced by the pid. False if unset.
bool ExpandPath(char* out, size_t cap) {
  const char* p = GetStringOption(Option::kTelemetry);
  if (p == nullptr) return false;
  ExpandPid(p, out, cap);
  return true;
}

// The executable's build-id: the first object a module walk reports is the program.
int ExeBuildIdCallback(struct dl_phdr_info* info, size_t, void* arg) {
  char* out = static_cast<char*>(arg);
  for (int i = 0; i < info->dlpi_phnum; ++i) {
    const ElfW(Phdr)& ph = info->dlpi_phdr[i];
    if (ph.p_type != PT_NOTE) continue;
    const void* notes = reinterpret_cast<const void*>(info->dlpi_addr + ph.p_vaddr);
    if (callsite::BuildIdFromNotes(notes, ph.p_memsz, out, 65)) break;
  }
  return 1;  // the first object only
}

// ---- encoding (nanopb) ----

// Field numbers of Telemetry (learner/telemetry.proto).
enum Field : uint32_t {
  kStrings = 1, kRuns, kModules, kLocations, kSites, kSiteProfiles, kChoices, kOutcomes,
  kMatches, kDecisions, kTimeline,
};

bool Put(pb_ostream_t* os, Field field, const pb_msgdesc_t* fields, const void* msg) {
  return pb_encode_tag(os, PB_WT_STRING, field) && pb_encode_submessage(os, fields, msg);
}

hakmem_table_Strategy StrategyOf(int index) {
  return static_cast<hakmem_table_Strategy>(index < 0 ? 0 : index + 1);
}

uint64_t Round(double v) { return v <= 0 ? 0 : static_cast<uint64_t>(v + 0.5); }

// What one write gathered before encoding: copies of the curves (the learner may be
// adding to them), in memory mapped for the write.
struct Gathered {
  MatchRecord* matches = nullptr;
  size_t num_matches = 0, matches_bytes = 0;
  uint64_t dropped_matches = 0;
  DecisionRecord* decisions = nullptr;
  size_t num_decisions = 0, decisions_bytes = 0;
  uint64_t dropped_decisions = 0;
  uint64_t program_str = 0, host_str = 0;
  uint64_t setting_name_str[static_cast<int>(Option::kCount)] = {};
  uint64_t setting_unit_str[static_cast<int>(Option::kCount)] = {};
  uint64_t setting_text_str[static_cast<int>(Option::kCount)] = {};
  ~Gathered() {
    if (matches != nullptr) os::Unmap(matches, matches_bytes);
    if (decisions != nullptr) os::Unmap(decisions, decisions_bytes);
  }
};

void InternLearnerSite(uintptr_t key, const BandView*, void*) {
  g_catalog.Site(key, false, nullptr);
}

// Interns everything the file will name, so the string table is whole before encoding.
bool Gather(Gathered* g) {
  if (!g_catalog.Ready()) return false;
  callsite::ForEachSite([](const callsite::SiteSnapshot& s) {
    g_catalog.Site(s.key, s.overflow, s.name);
  });
  ForEachSite(InternLearnerSite, nullptr);
  const size_t mcap = MatchesKept(), dcap = DecisionsKept();
  g->matches_bytes = (mcap == 0 ? 1 : mcap) * sizeof(MatchRecord);
  g->decisions_bytes = (dcap == 0 ? 1 : dcap) * sizeof(DecisionRecord);
  g->matches = static_cast<MatchRecord*>(os::Map(g->matches_bytes));
  g->decisions = static_cast<DecisionRecord*>(os::Map(g->decisions_bytes));
  if (g->matches == nullptr || g->decisions == nullptr) return false;
  g->num_matches = ReadMatches(g->matches, mcap, &g->dropped_matches);
  g->num_decisions = ReadDecisions(g->decisions, dcap, &g->dropped_decisions);
  for (size_t i = 0; i < g->num_matches; ++i) g_catalog.Site(g->matches[i].site, false, nullptr);
  for (size_t i = 0; i < g->num_decisions; ++i) {
    g_catalog.Site(g->decisions[i].site, false, nullptr);
  }
  char exe[4096];
  const ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
  exe[n > 0 ? n : 0] = '\0';
  g->program_str = g_catalog.String(exe);
  struct utsname u;
  g->host_str = uname(&u) == 0 ? g_catalog.String(u.nodename) : 0;
  for (int i = 0; i < static_cast<int>(Option::kCount); ++i) {
    const OptionInfo& info = GetOptionInfo(static_cast<Option>(i));
    g->setting_name_str[i] = g_catalog.String(info.name);
    g->setting_unit_str[i] = g_catalog.String(info.unit);
    g->setting_text_str[i] = g_catalog.String(GetStringOption(static_cast<Option>(i)));
  }
  return true;
}

bool EncodeStrings(pb_ostream_t* os) {
  for (size_t i = 0; i < g_catalog.num_strings(); ++i) {
    size_t len;
    const char* s = g_catalog.string(i, &len);
    if (!pb_encode_tag(os, PB_WT_STRING, kStrings) ||
        !pb_encode_string(os, reinterpret_cast<const pb_byte_t*>(s), len)) {
      return false;
    }
  }
  return true;
}

bool EncodeRun(pb_ostream_t* os, const Gathered& g, bool complete) {
  static hakmem_telemetry_Run run;  // ~2 KiB: not on the stack (under g_write_mu)
  run = hakmem_telemetry_Run_init_zero;
  run.program_str = g.program_str;
  callsite::WalkModules(ExeBuildIdCallback, run.program_build_id_hex);
  run.pid = static_cast<uint64_t>(getpid());
  run.host_str = g.host_str;
  run.start_unix_ns = g_start_unix_ns;
  run.end_unix_ns = os::UnixNs();
  run.complete = complete;
  strncpy(run.hakmem_version, kVersion, sizeof(run.hakmem_version) - 1);
  run.mode = static_cast<hakmem_telemetry_Mode>(GetOption(Option::kMode));
  constexpr int kMaxSettings = static_cast<int>(sizeof(run.settings) / sizeof(run.settings[0]));
  static_assert(static_cast<int>(Option::kCount) <= kMaxSettings,
                "raise Run.settings max_count in learner/telemetry.options");
  for (int i = 0; i < static_cast<int>(Option::kCount); ++i) {
    const Option o = static_cast<Option>(i);
    hakmem_telemetry_Setting& s = run.settings[run.settings_count++];
    s.name_str = g.setting_name_str[i];
    s.unit_str = g.setting_unit_str[i];
    s.text_str = g.setting_text_str[i];
    s.value = s.text_str != 0 || strcmp(GetOptionInfo(o).unit, "path") == 0 ? 0 : GetOption(o);
    s.from_environment = OptionFromEnvironment(o);
  }
  const LearnMode mode = Mode();
  if (mode == LearnMode::kLearn || mode == LearnMode::kShadow) {
    const OsCosts& c = MeasuredOsCosts();
    run.has_os_costs = true;
    run.os_costs.fault_ns = c.fault_ns;
    run.os_costs.map_call_ns = c.map_call_ns;
    run.os_costs.unmap_call_ns = c.unmap_call_ns;
    run.os_costs.unmap_page_ns = c.unmap_page_ns;
    run.os_costs.huge_fault_ns = c.huge_fault_ns;
    run.os_costs.bigcache_hit_ns = MeasuredHitNs();
    run.os_costs.pool_alloc_ns = MeasuredPoolNs();
    const LearnParams& p = Params();
    run.has_learn_params = true;
    hakmem_table_LearnParams& lp = run.learn_params;
    lp.elo_initial_rating = p.elo_initial_rating;
    lp.elo_k_factor = p.elo_k_factor;
    lp.elo_scale_points = p.elo_scale;
    lp.draw_margin_fraction = p.draw_margin;
    lp.min_samples = p.min_samples;
    lp.commit_margin_points = p.commit_margin;
    lp.explore_rate_fraction = p.explore_rate;
    lp.weight_time = p.weight_time;
    lp.weight_faults = p.weight_faults;
    lp.weight_idle_ns_per_mib_second = p.weight_idle_ns_per_mib_second;
    lp.fault_cost_ns = p.fault_ns;
  }
  run.has_drops = true;
  run.drops.sites = callsite::DroppedSites();
  run.drops.contexts = callsite::DroppedContexts();
  run.drops.learner_sites = UnfollowedAllocations();
  run.drops.matches = g.dropped_matches;
  run.drops.decisions = g.dropped_decisions;
  run.drops.timeline_samples = TimelineDropped();
  run.drops.failed_writes = g_failed_writes;
  run.drops.names = g_catalog.turned_away();
  run.context_depth = static_cast<uint32_t>(GetOption(Option::kContextDepth));
  run.sample_bytes = static_cast<uint64_t>(GetOption(Option::kSampleBytes));
  run.writes = g_writes;
  return Put(os, kRuns, hakmem_telemetry_Run_fields, &run);
}

bool EncodeCatalog(pb_ostream_t* os) {
  for (size_t i = 0; i < g_catalog.num_modules(); ++i) {
    const CatalogModule& c = g_catalog.module(i);
    hakmem_telemetry_Module m = hakmem_telemetry_Module_init_zero;
    m.id = i + 1;
    memcpy(m.build_id_hex, c.build_id_hex, sizeof(m.build_id_hex));
    m.path_str = c.path_str;
    if (!Put(os, kModules, hakmem_telemetry_Module_fields, &m)) return false;
  }
  for (size_t i = 0; i < g_catalog.num_locations(); ++i) {
    const CatalogLocation& c = g_catalog.location(i);
    hakmem_telemetry_Location l = hakmem_telemetry_Location_init_zero;
    l.id = i + 1;
    l.module_id = c.module_id;
    l.offset_bytes = c.offset;
    l.function_str = c.function_str;
    l.file_str = c.file_str;
    l.line = c.line;
    if (!Put(os, kLocations, hakmem_telemetry_Location_fields, &l)) return false;
  }
  for (size_t i = 0; i < g_catalog.num_sites(); ++i) {
    const CatalogSite& c = g_catalog.site(i);
    hakmem_telemetry_Site s = hakmem_telemetry_Site_init_zero;
    s.id = i + 1;
    s.key = c.key;
    s.location_ids_count = static_cast<pb_size_t>(c.num_locations);
    for (uint32_t k = 0; k < c.num_locations; ++k) s.location_ids[k] = c.location_ids[k];
    s.name_str = c.name_str;
    s.overflow = c.overflow;
    // Which frames are wrappers depends on every context seen so far: asked anew.
    if (c.context != nullptr && c.num_locations > 0) {
      const uint32_t w = static_cast<uint32_t>(callsite::WrapperFrames(*c.context));
      s.wrapper_frames = w < c.num_locations ? w : c.num_locations - 1;
    }
    if (!Put(os, kSites, hakmem_telemetry_Site_fields, &s)) return false;
  }
  return true;
}

bool EncodeSiteProfiles(pb_ostream_t* os) {
  static hakmem_telemetry_SiteProfile p;  // ~3 KiB: not on the stack (under g_write_mu)
  bool ok = true;
  callsite::ForEachSite([&](const callsite::SiteSnapshot& s) {
    const uint64_t id = g_catalog.FindSite(s.key, s.overflow);
    if (!ok || id == 0) return;  // new since Gather: in the next write
    p = hakmem_telemetry_SiteProfile_init_zero;
    p.site_id = id;
    p.allocs = Round(s.allocs);
    p.allocs_estimated = s.estimated;
    p.records = s.records;
    p.frees = Round(s.frees);
    p.cross_thread_frees = Round(s.cross_thread_frees);
    p.allocated_bytes = s.bytes;
    p.live_bytes = s.live_bytes;
    p.peak_live_bytes = s.peak_live_bytes;
    constexpr int kMaxSizes = static_cast<int>(sizeof(p.sizes) / sizeof(p.sizes[0]));
    static_assert(callsite::kSizeBuckets <= kMaxSizes, "raise SiteProfile.sizes max_count");
    static_assert(callsite::kLifetimeBuckets <=
                      static_cast<int>(sizeof(p.lifetimes) / sizeof(p.lifetimes[0])),
                  "raise SiteProfile.lifetimes max_count");
    for (int b = 0; b < callsite::kSizeBuckets; ++b) {
      const uint64_t n = Round(s.size_histogram[b]);
      if (n == 0) continue;
      p.sizes[p.sizes_count].max_bytes = callsite::SizeBucketLimit(b);
      p.sizes[p.sizes_count++].count = n;
    }
    for (int b = 0; b < callsite::kLifetimeBuckets; ++b) {
      const uint64_t n = Round(s.lifetime_histogram[b]);
      if (n == 0) continue;
      p.lifetimes[p.lifetimes_count].max_ns = (uint64_t{2} << b) - 1;
      p.lifetimes[p.lifetimes_count++].count = n;
    }
    ok = Put(os, kSiteProfiles, hakmem_telemetry_SiteProfile_fields, &p);
  });
  return ok;
}

// Learn and shadow modes: the learner's bands. Frozen mode: the table's decisions.
struct ChoiceWriter {
  pb_ostream_t* os;
  bool ok = true;
  bool outcomes;  // the second pass writes outcomes (field 8) after all choices (7)
};

void EncodeLearnerSite(uintptr_t key, const BandView* bands, void* arg) {
  auto* w = static_cast<ChoiceWriter*>(arg);
  const uint64_t id = g_catalog.FindSite(key, false);
  if (!w->ok || id == 0) return;
  for (int b = 0; b < kNumBands; ++b) {
    const BandView& v = bands[b];
    if (!v.seen) continue;
    if (!w->outcomes) {
      hakmem_telemetry_BandChoice c = hakmem_telemetry_BandChoice_init_zero;
      c.site_id = id;
      c.band = static_cast<hakmem_table_SizeBand>(b);
      c.strategy = StrategyOf(v.chosen);
      c.allocations = v.allocations;
      c.matches = v.matches;
      w->ok = w->ok && Put(w->os, kChoices, hakmem_telemetry_BandChoice_fields, &c);
      continue;
    }
    for (int k = 0; k < kNumLearnedStrategies; ++k) {
      const StrategyTotals& t = v.totals[k];
      if (!v.eligible[k] || (t.tries == 0 && v.samples[k] == 0)) continue;
      hakmem_telemetry_Outcome o = hakmem_telemetry_Outcome_init_zero;
      o.site_id = id;
      o.band = static_cast<hakmem_table_SizeBand>(b);
      o.strategy = StrategyOf(k);
      o.tries = t.tries;
      o.modelled = t.modelled;
      o.samples = v.samples[k];
      o.rating_elo = v.rating[k];
      o.time_ns = static_cast<double>(t.time_ns);
      o.fault_ns = static_cast<double>(t.fault_ns);
      o.idle_ns = static_cast<double>(t.idle_ns);
      o.cost_ns = o.time_ns + o.fault_ns + o.idle_ns;
      o.faults = t.faults;
      o.idle_mib_seconds = t.idle_mib_s;
      o.sample_bytes = t.sample_bytes;
      w->ok = w->ok && Put(w->os, kOutcomes, hakmem_telemetry_Outcome_fields, &o);
    }
  }
}

bool EncodeChoicesAndOutcomes(pb_ostream_t* os) {
  if (Mode() == LearnMode::kFrozen) {
    bool ok = true;
    for (size_t i = 0; i < g_catalog.num_sites() && ok; ++i) {
      const CatalogSite& s = g_catalog.site(i);
      if (s.overflow) continue;
      for (int b = 0; b < kNumBands && ok; ++b) {
        const Strategy d = RouteDecision(s.key, b);
        if (d == Strategy::kNone) continue;
        hakmem_telemetry_BandChoice c = hakmem_telemetry_BandChoice_init_zero;
        c.site_id = i + 1;
        c.band = static_cast<hakmem_table_SizeBand>(b);
        c.strategy = static_cast<hakmem_table_Strategy>(d);
        ok = Put(os, kChoices, hakmem_telemetry_BandChoice_fields, &c);
      }
    }
    return ok;
  }
  ChoiceWriter w{os};
  w.outcomes = false;
  ForEachSite(EncodeLearnerSite, &w);
  w.outcomes = true;
  ForEachSite(EncodeLearnerSite, &w);
  return w.ok;
}

bool EncodeCurves(pb_ostream_t* os, const Gathered& g) {
  for (size_t i = 0; i < g.num_matches; ++i) {
    const MatchRecord& r = g.matches[i];
    hakmem_telemetry_Match m = hakmem_telemetry_Match_init_zero;
    m.site_id = g_catalog.FindSite(r.site, false);
    if (m.site_id == 0) continue;  // the catalog was full
    m.band = static_cast<hakmem_table_SizeBand>(r.band);
    m.number = r.number;
    m.allocations = r.allocations;
    m.time_ns = r.time_ns;
    m.chosen = StrategyOf(r.chosen);
    for (int k = 0; k < kNumLearnedStrategies; ++k) {
      if ((r.played & (1u << k)) == 0) continue;
      const MatchPart& p = r.part[k];
      hakmem_telemetry_MatchResult& x = m.results[m.results_count++];
      x.strategy = StrategyOf(k);
      x.rating_elo = p.rating;
      x.window_samples = p.window_samples;
      x.window_bytes = p.window_bytes;
      x.time_ns = static_cast<double>(p.time_ns);
      x.fault_ns = static_cast<double>(p.fault_ns);
      x.idle_ns = static_cast<double>(p.idle_ns);
      x.cost_ns = x.time_ns + x.fault_ns + x.idle_ns;
      x.faults = p.faults;
      x.idle_mib_seconds = static_cast<double>(p.idle_micro_mib_s) * 1e-6;
    }
    if (!Put(os, kMatches, hakmem_telemetry_Match_fields, &m)) return false;
  }
  for (size_t i = 0; i < g.num_decisions; ++i) {
    const DecisionRecord& r = g.decisions[i];
    hakmem_telemetry_Decision d = hakmem_telemetry_Decision_init_zero;
    d.site_id = g_catalog.FindSite(r.site, false);
    if (d.site_id == 0) continue;
    d.band = static_cast<hakmem_table_SizeBand>(r.band);
    d.kind = static_cast<hakmem_telemetry_DecisionKind>(r.kind);
    d.from = StrategyOf(r.from);
    d.to = StrategyOf(r.to);
    d.time_ns = r.time_ns;
    d.allocations = r.allocations;
    if (!Put(os, kDecisions, hakmem_telemetry_Decision_fields, &d)) return false;
  }
  for (size_t k = 0; k < TimelineKept(); ++k) {
    if (!Put(os, kTimeline, hakmem_telemetry_AllocatorSample_fields, &TimelineSample(k))) {
      return false;
    }
  }
  return true;
}

// Bytes Encode may write, at most: every record at its largest (nanopb's *_size) plus its
// tag and length. Address space only; the pages written are the file's size.
size_t EncodedBound(const Gathered& g) {
  constexpr size_t kFraming = 1 + 5;
  const size_t sites = g_catalog.num_sites();
  size_t b = 64;
  b += g_catalog.num_strings() * kFraming + g_catalog.string_bytes();
  b += hakmem_telemetry_Run_size + kFraming;
  b += g_catalog.num_modules() * (hakmem_telemetry_Module_size + kFraming);
  b += g_catalog.num_locations() * (hakmem_telemetry_Location_size + kFraming);
  b += sites * (hakmem_telemetry_Site_size + kFraming);
  b += sites * (hakmem_telemetry_SiteProfile_size + kFraming);
  b += sites * kNumBands * (hakmem_telemetry_BandChoice_size + kFraming);
  b += sites * kNumBands * kNumLearnedStrategies * (hakmem_telemetry_Outcome_size + kFraming);
  b += g.num_matches * (hakmem_telemetry_Match_size + kFraming);
  b += g.num_decisions * (hakmem_telemetry_Decision_size + kFraming);
  b += TimelineKept() * (hakmem_telemetry_AllocatorSample_size + kFraming);
  return b;
}

// The envelope's `telemetry` field: the encoded Telemetry, already in memory.
struct Payload {
  const uint8_t* data;
  size_t size;
};

bool EncodePayloadField(pb_ostream_t* os, const pb_field_t* field, void* const* arg) {
  const Payload* p = static_cast<const Payload*>(*arg);
  return pb_encode_tag_for_field(os, field) && pb_encode_string(os, p->data, p->size);
}

bool WriteToFile(pb_ostream_t* os, const pb_byte_t* buf, size_t count) {
  return static_cast<AtomicFile*>(os->state)->Write(buf, count);
}

void Complain(const char* path, const char* why) {
  ++g_failed_writes;
  if (g_complained) return;  // once per process: a periodic writer must not flood stderr
  g_complained = true;
  char buf[4400];
  Formatter f(buf, sizeof(buf));
  f.Str("hakmem: cannot write HAKMEM_TELEMETRY='").Str(path).Str("': ").Str(why).Str("\n");
  os::WriteStderr(buf, f.size());
}

// The whole write, under g_write_mu.
bool WriteLocked(const char* path, bool complete) {
  callsite::ScopedNoProfiling no_profiling;  // the symbolizer allocates
  ++g_writes;
  SampleAllocator(os::NowNs() - g_start_ns);
  Gathered g;
  if (!Gather(&g)) {
    Complain(path, "out of memory");
    return false;
  }
  const size_t cap = EncodedBound(g);
  auto* buf = static_cast<uint8_t*>(os::Map(cap));
  if (buf == nullptr) {
    Complain(path, "out of memory");
    return false;
  }
  pb_ostream_t os = pb_ostream_from_buffer(buf, cap);
  const bool encoded = EncodeStrings(&os) && EncodeRun(&os, g, complete) &&
                       EncodeCatalog(&os) && EncodeSiteProfiles(&os) &&
                       EncodeChoicesAndOutcomes(&os) && EncodeCurves(&os, g);
  bool ok = false;
  if (!encoded) {
    Complain(path, PB_GET_ERROR(&os));
  } else {
    Payload payload{buf, os.bytes_written};
    hakmem_telemetry_TelemetryFile file = hakmem_telemetry_TelemetryFile_init_zero;
    file.magic = kTelemetryMagic;
    file.format_version = kTelemetryFormatVersion;
    file.telemetry.funcs.encode = EncodePayloadField;
    file.telemetry.arg = &payload;
    file.telemetry_fnv1a64 = Fnv1a64(buf, os.bytes_written);
    AtomicFile out(path);
    pb_ostream_t fos = {WriteToFile, &out, SIZE_MAX, 0, nullptr};
    ok = out.ok() && pb_encode(&fos, hakmem_telemetry_TelemetryFile_fields, &file) &&
         out.Commit();
    if (!ok) Complain(path, out.why() != nullptr ? out.why() : "write failed");
  }
  os::Unmap(buf, cap);
  return ok;
}

// ---- the background thread ----

void* TelemetryLoop(void*) {
  pthread_setname_np(pthread_self(), "hakmem-telemetry");
  const uint64_t interval_ns = static_cast<uint64_t>(GetOption(Option::kTelemetryIntervalMs)) * 1000000;
  uint64_t next_write = os::NowNs() + interval_ns;
  for (;;) {
    struct timespec until;
    clock_gettime(CLOCK_MONOTONIC, &until);
    const uint64_t t = static_cast<uint64_t>(until.tv_sec) * 1000000000ull +
                       static_cast<uint64_t>(until.tv_nsec) + interval_ns;
    until.tv_sec = static_cast<time_t>(t / 1000000000ull);
    until.tv_nsec = static_cast<long>(t % 1000000000ull);
    pthread_mutex_lock(&g_thread_mu);
    while (!g_stop) {
      if (pthread_cond_timedwait(&g_thread_cv, &g_thread_mu, &until) == ETIMEDOUT) break;
    }
    const bool stop = g_stop;
    pthread_mutex_unlock(&g_thread_mu);
    if (stop) return nullptr;
    pthread_mutex_lock(&g_write_mu);
    const uint64_t now = os::NowNs();
    if (now >= next_write) {
      char path[4200];
      if (ExpandPath(path, sizeof(path))) WriteLocked(path, false);
      // Writing may take a while with many curves: at most a tenth of the time.
      const uint64_t took = os::NowNs() - now;
      next_write = now + (10 * took > interval_ns ? 10 * took : interval_ns);
    } else {
      SampleAllocator(now - g_start_ns);
    }
    pthread_mutex_unlock(&g_write_mu);
  }
}

// A forked child has no writer thread, and the locks may be held by a thread that is
// gone: start over (the child writes at exit).
void AtForkChild() {
  pthread_mutex_init(&g_write_mu, nullptr);
  pthread_mutex_init(&g_thread_mu, nullptr);
  g_thread_running = false;
  ResetTimelineAfterFork();
}

__attribute__((constructor)) void StartTelemetryThread() {
  // After libc is set up (constructors of a preloaded library run then), and only when
  // asked for: most processes get no thread.
  EnsureInitialized();
  if (GetStringOption(Option::kTelemetry) == nullptr ||
      GetOption(Option::kTelemetryIntervalMs) == 0) {
    return;
  }
  pthread_condattr_t attr;
  pthread_condattr_init(&attr);
  pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
  pthread_cond_init(&g_thread_cv, &attr);
  pthread_condattr_destroy(&attr);
  pthread_atfork(nullptr, nullptr, AtForkChild);
  // Signals go to the program's threads, never ours.
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  pthread_t t;
  g_thread_running = pthread_create(&t, nullptr, TelemetryLoop, nullptr) == 0;
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  if (g_thread_running) pthread_detach(t);
}

__attribute__((destructor)) void WriteTelemetryAtExit() {
  if (GetStringOption(Option::kTelemetry) == nullptr) return;
  if (g_thread_running) {
    pthread_mutex_lock(&g_thread_mu);
    g_stop = true;
    pthread_cond_signal(&g_thread_cv);
    pthread_mutex_unlock(&g_thread_mu);
  }
  WriteTelemetry(true);
}

}  // namespace

void StartTelemetry() {
  g_start_unix_ns = os::UnixNs();
  g_start_ns = os::NowNs();
}

bool WriteTelemetryTo(const char* path, bool complete) {
  pthread_mutex_lock(&g_write_mu);
  const bool ok = WriteLocked(path, complete);
  pthread_mutex_unlock(&g_write_mu);
  return ok;
}

bool WriteTelemetry(bool complete) {
  char path[4200];
  if (!ExpandPath(path, sizeof(path))) return false;
  return WriteTelemetryTo(path, complete);
}

}  // namespace learner
}  // namespace hakmem
