// `hakmem diff`: what changed in what was learned, per (site, band), between two files
// of either kind (telemetry or frozen table). Sites are matched by what their key hashes
// (tools/site_view.h SiteIdentity: the calling context's module identities and offsets,
// or an explicit site's name), so a telemetry file compares with the table frozen from it.
#ifndef HAKMEM_TOOLS_DIFF_H_
#define HAKMEM_TOOLS_DIFF_H_

#include <stdint.h>

#include <map>
#include <string>
#include <vector>

#include "learner/table.h"
#include "learner/telemetry.pb.h"
#include "tools/site_view.h"
#include "tools/table_file.h"

namespace hakmem {
namespace tools {

// What one file says was learned at one (site, band).
struct LearnedBand {
  int chosen = -1;  // learner::StrategyIndex; -1: none decided
  bool measured[learner::kNumLearnedStrategies] = {};
  uint64_t samples[learner::kNumLearnedStrategies] = {};
  double mean_cost_ns[learner::kNumLearnedStrategies] = {};
};

struct LearnedSite {
  std::string label;    // how people know the site (tools/site_view.h SiteLabel)
  bool symbolic = false;  // the label is a name (a function's, an explicit site's), not
                          // module+offset
  std::string context;  // every frame, innermost first ("a <- b"), for telling sites apart
  std::map<int, LearnedBand> bands;  // by hakmem.table.SizeBand
};

using Learned = std::map<SiteIdentity, LearnedSite>;

// Telemetry: every (site, band) with a choice or an outcome, aggregated over the runs as
// tools/site_view.h does (the latest run's choice, costs summed over samples).
Learned LearnedFromTelemetry(const telemetry::Telemetry& t);

// A frozen table: every entry, its chosen strategy and per-strategy mean costs.
Learned LearnedFromTable(const Table& t);

enum class ChangeKind { kNew, kGone, kChosen, kCost };

struct Change {
  ChangeKind kind;
  std::string line;  // "chosen  middle  parse_tokens (src/parse.cc:88): pool -> bigcache"
};

// The changes from `a` to `b`, ordered by site label, then band: a (site, band) in `b`
// only (new), in `a` only (gone), with another chosen strategy (chosen), or with the same
// strategy chosen whose mean cost moved by more than `threshold` (a fraction of a's).
// A site is labelled as `a` labels it, unless only `b`'s label is symbolic. Sites whose
// labels coincide get their whole context appended to tell them apart.
std::vector<Change> DiffLearned(const Learned& a, const Learned& b, double threshold);

}  // namespace tools
}  // namespace hakmem

#endif  // HAKMEM_TOOLS_DIFF_H_
