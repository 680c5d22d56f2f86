// `hakmem report`: a telemetry file as a table of sites, or as site-report JSON.
#include <stdio.h>

#include <string>

#include "tools/commands.h"
#include "tools/report.h"
#include "tools/telemetry_file.h"

namespace hakmem {
namespace tools {
namespace {

int Report(const ParsedArgs& args) {
  const CommandSpec& spec = ReportCommand().spec;
  if (args.args.empty()) return UsageError(spec, "missing FILE");
  if (args.args.size() > 1) return UsageError(spec, "unexpected argument '" + args.args[1] + "'");
  ReportOptions options;
  // JSON is for scripts: every site unless --top says otherwise.
  if (args.Has("--json")) options.top = 0;
  if (args.Has("--top")) {
    const absl::StatusOr<uint64_t> top = ParseCount("--top", args.Get("--top"));
    if (!top.ok()) return UsageError(spec, top.status().message());
    options.top = *top;
  }
  if (args.Has("--sort")) {
    const absl::StatusOr<SortKey> sort = ParseSortKey(args.Get("--sort"));
    if (!sort.ok()) return UsageError(spec, sort.status().message());
    options.sort = *sort;
  }
  const std::string& path = args.args[0];
  const absl::StatusOr<telemetry::Telemetry> t = ReadTelemetryFile(path);
  if (!t.ok()) return Fail("report", path, t.status().message());
  const std::string out = args.Has("--json") ? JsonReport(*t, options) : TextReport(*t, options);
  fwrite(out.data(), 1, out.size(), stdout);
  return kExitOk;
}

}  // namespace

const Command& ReportCommand() {
  static const Command c = {
      {"report", "FILE [--json] [--top N] [--sort allocs|bytes|live|peak|frees|name]",
       "Prints a telemetry file (HAKMEM_TELEMETRY, `hakmem merge`) for people: its runs, then\n"
       "one row per call site, summed over the runs: the site's name (the function of the\n"
       "frame after its wrappers, with file:line where known, else module+offset; an\n"
       "explicit site by its name), allocations (~: estimated from samples), bytes\n"
       "requested, live and peak live bytes (peak: the largest of any run), and lifetime\n"
       "percentiles from the lifetime histogram (each the upper bound of its bucket). Under\n"
       "it, the calling context when it has more than one frame, and per size band the\n"
       "chosen strategy and each strategy's rating, samples and mean cost. Then the\n"
       "allocator's totals at each run's last timeline sample, and what each run dropped\n"
       "(also flagged at the top when anything was).\n"
       "\n"
       "--json prints the same sites as the JSON document a process writes with\n"
       "HAKMEM_SITE_REPORT (same keys and shape, the learner's fields included), every site\n"
       "unless --top is given.\n",
       {
           {"--json", nullptr, nullptr, "JSON in the site report's shape instead of text"},
           {"--top", nullptr, "N", "list at most N sites (default 20; 0: all)"},
           {"--sort", nullptr, "KEY",
            "order sites by allocs, bytes (default), live, peak or frees,\nlargest first; or by "
            "name"},
       }},
      "print a telemetry file: sites, learned choices, totals, drops",
      Report};
  return c;
}

}  // namespace tools
}  // namespace hakmem
