#include "tools/report.h"

#include <math.h>
#include <time.h>

#include <algorithm>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "learner/table.h"
#include "nlohmann/json.hpp"
#include "tools/site_view.h"
#include "tools/units.h"

namespace hakmem {
namespace tools {
namespace {

using telemetry::Telemetry;

const char* const kModeNames[] = {"off", "learn", "shadow", "frozen"};

const char* StrategyName(int index) {
  return index >= 0 && index < learner::kNumLearnedStrategies ? learner::kStrategyNames[index]
                                                                : "none";
}

const char* BandName(int band) {
  return band >= 0 && band < 3 ? learner::kBandNames[band] : "?";
}

std::string UtcTime(uint64_t unix_ns) {
  const time_t secs = static_cast<time_t>(unix_ns / 1000000000);
  struct tm tm;
  if (gmtime_r(&secs, &tm) == nullptr) return absl::StrCat(unix_ns, " ns");
  char buf[64];
  strftime(buf, sizeof(buf), "%Y-%m-%d %H:%M:%S UTC", &tm);
  return buf;
}

// The sites to list: profiled or learned, in the order asked for, at most `top`.
std::vector<const SiteTotals*> Listed(const Telemetry& t, const std::vector<SiteTotals>& all,
                                      const ReportOptions& o, std::vector<std::string>* labels) {
  labels->clear();
  for (const SiteTotals& s : all) labels->push_back(SiteLabel(t, t.sites(s.site)));
  std::vector<const SiteTotals*> out;
  for (const SiteTotals& s : all) {
    if (s.profiled || !s.bands.empty()) out.push_back(&s);
  }
  auto value = [&](const SiteTotals& s) -> int64_t {
    switch (o.sort) {
      case SortKey::kAllocs: return static_cast<int64_t>(s.allocs);
      case SortKey::kBytes: return static_cast<int64_t>(s.bytes);
      case SortKey::kLive: return s.live_bytes;
      case SortKey::kPeak: return s.peak_live_bytes;
      case SortKey::kFrees: return static_cast<int64_t>(s.frees);
      case SortKey::kName: return 0;
    }
    return 0;
  };
  // Ties (and kName) by name, then by position: the order never depends on the sort.
  std::stable_sort(out.begin(), out.end(), [&](const SiteTotals* a, const SiteTotals* b) {
    const int64_t va = value(*a), vb = value(*b);
    if (va != vb) return va > vb;
    return (*labels)[a->site] < (*labels)[b->site];
  });
  if (o.top > 0 && out.size() > o.top) out.resize(o.top);
  return out;
}

std::string Lifetimes(const SiteTotals& s) {
  if (s.lifetimes.empty()) return "-";
  return absl::StrJoin({HumanDuration(LifetimePercentileNs(s.lifetimes, 0.50)),
                        HumanDuration(LifetimePercentileNs(s.lifetimes, 0.90)),
                        HumanDuration(LifetimePercentileNs(s.lifetimes, 0.99))},
                       " / ");
}

// "middle band: chose pool; pool 1630.0 (40 samples, mean 85 ns), ...; 12 allocations, 3
// matches": the choice, then each measured strategy's rating, samples and mean cost.
std::string BandLine(const BandTotals& b) {
  std::string out = absl::StrCat(BandName(b.band), " band: ");
  if (!b.has_choice) {
    absl::StrAppend(&out, "no choice recorded");
  } else if (b.chosen < 0) {
    absl::StrAppend(&out, "undecided");
  } else {
    absl::StrAppend(&out, "chose ", StrategyName(b.chosen));
  }
  std::vector<std::string> cells;
  for (int k = 0; k < learner::kNumLearnedStrategies; ++k) {
    const StrategyTotals& s = b.strategies[k];
    if (!s.measured) continue;
    cells.push_back(absl::StrFormat("%s %.1f (%d sample%s, mean %s)", StrategyName(k), s.rating,
                                    s.samples, s.samples == 1 ? "" : "s",
                                    HumanDuration(s.MeanCostNs())));
  }
  if (!cells.empty()) absl::StrAppend(&out, "; ", absl::StrJoin(cells, ", "));
  if (b.has_choice) {
    absl::StrAppendFormat(&out, "; %d allocation%s, %d match%s", b.allocations,
                          b.allocations == 1 ? "" : "s", b.matches, b.matches == 1 ? "" : "es");
  }
  return out;
}

void Runs(const Telemetry& t, std::string* out) {
  absl::StrAppend(out, "runs:\n");
  for (int i = 0; i < t.runs_size(); ++i) {
    const telemetry::Run& r = t.runs(i);
    const double lasted =
        r.end_unix_ns() > r.start_unix_ns() ? static_cast<double>(r.end_unix_ns() - r.start_unix_ns()) : 0;
    absl::StrAppendFormat(out, "  %d  %s  pid %d on %s  started %s  ran %s  %s  %s  hakmem %s\n", i,
                          Printable(t.string_table(static_cast<int>(r.program_str()))), r.pid(),
                          Printable(t.string_table(static_cast<int>(r.host_str()))),
                          UtcTime(r.start_unix_ns()), HumanDuration(lasted),
                          kModeNames[r.mode() & 3],
                          r.complete() ? "complete" : absl::StrCat("running (periodic write ",
                                                                   r.writes(), ")"),
                          Printable(r.hakmem_version()));
  }
}

// Non-zero drops, one line per run that lost something; "" if none did.
std::string Drops(const Telemetry& t) {
  std::string out;
  for (int i = 0; i < t.runs_size(); ++i) {
    const telemetry::Drops& d = t.runs(i).drops();
    std::vector<std::string> parts;
    auto add = [&](uint64_t n, const char* one, const char* many, const char* what) {
      if (n > 0) parts.push_back(absl::StrCat(Count(n, one, many), " ", what));
    };
    add(d.sites(), "site", "sites", "found the site table full (their records are in (overflow))");
    add(d.contexts(), "calling context", "calling contexts",
        "found the context table full (their records are in (overflow))");
    add(d.learner_sites(), "routed allocation", "routed allocations",
        "at sites the learner could not follow (its table was full)");
    add(d.matches(), "match", "matches", "not kept");
    add(d.decisions(), "decision", "decisions", "not kept");
    add(d.timeline_samples(), "timeline sample", "timeline samples", "not kept");
    add(d.failed_writes(), "telemetry write", "telemetry writes", "failed");
    add(d.names(), "name, location or site", "names, locations or sites",
        "had no room in the writer's catalog");
    if (!parts.empty()) absl::StrAppend(&out, "  run ", i, ": ", absl::StrJoin(parts, "; "), "\n");
  }
  return out;
}

void Allocator(const Telemetry& t, std::string* out) {
  // Each run's last sample (the timeline is in time order per run).
  std::vector<const telemetry::AllocatorSample*> last(static_cast<size_t>(t.runs_size()), nullptr);
  for (const telemetry::AllocatorSample& s : t.timeline()) last[s.run()] = &s;
  absl::StrAppend(out, "\nallocator (each run's last timeline sample):\n");
  for (int i = 0; i < t.runs_size(); ++i) {
    const telemetry::AllocatorSample* s = last[i];
    if (s == nullptr) {
      absl::StrAppend(out, "  run ", i, ": no samples\n");
      continue;
    }
    absl::StrAppendFormat(out, "  run %d at %s: mapped %s, resident %s (the whole process)\n", i,
                          HumanDuration(static_cast<double>(s->time_ns())),
                          HumanBytes(static_cast<double>(s->mapped_bytes())),
                          HumanBytes(static_cast<double>(s->resident_bytes())));
    absl::StrAppendFormat(out, "      heap: %s in spans, %s free, %s returned to the OS so far\n",
                          HumanBytes(static_cast<double>(s->heap_span_bytes())),
                          HumanBytes(static_cast<double>(s->heap_free_bytes())),
                          HumanBytes(static_cast<double>(s->returned_bytes())));
    absl::StrAppendFormat(out, "      bigcache: %d hits, %d misses, %d evictions, %s held\n",
                          s->bigcache_hits(), s->bigcache_misses(), s->bigcache_evictions(),
                          HumanBytes(static_cast<double>(s->bigcache_held_bytes())));
    absl::StrAppendFormat(out,
                          "      mapped blocks: %s live, %d allocations; system calls: %d mmap, "
                          "%d munmap, %d madvise\n",
                          HumanBytes(static_cast<double>(s->large_live_bytes())), s->large_allocs(),
                          s->mmap_calls(), s->munmap_calls(), s->madvise_calls());
  }
}

}  // namespace

absl::StatusOr<SortKey> ParseSortKey(absl::string_view name) {
  static const std::pair<const char*, SortKey> kKeys[] = {
      {"allocs", SortKey::kAllocs}, {"bytes", SortKey::kBytes}, {"live", SortKey::kLive},
      {"peak", SortKey::kPeak},     {"frees", SortKey::kFrees}, {"name", SortKey::kName}};
  for (const auto& [n, key] : kKeys) {
    if (name == n) return key;
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "--sort: expected allocs, bytes, live, peak, frees or name, got '", name, "'"));
}

std::string TextReport(const Telemetry& t, const ReportOptions& options) {
  std::string out;
  absl::StrAppend(&out, "telemetry: ", Count(t.runs_size(), "run", "runs"), ", ",
                  Count(t.sites_size(), "site", "sites"), ", ",
                  Count(t.locations_size(), "location", "locations"), " in ",
                  Count(t.modules_size(), "module", "modules"), "\n");
  Runs(t, &out);
  const std::string drops = Drops(t);
  if (!drops.empty()) {
    absl::StrAppend(&out, "\n!! DROPPED: these runs could not record everything; counts below are "
                          "lower bounds:\n", drops);
  }

  const std::vector<SiteTotals> all = AggregateSites(t);
  std::vector<std::string> labels;
  const std::vector<const SiteTotals*> listed = Listed(t, all, options, &labels);
  size_t listable = 0;
  for (const SiteTotals& s : all) listable += s.profiled || !s.bands.empty() ? 1 : 0;
  static const char* const kSortNames[] = {"allocations", "bytes", "live bytes", "peak live bytes",
                                           "frees", "name"};
  absl::StrAppendFormat(&out, "\nsites: %d (%s shown), by %s; ~: estimated from samples\n",
                        listable,
                        listed.size() < listable ? absl::StrCat("top ", listed.size())
                                                 : std::string("all"),
                        kSortNames[static_cast<int>(options.sort)]);
  size_t width = 4;
  for (const SiteTotals* s : listed) width = std::max(width, std::min<size_t>(labels[s->site].size(), 48));
  const int w = static_cast<int>(width);
  absl::StrAppendFormat(&out, "%4s  %-*s  %11s  %10s  %10s  %10s  %s\n", "#", w, "site", "allocs",
                        "bytes", "live", "peak", "lifetime p50 / p90 / p99");
  for (size_t i = 0; i < listed.size(); ++i) {
    const SiteTotals& s = *listed[i];
    const telemetry::Site& site = t.sites(s.site);
    absl::StrAppendFormat(&out, "%4d  %-*s  %11s  %10s  %10s  %10s  %s\n", i + 1, w, labels[s.site],
                          absl::StrCat(s.estimated ? "~" : "", s.allocs),
                          HumanBytes(static_cast<double>(s.bytes)),
                          HumanBytes(static_cast<double>(s.live_bytes)),
                          HumanBytes(static_cast<double>(s.peak_live_bytes)), Lifetimes(s));
    if (site.location_ids_size() > 1) {
      std::vector<std::string> frames;
      for (uint64_t id : site.location_ids()) frames.push_back(FrameLabel(DescribeLocation(t, id)));
      absl::StrAppend(&out, "        context: ", absl::StrJoin(frames, " <- "), "\n");
    }
    for (const BandTotals& b : s.bands) absl::StrAppend(&out, "        ", BandLine(b), "\n");
  }
  Allocator(t, &out);
  absl::StrAppend(&out, "\ndrops:", drops.empty() ? " none\n" : "\n", drops);
  return out;
}

std::string JsonReport(const Telemetry& t, const ReportOptions& options) {
  using Json = nlohmann::ordered_json;
  auto or_null = [](const std::string& s) { return s.empty() ? Json(nullptr) : Json(s); };
  const std::vector<SiteTotals> all = AggregateSites(t);
  std::vector<std::string> labels;
  Json sites = Json::array();
  for (const SiteTotals* st : Listed(t, all, options, &labels)) {
    const SiteTotals& s = *st;
    const telemetry::Site& site = t.sites(s.site);
    Json j;
    j["key"] = absl::StrFormat("0x%x", site.key());
    FrameInfo first;
    if (site.location_ids_size() > 0) {
      const FrameInfo named = DescribeLocation(t, site.location_ids(NamingFrame(site)));
      j["name"] = or_null(named.symbol);
      j["name_frame"] = NamingFrame(site);
      Json context = Json::array();
      for (uint64_t id : site.location_ids()) {
        const FrameInfo f = DescribeLocation(t, id);
        context.push_back({{"module", or_null(f.module)},
                           {"build_id", or_null(f.build_id)},
                           {"offset", f.offset},
                           {"symbol", or_null(f.symbol)},
                           {"file", or_null(f.file)},
                           {"line", f.line}});
      }
      j["context"] = context;
      first = DescribeLocation(t, site.location_ids(0));
      j["module"] = or_null(first.module);
      j["build_id"] = or_null(first.build_id);
      j["offset"] = first.offset;
      j["symbol"] = or_null(first.symbol);
    } else {
      const std::string& name = t.string_table(static_cast<int>(site.name_str()));
      j["name"] = site.overflow() ? Json("(overflow)") : or_null(name);
      j["name_frame"] = 0;
      j["context"] = Json::array();
      j["module"] = site.overflow() ? "(overflow)" : "(named)";
      j["build_id"] = nullptr;
      j["offset"] = 0;
      j["symbol"] = site.overflow() ? Json(nullptr) : or_null(name);
    }
    j["file"] = or_null(first.file);
    j["line"] = first.line;
    j["allocs"] = s.allocs;
    j["allocs_estimated"] = s.estimated;
    j["records"] = s.records;
    j["frees"] = s.frees;
    j["cross_thread_frees"] = s.cross_thread_frees;
    j["bytes"] = s.bytes;
    j["live_bytes"] = s.live_bytes;
    j["peak_live_bytes"] = s.peak_live_bytes;
    // The learner's view (learner/describe.cc): the band with the most samples speaks for
    // the site; every band's choice under "bands".
    const BandTotals* main = nullptr;
    for (const BandTotals& b : s.bands) {
      if (main == nullptr || b.Samples() > main->Samples()) main = &b;
    }
    if (main != nullptr) {
      j["strategy"] = main->has_choice && main->chosen >= 0 ? Json(StrategyName(main->chosen))
                                                           : Json(nullptr);
      Json ratings = Json::object(), samples = Json::object(), bands = Json::object();
      for (int k = 0; k < learner::kNumLearnedStrategies; ++k) {
        const StrategyTotals& st2 = main->strategies[k];
        if (!st2.measured) continue;
        ratings[StrategyName(k)] = std::round(st2.rating * 10) / 10;
        samples[StrategyName(k)] = st2.samples;
      }
      for (const BandTotals& b : s.bands) {
        bands[BandName(b.band)] =
            b.has_choice && b.chosen >= 0 ? Json(StrategyName(b.chosen)) : Json(nullptr);
      }
      j["ratings"] = ratings;
      j["samples"] = samples;
      j["bands"] = bands;
    }
    Json sizes = Json::object(), lifetimes = Json::object();
    for (const auto& [max, count] : s.sizes) {
      if (count > 0) sizes[absl::StrCat(max)] = count;
    }
    for (const auto& [max, count] : s.lifetimes) {
      if (count > 0) lifetimes[absl::StrCat(max)] = count;
    }
    j["size_histogram"] = sizes;
    j["lifetime_histogram"] = lifetimes;
    sites.push_back(std::move(j));
  }
  uint64_t dropped_sites = 0, dropped_contexts = 0, depth = 0;
  for (const telemetry::Run& r : t.runs()) {
    dropped_sites += r.drops().sites();
    dropped_contexts += r.drops().contexts();
    depth = std::max<uint64_t>(depth, r.context_depth());
  }
  Json doc;
  doc["sample_bytes"] = t.runs_size() > 0 ? t.runs(0).sample_bytes() : 0;
  doc["sites"] = std::move(sites);
  doc["dropped_sites"] = dropped_sites;
  doc["context_depth"] = depth;
  doc["dropped_contexts"] = dropped_contexts;
  return doc.dump(1, ' ', false, Json::error_handler_t::replace) + "\n";
}

}  // namespace tools
}  // namespace hakmem
