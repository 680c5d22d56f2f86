// `hakmem merge`: many telemetry files as one, in a canonical form, so that merging is
// associative and commutative to the byte: however files are grouped and ordered, the
// same runs give the same file, and merging a file with itself gives its canonical form.
//
// What the result holds:
//  - the union of the inputs' runs. A run is a process: (pid, host, start_unix_ns). One
//    in several inputs with the same data (after renumbering) is kept once. With other
//    data (a periodic write and the final one of one process), the version kept is the one
//    that ended last, then the complete one, then (a tie no writer makes) the one whose
//    canonical bytes are greatest; each dropped version adds a note;
//  - the union of the inputs' modules (one per identity: build-id, else path), locations
//    (one per module identity and offset) and sites (one per key), renumbered. Where
//    inputs disagree on what describes one of them, a fixed rule picks, so the pick does
//    not depend on the order: a module's path is the least non-empty one; a location's
//    symbol is the most complete (function, then file, then line), the least of those;
//    a site's content is the least (frames, name), its wrapper_frames the most any
//    input with that content says;
//  - every per-run record of the kept runs, re-pointed to the new run and site ids.
// The canonical order: runs by (start_unix_ns, pid, host, program); strings sorted
// (bytes), "" first; modules by identity; locations by (module identity, offset); sites
// by key; records by run, then site key, band and strategy (profiles, choices,
// outcomes), site key, band and then match number or time (matches, decisions), or time
// (timeline), records that tie keeping their order in the input.
#ifndef HAKMEM_TOOLS_TELEMETRY_MERGE_H_
#define HAKMEM_TOOLS_TELEMETRY_MERGE_H_

#include <string>
#include <vector>

#include "learner/telemetry.pb.h"

namespace hakmem {
namespace tools {

// Merges valid inputs (ValidateTelemetry). `notes` (if given) receives one line for each
// run version dropped because another version of that run was kept.
telemetry::Telemetry MergeTelemetry(const std::vector<const telemetry::Telemetry*>& inputs,
                                    std::vector<std::string>* notes = nullptr);

}  // namespace tools
}  // namespace hakmem

#endif  // HAKMEM_TOOLS_TELEMETRY_MERGE_H_
