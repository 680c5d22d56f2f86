// Telemetry seen per call site, over all of a file's runs, for the commands that present
// it (report, pprof, diff): how a site and its frames are named, what identifies a site
// across files, and its records summed over runs.
//
// Aggregation over runs: counts, bytes, live bytes and histograms are summed; peak live
// bytes is the largest of any run; a count is an estimate if any run's was. Per (site,
// band), the choice is the latest run's that made one (by start time), samples, tries and
// costs are summed, and a rating is the runs' ratings weighted by samples (plainly when no
// run has samples), as `hakmem freeze` weighs them.
#ifndef HAKMEM_TOOLS_SITE_VIEW_H_
#define HAKMEM_TOOLS_SITE_VIEW_H_

#include <stdint.h>

#include <map>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "absl/strings/string_view.h"
#include "learner/table.h"
#include "learner/telemetry.pb.h"

namespace hakmem {
namespace tools {

// ---- names ---------------------------------------------------------------------------

// A module's identity as keys see it: "build-id:<hex>" where it has one, else
// "path:<path>". (Frames in no module have the identity "" in SiteIdentity.)
std::string ModuleIdentity(absl::string_view build_id_hex, absl::string_view path);

// One frame as the site report describes it.
struct FrameInfo {
  std::string module;    // the module's path ("" for code in no module)
  std::string build_id;  // lowercase hex, "" if none
  uint64_t offset = 0;   // from the module's load base (the address, in no module)
  std::string symbol;    // the function, "" if unknown
  std::string file;      // the source file, "" if unknown
  uint32_t line = 0;     // 0 if unknown
};
FrameInfo DescribeLocation(const telemetry::Telemetry& t, uint64_t location_id);

// "parse_tokens (src/parse.cc:88)", "decode_frame", or "libdecoder.so+0x910" (the
// module's basename) and "0x7f3a00001000" (no module) where the function is unknown.
std::string FrameLabel(const FrameInfo& f);

// Where a site's frames are named: the frame after the wrappers (Site.wrapper_frames).
int NamingFrame(const telemetry::Site& s);

// The site's name: its naming frame's label, "site 'name'" for an explicit site, or
// "(overflow)".
std::string SiteLabel(const telemetry::Telemetry& t, const telemetry::Site& s);

// Bytes that need not be UTF-8, printable: other bytes as \xff.
std::string Printable(absl::string_view s);

// ---- identity ------------------------------------------------------------------------

// What a site key hashes: the calling context frame by frame (module identity, offset),
// or an explicit site's name, or the overflow bucket. Equal across files and formats
// (a frozen table entry has the same), whatever ids each file gives its modules.
struct SiteIdentity {
  std::vector<std::pair<std::string, uint64_t>> frames;
  std::string name;
  bool overflow = false;

  friend bool operator<(const SiteIdentity& a, const SiteIdentity& b) {
    return std::tie(a.frames, a.name, a.overflow) < std::tie(b.frames, b.name, b.overflow);
  }
  friend bool operator==(const SiteIdentity& a, const SiteIdentity& b) {
    return a.frames == b.frames && a.name == b.name && a.overflow == b.overflow;
  }
};
SiteIdentity IdentityOf(const telemetry::Telemetry& t, const telemetry::Site& s);

// ---- totals over runs ----------------------------------------------------------------

struct StrategyTotals {
  bool measured = false;  // some run has an Outcome for it
  uint64_t tries = 0, samples = 0, faults = 0;
  double cost_ns = 0, time_ns = 0, fault_ns = 0, idle_ns = 0;
  double rating = 0;  // weighted as above

  double MeanCostNs() const { return samples > 0 ? cost_ns / static_cast<double>(samples) : 0; }
};

struct BandTotals {
  int band = 0;                   // hakmem.table.SizeBand
  int chosen = -1;                // learner::StrategyIndex of the latest choice; -1: none
  bool has_choice = false;        // some run recorded a BandChoice
  uint64_t allocations = 0;       // routed allocations, summed (BandChoice)
  uint64_t matches = 0;           // matches played, summed
  StrategyTotals strategies[learner::kNumLearnedStrategies];

  uint64_t Samples() const;
};

struct SiteTotals {
  int site = 0;  // index into Telemetry.sites
  bool profiled = false;  // some run has a SiteProfile for it
  uint64_t allocs = 0, frees = 0, cross_thread_frees = 0, records = 0, bytes = 0;
  int64_t live_bytes = 0, peak_live_bytes = 0;
  bool estimated = false;
  std::map<uint64_t, uint64_t> sizes;      // bucket's max_bytes -> count
  std::map<uint64_t, uint64_t> lifetimes;  // bucket's max_ns -> count
  std::vector<BandTotals> bands;           // the bands with a choice or outcome, in order

  const BandTotals* Band(int band) const;
};

// One per site, in the file's site order. `t` must be valid.
std::vector<SiteTotals> AggregateSites(const telemetry::Telemetry& t);

// The lifetime below which fraction `p` (0..1) of the lifetimes fall, as the upper bound
// of the histogram bucket where the count reaches it; 0 for an empty histogram.
uint64_t LifetimePercentileNs(const std::map<uint64_t, uint64_t>& lifetimes, double p);

}  // namespace tools
}  // namespace hakmem

#endif  // HAKMEM_TOOLS_SITE_VIEW_H_
