// `hakmem pprof`: the call-site profile of a telemetry file as a pprof profile
// (pprof/profile.proto, Debian's golang-github-google-pprof-dev), so `go tool pprof`, its
// web UI and everything else that reads pprof can show where a program allocated.
//
// The profile: sample types alloc_objects/count, alloc_space/bytes, inuse_objects/count
// (allocations minus frees) and inuse_space/bytes (live bytes), alloc_space by default;
// one sample per profiled site, summed over the file's runs, its stack the site's calling
// context (innermost first, as pprof wants), labelled with the site's key ("site"). One
// mapping per module (build-id and path) and one location per code location, with the
// telemetry's ids (pprof's ids are positions + 1 too); a location's address is its offset
// in its module. Functions by (name, file), with lines. An explicit site or the overflow
// site has no frames: its sample gets one location of its own, outside every mapping,
// whose function is the site's name (or "(overflow)").
#ifndef HAKMEM_TOOLS_PPROF_EXPORT_H_
#define HAKMEM_TOOLS_PPROF_EXPORT_H_

#include <string>

#include "learner/telemetry.pb.h"
#include "pprof/profile.pb.h"

namespace hakmem {
namespace tools {

// `t` must be valid (ValidateTelemetry).
perftools::profiles::Profile ToProfile(const telemetry::Telemetry& t);

// The profile serialized and gzip-compressed (what pprof reads from a .pb.gz), with
// libprotobuf's GzipOutputStream. The same profile gives the same bytes.
std::string GzipProfile(const perftools::profiles::Profile& p);

}  // namespace tools
}  // namespace hakmem

#endif  // HAKMEM_TOOLS_PPROF_EXPORT_H_
