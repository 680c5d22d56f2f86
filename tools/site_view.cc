#include "tools/site_view.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace hakmem {
namespace tools {
namespace {

using telemetry::Telemetry;

const std::string& Str(const Telemetry& t, uint64_t index) {
  return t.string_table(static_cast<int>(index));
}

absl::string_view Basename(absl::string_view path) {
  const size_t slash = path.rfind('/');
  return slash == absl::string_view::npos ? path : path.substr(slash + 1);
}

}  // namespace

std::string ModuleIdentity(absl::string_view build_id_hex, absl::string_view path) {
  if (!build_id_hex.empty()) return absl::StrCat("build-id:", build_id_hex);
  return absl::StrCat("path:", path);
}

std::string Printable(absl::string_view s) {
  std::string out;
  for (unsigned char c : s) {
    if (c >= 0x20 && c < 0x7f && c != '\\') {
      out += static_cast<char>(c);
    } else {
      absl::StrAppendFormat(&out, "\\x%02x", c);
    }
  }
  return out;
}

FrameInfo DescribeLocation(const Telemetry& t, uint64_t location_id) {
  const telemetry::Location& l = t.locations(static_cast<int>(location_id - 1));
  FrameInfo f;
  if (l.module_id() != 0) {
    const telemetry::Module& m = t.modules(static_cast<int>(l.module_id() - 1));
    f.module = Str(t, m.path_str());
    f.build_id = m.build_id_hex();
  }
  f.offset = l.offset_bytes();
  f.symbol = Str(t, l.function_str());
  f.file = Str(t, l.file_str());
  f.line = l.line();
  return f;
}

std::string FrameLabel(const FrameInfo& f) {
  if (!f.symbol.empty()) {
    std::string out = Printable(f.symbol);
    if (!f.file.empty()) {
      absl::StrAppend(&out, " (", Printable(f.file));
      if (f.line != 0) absl::StrAppend(&out, ":", f.line);
      absl::StrAppend(&out, ")");
    }
    return out;
  }
  if (f.module.empty() && f.build_id.empty()) return absl::StrFormat("0x%x", f.offset);
  const std::string module =
      f.module.empty() ? absl::StrCat("[", f.build_id.substr(0, 12), "]") : Printable(Basename(f.module));
  return absl::StrFormat("%s+0x%x", module, f.offset);
}

int NamingFrame(const telemetry::Site& s) {
  return std::min<int>(static_cast<int>(s.wrapper_frames()), std::max(0, s.location_ids_size() - 1));
}

std::string SiteLabel(const Telemetry& t, const telemetry::Site& s) {
  if (s.overflow()) return "(overflow)";
  if (s.location_ids_size() == 0) return absl::StrCat("site '", Printable(Str(t, s.name_str())), "'");
  return FrameLabel(DescribeLocation(t, s.location_ids(NamingFrame(s))));
}

SiteIdentity IdentityOf(const Telemetry& t, const telemetry::Site& s) {
  SiteIdentity id;
  id.overflow = s.overflow();
  id.name = Str(t, s.name_str());
  for (uint64_t loc : s.location_ids()) {
    const telemetry::Location& l = t.locations(static_cast<int>(loc - 1));
    std::string module;
    if (l.module_id() != 0) {
      const telemetry::Module& m = t.modules(static_cast<int>(l.module_id() - 1));
      module = ModuleIdentity(m.build_id_hex(), Str(t, m.path_str()));
    }
    id.frames.emplace_back(std::move(module), l.offset_bytes());
  }
  return id;
}

uint64_t BandTotals::Samples() const {
  uint64_t n = 0;
  for (const StrategyTotals& s : strategies) n += s.samples;
  return n;
}

const BandTotals* SiteTotals::Band(int band) const {
  for (const BandTotals& b : bands) {
    if (b.band == band) return &b;
  }
  return nullptr;
}

namespace {

// Running sums for the rating of one (site, band, strategy).
struct RatingSums {
  double weighted = 0, plain = 0;
  int runs = 0;
};

}  // namespace

std::vector<SiteTotals> AggregateSites(const Telemetry& t) {
  std::vector<SiteTotals> sites(static_cast<size_t>(t.sites_size()));
  for (int i = 0; i < t.sites_size(); ++i) sites[i].site = i;
  for (const telemetry::SiteProfile& p : t.site_profiles()) {
    SiteTotals& s = sites[p.site_id() - 1];
    s.profiled = true;
    s.allocs += p.allocs();
    s.frees += p.frees();
    s.cross_thread_frees += p.cross_thread_frees();
    s.records += p.records();
    s.bytes += p.allocated_bytes();
    s.live_bytes += p.live_bytes();
    s.peak_live_bytes = std::max(s.peak_live_bytes, p.peak_live_bytes());
    s.estimated = s.estimated || p.allocs_estimated();
    for (const telemetry::SizeBucket& b : p.sizes()) s.sizes[b.max_bytes()] += b.count();
    for (const telemetry::LifetimeBucket& b : p.lifetimes()) s.lifetimes[b.max_ns()] += b.count();
  }
  // Bands: made on first sight, then sorted by band.
  auto band_of = [&](uint64_t site_id, int band) -> BandTotals& {
    SiteTotals& s = sites[site_id - 1];
    for (BandTotals& b : s.bands) {
      if (b.band == band) return b;
    }
    s.bands.emplace_back();
    s.bands.back().band = band;
    return s.bands.back();
  };
  // The latest run's choice: (start_unix_ns, run index) of the choice kept so far.
  std::map<std::pair<uint64_t, int>, std::pair<uint64_t, uint32_t>> chosen_at;
  for (const telemetry::BandChoice& c : t.choices()) {
    BandTotals& b = band_of(c.site_id(), c.band());
    b.allocations += c.allocations();
    b.matches += c.matches();
    const std::pair<uint64_t, uint32_t> when(t.runs(static_cast<int>(c.run())).start_unix_ns(), c.run());
    auto [it, first] = chosen_at.emplace(std::make_pair(c.site_id(), c.band()), when);
    if (first || when >= it->second) {
      it->second = when;
      b.has_choice = true;
      b.chosen = static_cast<int>(c.strategy()) - 1;
    }
  }
  std::map<std::tuple<uint64_t, int, int>, RatingSums> ratings;
  for (const telemetry::Outcome& o : t.outcomes()) {
    BandTotals& b = band_of(o.site_id(), o.band());
    const int k = static_cast<int>(o.strategy()) - 1;
    StrategyTotals& s = b.strategies[k];
    s.measured = true;
    s.tries += o.tries();
    s.samples += o.samples();
    s.faults += o.faults();
    s.cost_ns += o.cost_ns();
    s.time_ns += o.time_ns();
    s.fault_ns += o.fault_ns();
    s.idle_ns += o.idle_ns();
    RatingSums& r = ratings[std::make_tuple(o.site_id(), o.band(), k)];
    r.weighted += o.rating_elo() * static_cast<double>(o.samples());
    r.plain += o.rating_elo();
    ++r.runs;
  }
  for (const auto& [key, r] : ratings) {
    const auto& [site_id, band, k] = key;
    StrategyTotals& s = band_of(site_id, band).strategies[k];
    s.rating = s.samples > 0 ? r.weighted / static_cast<double>(s.samples) : r.plain / r.runs;
  }
  for (SiteTotals& s : sites) {
    std::sort(s.bands.begin(), s.bands.end(),
              [](const BandTotals& a, const BandTotals& b) { return a.band < b.band; });
  }
  return sites;
}

uint64_t LifetimePercentileNs(const std::map<uint64_t, uint64_t>& lifetimes, double p) {
  uint64_t total = 0;
  for (const auto& [max_ns, count] : lifetimes) total += count;
  if (total == 0) return 0;
  // The smallest bucket whose cumulative count reaches p of the total (at least one).
  const double want = std::max(1.0, p * static_cast<double>(total));
  uint64_t seen = 0;
  for (const auto& [max_ns, count] : lifetimes) {
    seen += count;
    if (static_cast<double>(seen) >= want) return max_ns;
  }
  return lifetimes.rbegin()->first;
}

}  // namespace tools
}  // namespace hakmem
