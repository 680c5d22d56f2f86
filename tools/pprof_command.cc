// `hakmem pprof`: a telemetry file's site profile for pprof.
#include <stdio.h>

#include <string>

#include "tools/commands.h"
#include "tools/file_io.h"
#include "tools/pprof_export.h"
#include "tools/telemetry_file.h"

namespace hakmem {
namespace tools {
namespace {

int Pprof(const ParsedArgs& args) {
  const CommandSpec& spec = PprofCommand().spec;
  const std::string out = args.Get("--out");
  if (out.empty()) return UsageError(spec, "missing -o OUT.pb.gz");
  if (args.args.empty()) return UsageError(spec, "missing FILE");
  if (args.args.size() > 1) return UsageError(spec, "unexpected argument '" + args.args[1] + "'");
  const std::string& path = args.args[0];
  const absl::StatusOr<telemetry::Telemetry> t = ReadTelemetryFile(path);
  if (!t.ok()) return Fail("pprof", path, t.status().message());
  const perftools::profiles::Profile profile = ToProfile(*t);
  if (const absl::Status written = WriteFileAtomically(out, GzipProfile(profile)); !written.ok()) {
    return Fail("pprof", out, written.message());
  }
  printf("wrote %s: %d samples (sites), %d locations, %d functions\n", out.c_str(),
         profile.sample_size(), profile.location_size(), profile.function_size());
  return kExitOk;
}

}  // namespace

const Command& PprofCommand() {
  static const Command c = {
      {"pprof", "FILE -o OUT.pb.gz",
       "Writes the call-site profile of a telemetry file as a gzipped pprof profile, for\n"
       "`go tool pprof` and the tools that read its format:\n"
       "\n"
       "  go tool pprof -top OUT.pb.gz                        where bytes were allocated\n"
       "  go tool pprof -top -sample_index=inuse_space OUT.pb.gz   where they are live\n"
       "  go tool pprof -http=:8080 OUT.pb.gz                 flame graphs, call graphs\n"
       "\n"
       "Sample types: alloc_objects, alloc_space (the default), inuse_objects (allocations\n"
       "minus frees) and inuse_space (live bytes), one sample per site summed over the file's\n"
       "runs (counts of sampled sites are estimates), its stack the site's calling context.\n"
       "Mappings are the modules (with build-id), locations the code locations (address: the\n"
       "offset in the module), with the function names and lines recorded by the process.\n"
       "Explicit sites and the overflow site appear as a function of their name.\n",
       {{"--out", "-o", "OUT.pb.gz", "the profile to write (required)"}}},
      "write a telemetry file's site profile as a pprof profile",
      Pprof};
  return c;
}

}  // namespace tools
}  // namespace hakmem
