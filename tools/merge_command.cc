// `hakmem merge`: telemetry files as one, in canonical form.
#include <stdio.h>

#include <string>
#include <vector>

#include "tools/commands.h"
#include "tools/telemetry_file.h"
#include "tools/telemetry_merge.h"
#include "tools/units.h"

namespace hakmem {
namespace tools {
namespace {

int Merge(const ParsedArgs& args) {
  const CommandSpec& spec = MergeCommand().spec;
  const std::string out = args.Get("--out");
  if (out.empty()) return UsageError(spec, "missing -o OUT");
  if (args.args.empty()) return UsageError(spec, "missing FILE");
  std::vector<telemetry::Telemetry> files;
  files.reserve(args.args.size());
  for (const std::string& path : args.args) {
    absl::StatusOr<telemetry::Telemetry> t = ReadTelemetryFile(path);
    if (!t.ok()) return Fail("merge", path, t.status().message());
    files.push_back(std::move(*t));
  }
  std::vector<const telemetry::Telemetry*> inputs;
  for (const telemetry::Telemetry& t : files) inputs.push_back(&t);
  std::vector<std::string> notes;
  const telemetry::Telemetry merged = MergeTelemetry(inputs, &notes);
  for (const std::string& note : notes) fprintf(stderr, "hakmem merge: note: %s\n", note.c_str());
  if (const absl::Status written = WriteTelemetryAtomically(out, merged); !written.ok()) {
    return Fail("merge", out, written.message());
  }
  printf("wrote %s: %s, %s, %s in %s, from %s\n", out.c_str(),
         Count(merged.runs_size(), "run", "runs").c_str(),
         Count(merged.sites_size(), "site", "sites").c_str(),
         Count(merged.locations_size(), "location", "locations").c_str(),
         Count(merged.modules_size(), "module", "modules").c_str(),
         Count(files.size(), "file", "files").c_str());
  return kExitOk;
}

}  // namespace

const Command& MergeCommand() {
  static const Command c = {
      {"merge", "FILE... -o OUT",
       "Merges telemetry files (of processes, hosts, days) into one: the union of their runs,\n"
       "with modules (by build-id, else path), code locations (module and offset) and sites\n"
       "(by key) each once and renumbered, every record pointed at its new run and site. A\n"
       "run (one process: pid, host and start time) in several files is kept once; where the\n"
       "copies differ (a periodic write and the final one), the one that ended last is kept,\n"
       "and a note on stderr says so.\n"
       "\n"
       "The output is canonical: runs in order of start, everything else in a fixed order, so\n"
       "the same runs give the same bytes whatever order or grouping the files are merged in\n"
       "(merge(a, merge(b, c)) is merge(merge(a, b), c) is merge(c, b, a)), and merging one\n"
       "file gives its canonical form. OUT is replaced atomically and may be one of the FILEs;\n"
       "nothing is written if any FILE is bad.\n",
       {{"--out", "-o", "OUT", "the telemetry file to write (required)"}}},
      "merge telemetry files into one, canonically",
      Merge};
  return c;
}

}  // namespace tools
}  // namespace hakmem
