// `hakmem freeze` on telemetry: what the learner measured in each run, as the learner
// states (frozen tables) that MergeTables (tools/merge.h) already knows how to merge.
//
// One table per run that measured anything (has an Outcome): an entry per (site, band)
// with outcomes, its frames the site's locations (module identity, offset) or an explicit
// site's name, and per strategy the run's rating, samples and mean cost (cost_ns /
// samples); the run's learn_params (defaults if it has none) and the run as RunInfo. The
// entries' choices are left undecided: MergeTables decides them again.
#ifndef HAKMEM_TOOLS_TELEMETRY_TO_TABLE_H_
#define HAKMEM_TOOLS_TELEMETRY_TO_TABLE_H_

#include <stddef.h>

#include <memory>
#include <vector>

#include "learner/table.h"
#include "learner/telemetry.pb.h"
#include "tools/table_file.h"

namespace hakmem {
namespace tools {

// What could not become a table entry, by reason, counted in (site, band) entries (or
// outcomes, for the last).
struct LeftOut {
  size_t no_module = 0;        // a frame in no module (JIT code): keys mean nothing elsewhere
  size_t overflow = 0;         // the overflow site: no key of its own
  size_t unrepresentable = 0;  // a module with neither build-id nor path, a path or name too
                               // long for the table, more modules than a table holds
  size_t ineligible = 0;       // outcomes of a strategy the band cannot use (the pool above
                               // the middle band)
};

struct ConvertedRuns {
  std::vector<std::unique_ptr<Table>> tables;  // in run order
  LeftOut left_out;
};

// `t` must be valid (ValidateTelemetry).
ConvertedRuns TelemetryToTables(const telemetry::Telemetry& t);

// hakmem.table.LearnParams as the learner holds them.
learner::LearnParams ToLearnParams(const table::LearnParams& p);

}  // namespace tools
}  // namespace hakmem

#endif  // HAKMEM_TOOLS_TELEMETRY_TO_TABLE_H_
