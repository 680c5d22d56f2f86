// `hakmem report`: a telemetry file for people (a table of sites with what was learned
// about them, the allocator's totals, what was dropped) or, as JSON, in the shape of the
// site report a process writes itself (HAKMEM_SITE_REPORT, callsite/report.cc), so
// scripts written for one read the other.
//
// Sites are aggregated over the file's runs (tools/site_view.h). Sites with neither a
// profile nor a learned band are not listed.
#ifndef HAKMEM_TOOLS_REPORT_H_
#define HAKMEM_TOOLS_REPORT_H_

#include <stddef.h>

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "learner/telemetry.pb.h"

namespace hakmem {
namespace tools {

enum class SortKey { kAllocs, kBytes, kLive, kPeak, kFrees, kName };

struct ReportOptions {
  SortKey sort = SortKey::kBytes;  // largest first; kName: alphabetical
  size_t top = 20;                 // sites listed at most; 0: all
};

// "allocs", "bytes", "live", "peak", "frees" or "name"; otherwise an InvalidArgument
// status naming the choices.
absl::StatusOr<SortKey> ParseSortKey(absl::string_view name);

// The report as text. `t` must be valid (ValidateTelemetry).
std::string TextReport(const telemetry::Telemetry& t, const ReportOptions& options);

// The report as JSON: {"sample_bytes", "sites": [...], "dropped_sites", "context_depth",
// "dropped_contexts"}, each site as callsite/report.cc writes it, with the learner's
// fields as learner/describe.cc writes them. Strings that are not UTF-8 have their bad
// bytes replaced by U+FFFD (JSON cannot hold them).
std::string JsonReport(const telemetry::Telemetry& t, const ReportOptions& options);

}  // namespace tools
}  // namespace hakmem

#endif  // HAKMEM_TOOLS_REPORT_H_
