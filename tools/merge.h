// `hakmem freeze`'s arithmetic: merging saved learner states into one frozen table.
#ifndef HAKMEM_TOOLS_MERGE_H_
#define HAKMEM_TOOLS_MERGE_H_

#include <stdint.h>

#include <memory>
#include <string>
#include <vector>

#include "learner/table.h"
#include "tools/table_file.h"

namespace hakmem {
namespace tools {

// Merges valid tables (as DecodeTable returns them) into one, learned under `params`:
//  - entries with the same key become one, in order of first appearance. The key is the
//    band and the site: its calling context, frame by frame (module identity, which is
//    the build-id, else the path; offset), or an explicit site's name. Tables number
//    their modules each their own way; the output lists each module identity once (with
//    the first path seen) and renumbers frames into it. An entry whose modules would take
//    the output past kMaxTableModules is left out and counted in *left_out (if given).
//    Per strategy: samples are summed (saturating),
//    mean costs and ratings are averaged weighted by samples (plainly when every sample
//    count is zero); a strategy measured in any input is measured in the result;
//  - every entry's choice is decided again with learner::Decide(entry, params); entries
//    that decide to none keep none (production then uses the band's default);
//  - the runs of all inputs, duplicates dropped, oldest first, the newest kMaxRuns kept;
//  - hakmem_version is this build's, created_unix_ms is `now_unix_ms`.
std::unique_ptr<Table> MergeTables(const std::vector<const Table*>& inputs,
                                   const learner::LearnParams& params, uint64_t now_unix_ms,
                                   size_t* left_out = nullptr);

// Whether two tables' ratings and costs mean the same thing: the parameters that shape
// them (initial rating, K, scale, draw margin, cost weights) are equal. The decision
// thresholds and the measured fault cost may differ.
bool RatingsComparable(const learner::LearnParams& a, const learner::LearnParams& b);

}  // namespace tools
}  // namespace hakmem

#endif  // HAKMEM_TOOLS_MERGE_H_
