// The human-facing site report: HAKMEM_SITE_REPORT=FILE writes, at process exit, a JSON
// document with one entry per call site (key, symbol, counts, histograms). Counts of
// sampled sites are estimates scaled from the samples, and say so ("allocs_estimated").
#ifndef HAKMEM_CALLSITE_REPORT_H_
#define HAKMEM_CALLSITE_REPORT_H_

namespace hakmem {
namespace callsite {

// Writes the report to `path` (%p: the pid), atomically (a temporary file renamed into
// place): processes that share the setting and exit together each write it whole, never
// interleaved (a torn JSON document otherwise). Returns false (after one line on stderr
// naming the path and the reason) if the file cannot be written. Never allocates with
// malloc.
bool WriteSiteReport(const char* path);

}  // namespace callsite
}  // namespace hakmem

#endif  // HAKMEM_CALLSITE_REPORT_H_
