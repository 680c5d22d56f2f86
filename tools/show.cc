#include "tools/show.h"

#include <inttypes.h>
#include <time.h>

#include <algorithm>
#include <vector>

#include "learner/frozen_table.pb.h"
#include "learner/table.h"
#include "learner/table_codec.h"

namespace hakmem {
namespace tools {
namespace {

using namespace ::hakmem::table;  // the generated messages and enums

// Bytes fields (paths, names) need not be UTF-8: escape what is not printable ASCII.
std::string Printable(const std::string& s) {
  std::string out;
  for (unsigned char c : s) {
    if (c >= 0x20 && c < 0x7f && c != '\\') {
      out += static_cast<char>(c);
    } else {
      char buf[8];
      snprintf(buf, sizeof(buf), "\\x%02x", c);
      out += buf;
    }
  }
  return out;
}

std::string UtcTime(uint64_t unix_ms, bool with_ms) {
  const time_t secs = static_cast<time_t>(unix_ms / 1000);
  struct tm tm;
  if (gmtime_r(&secs, &tm) == nullptr) return std::to_string(unix_ms) + " ms";
  char buf[64];
  strftime(buf, sizeof(buf), "%Y-%m-%d %H:%M:%S", &tm);
  std::string out = buf;
  if (with_ms) {
    snprintf(buf, sizeof(buf), ".%03u", static_cast<unsigned>(unix_ms % 1000));
    out += buf;
  }
  return out + " UTC";
}

std::string BandName(int band) {
  switch (band) {
    case SIZE_BAND_MIDDLE: return "middle";
    case SIZE_BAND_LARGE: return "large";
    case SIZE_BAND_HUGE: return "huge";
  }
  return "band?" + std::to_string(band);
}

std::string StrategyName(int s) {
  switch (s) {
    case STRATEGY_NONE: return "-";
    case STRATEGY_POOL: return "pool";
    case STRATEGY_BIGCACHE: return "bigcache";
    case STRATEGY_MMAP: return "mmap";
  }
  return "strategy?" + std::to_string(s);
}

std::string Basename(const std::string& path) {
  const size_t slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

// "libfoo.so.1[0123456789ab]", "[0123456789ab]" or "libbar.so": a module, shortened.
// Found by id, not position, so that a table the codec refuses still shows.
std::string ModuleLabel(const FrozenTable& t, uint64_t id) {
  for (const Module& m : t.modules()) {
    if (m.id() != id) continue;
    std::string label = Printable(Basename(m.path()));
    if (!m.build_id_hex().empty()) label += "[" + Printable(m.build_id_hex().substr(0, 12)) + "]";
    return label;
  }
  return "module?" + std::to_string(id);
}

// "libfoo.so.1[0123456789ab]+0x1234".
std::string FrameLabel(const FrozenTable& t, const Frame& f) {
  char off[24];
  snprintf(off, sizeof(off), "+0x%" PRIx64, f.offset_bytes());
  return ModuleLabel(t, f.module_id()) + off;
}

// The allocation call (frame 0), or "site 'name'".
std::string SiteLabel(const FrozenTable& t, const Entry& e) {
  if (!e.site_name().empty()) return "site '" + Printable(e.site_name()) + "'";
  if (e.frames_size() == 0) return "(no site)";
  return FrameLabel(t, e.frames(0));
}

// Every frame, innermost first: "a+0x10 <- b+0x20" (a was called from b).
std::string ContextLabel(const FrozenTable& t, const Entry& e) {
  std::string out;
  for (const Frame& f : e.frames()) out += (out.empty() ? "" : " <- ") + FrameLabel(t, f);
  return out;
}

// "1562.2 (1000) 812.5ns": rating, samples, mean cost.
std::string StatsCell(const StrategyStats& s) {
  char buf[96];
  snprintf(buf, sizeof(buf), "%.1f (%" PRIu64 ") %.1fns", s.rating_elo(), s.samples(),
           s.mean_cost_ns());
  return buf;
}

void PrintParams(const LearnParams& p, FILE* out) {
  fprintf(out, "params:          elo_initial_rating=%g elo_k_factor=%g elo_scale_points=%g\n",
          p.elo_initial_rating(), p.elo_k_factor(), p.elo_scale_points());
  fprintf(out,
          "                 draw_margin_fraction=%g min_samples=%" PRIu64
          " commit_margin_points=%g\n",
          p.draw_margin_fraction(), p.min_samples(), p.commit_margin_points());
  fprintf(out, "                 explore_rate_fraction=%g weight_time=%g weight_faults=%g\n",
          p.explore_rate_fraction(), p.weight_time(), p.weight_faults());
  fprintf(out, "                 weight_idle_ns_per_mib_second=%g fault_cost_ns=%g\n",
          p.weight_idle_ns_per_mib_second(), p.fault_cost_ns());
}

void PrintEntries(const FrozenTable& t, FILE* out) {
  std::vector<std::string> sites;
  size_t width = 4;
  for (const Entry& e : t.entries()) {
    sites.push_back(SiteLabel(t, e));
    width = std::max(width, std::min<size_t>(sites.back().size(), 60));
  }
  const int w = static_cast<int>(width);
  fprintf(out, "per strategy: rating (samples) mean cost per allocation\n");
  fprintf(out, "%5s  %-*s  %-6s  %-8s  %-28s  %-28s  %s\n", "#", w, "site", "band", "chosen",
          "pool", "bigcache", "mmap");
  for (int i = 0; i < t.entries_size(); ++i) {
    const Entry& e = t.entries(i);
    std::string cells[3] = {"-", "-", "-"};
    std::string extra;
    for (const StrategyStats& s : e.stats()) {
      const int k = static_cast<int>(s.strategy()) - 1;
      if (k >= 0 && k < 3) {
        cells[k] = StatsCell(s);
      } else {
        extra += "  " + StrategyName(s.strategy()) + ": " + StatsCell(s);
      }
    }
    fprintf(out, "%5d  %-*s  %-6s  %-8s  %-28s  %-28s  %s%s\n", i, w, sites[i].c_str(),
            BandName(e.size_band()).c_str(), StrategyName(e.strategy()).c_str(),
            cells[0].c_str(), cells[1].c_str(), cells[2].c_str(), extra.c_str());
    // The site column holds the allocation call; its callers go on a line of their own.
    if (e.frames_size() > 1) fprintf(out, "%5s  context: %s\n", "", ContextLabel(t, e).c_str());
  }
}

// Frames shorten modules; here they are in full, with the ids frames name them by.
void PrintModules(const FrozenTable& t, FILE* out) {
  fprintf(out, "modules:         %d\n", t.modules_size());
  for (const Module& m : t.modules()) {
    fprintf(out, "  %3" PRIu64 "  %s  build-id %s\n", m.id(),
            m.path().empty() ? "(no path)" : Printable(m.path()).c_str(),
            m.build_id_hex().empty() ? "(none)" : Printable(m.build_id_hex()).c_str());
  }
}

}  // namespace

bool ShowTable(const std::string& bytes, FILE* out, bool* valid, std::string* error) {
  size_t n = 0;
  const char* why = learner::CountTableEntries(reinterpret_cast<const uint8_t*>(bytes.data()),
                                               bytes.size(), &n);
  const std::string reason = why != nullptr ? why : "";
  FrozenTableFile file;
  if (!file.ParseFromString(bytes) || file.magic() != learner::kTableMagic) {
    *error = reason.empty() ? "not a frozen table" : reason;
    return false;
  }
  FrozenTable t;
  if (!t.ParseFromString(file.table())) {
    *error = reason.empty() ? "the table does not parse" : reason;
    return false;
  }
  const bool sum_ok = file.table_fnv1a64() ==
                      learner::Fnv1a64(reinterpret_cast<const uint8_t*>(file.table().data()),
                                       file.table().size());
  fprintf(out, "file:            %zu bytes, format version %u, checksum %s\n", bytes.size(),
          file.format_version(), sum_ok ? "ok" : "MISMATCH");
  fprintf(out, "hakmem version:  %s\n", Printable(t.hakmem_version()).c_str());
  fprintf(out, "created:         %s\n", UtcTime(t.created_unix_ms(), true).c_str());
  PrintParams(t.params(), out);
  fprintf(out, "runs:            %d\n", t.runs_size());
  for (const RunInfo& r : t.runs()) {
    fprintf(out, "  %s  %10.3f s  pid %-8" PRIu64 "  %s\n", UtcTime(r.start_unix_ms(), false).c_str(),
            static_cast<double>(r.duration_ms()) / 1000.0, r.pid(),
            Printable(r.program_path()).c_str());
  }
  fprintf(out, "entries:         %d\n", t.entries_size());
  if (t.entries_size() > 0) PrintEntries(t, out);
  if (t.modules_size() > 0) PrintModules(t, out);
  *valid = reason.empty();
  if (*valid) {
    fprintf(out, "status: ok (%zu entries)\n", n);
  } else {
    fprintf(out, "status: INVALID: %s\n", reason.c_str());
  }
  return true;
}

}  // namespace tools
}  // namespace hakmem
