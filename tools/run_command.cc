// `hakmem run`: a program under hakmem, without spelling out LD_PRELOAD and HAKMEM_*.
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "tools/commands.h"
#include "tools/file_io.h"
#include "tools/report.h"
#include "tools/run.h"
#include "tools/telemetry_file.h"

extern char** environ;

namespace hakmem {
namespace tools {
namespace {

constexpr char kCmd[] = "run";

// Paths the child will open, made absolute: a program that changes directory before it
// exits still writes where it was asked to.
std::string AbsolutePath(const std::string& path) {
  if (path.empty() || path[0] == '/') return path;
  char cwd[4096];
  if (getcwd(cwd, sizeof(cwd)) == nullptr) return path;
  return absl::StrCat(cwd, "/", path);
}

// A directory of our own for --report's telemetry (removed afterwards).
class TempDir {
 public:
  TempDir() {
    const char* tmp = getenv("TMPDIR");
    std::string templ = absl::StrCat(tmp != nullptr && tmp[0] != '\0' ? tmp : "/tmp",
                                     "/hakmem-run-XXXXXX");
    if (mkdtemp(templ.data()) != nullptr) path_ = templ;
  }
  ~TempDir() {
    if (path_.empty()) return;
    unlink(File().c_str());
    rmdir(path_.c_str());
  }
  bool ok() const { return !path_.empty(); }
  std::string File() const { return path_ + "/telemetry.hakt"; }

 private:
  std::string path_;
};

int Run(const ParsedArgs& args) {
  const CommandSpec& spec = RunCommand().spec;
  if (args.args.empty()) return UsageError(spec, "missing CMD (hakmem run [options] -- CMD ARGS...)");
  RunEnvironment env;
  env.mode = args.Get("--mode");
  if (!env.mode.empty() && env.mode != "off" && env.mode != "learn" && env.mode != "shadow" &&
      env.mode != "frozen") {
    return UsageError(spec, "--mode: expected off, learn, shadow or frozen, got '" + env.mode + "'");
  }
  env.frozen_table = AbsolutePath(args.Get("--frozen-table"));
  if (env.mode.empty() && !env.frozen_table.empty()) env.mode = "frozen";
  if (env.mode == "frozen" && env.frozen_table.empty()) {
    const char* inherited = getenv("HAKMEM_FROZEN_TABLE");
    if (inherited == nullptr || inherited[0] == '\0') {
      return UsageError(spec, "--mode frozen needs a table: --frozen-table FILE");
    }
  }
  env.telemetry = AbsolutePath(args.Get("--telemetry"));
  env.freeze_to = AbsolutePath(args.Get("--freeze-to"));
  const absl::StatusOr<std::string> library = FindLibrary(SelfPath(), getenv("HAKMEM_LIBRARY"));
  if (!library.ok()) return Fail(kCmd, "cannot preload hakmem", library.status().message());
  env.library = *library;

  TempDir temp;
  const bool report = args.Has("--report");
  if (report && env.telemetry.empty()) {
    if (!temp.ok()) return Fail(kCmd, "--report", "cannot make a temporary directory");
    env.telemetry = temp.File();
  }
  std::vector<std::string> parent;
  for (char** e = environ; *e != nullptr; ++e) parent.emplace_back(*e);
  fflush(stdout);
  const absl::StatusOr<int> status = RunProgram(args.args, ChildEnvironment(parent, env));
  if (!status.ok()) {
    Fail(kCmd, "cannot run", status.status().message());
    return absl::IsNotFound(status.status()) ? 127 : 126;
  }
  if (report) {
    const absl::StatusOr<telemetry::Telemetry> t = ReadTelemetryFile(env.telemetry);
    if (!t.ok()) {
      Fail(kCmd, "--report: no telemetry from the program",
           absl::StrCat(env.telemetry, ": ", t.status().message()));
      return *status == 0 ? kExitFailed : *status;
    }
    const std::string text = TextReport(*t, ReportOptions());
    fwrite(text.data(), 1, text.size(), stderr);
  }
  return *status;
}

}  // namespace

const Command& RunCommand() {
  static const Command c = {
      {"run",
       "[--mode MODE] [--telemetry FILE] [--freeze-to FILE] [--frozen-table FILE] [--report] "
       "-- CMD ARGS...",
       "Runs CMD with hakmem preloaded (libhakmem.so prepended to any LD_PRELOAD) and the\n"
       "settings the options name; every other HAKMEM_* variable of the environment passes\n"
       "through. libhakmem.so is $HAKMEM_LIBRARY if that is set; else it is looked for\n"
       "beside this executable: ../core/libhakmem.so (bazel-bin), its runfiles tree, then\n"
       "../lib/hakmem/libhakmem.so and ../lib/libhakmem.so (installed layouts). Options end\n"
       "at `--` or at CMD, so CMD's own options are never read as hakmem's.\n"
       "\n"
       "Exit status: CMD's; 128 + N if a signal N killed it (as a shell reports it); 127 if\n"
       "CMD was not found, 126 if it could not be run; 1 if libhakmem.so was not found (or,\n"
       "with --report, CMD succeeded but wrote no telemetry); 2 for usage.\n"
       "\n"
       "Examples:\n"
       "  hakmem run --mode learn --freeze-to table.pb -- ./server --port 80\n"
       "  hakmem run --frozen-table table.pb --telemetry run.hakt -- ./server\n"
       "  hakmem run --report -- python3 script.py\n",
       {
           {"--mode", nullptr, "MODE",
            "HAKMEM_MODE: off, learn, shadow or frozen (default: the\nenvironment's; frozen "
            "when --frozen-table is given)"},
           {"--telemetry", nullptr, "FILE", "HAKMEM_TELEMETRY: write telemetry to FILE"},
           {"--freeze-to", nullptr, "FILE", "HAKMEM_FREEZE_TO: write what was learned to FILE"},
           {"--frozen-table", nullptr, "FILE",
            "HAKMEM_FROZEN_TABLE: the table frozen mode uses"},
           {"--report", nullptr, nullptr,
            "after CMD exits, print `hakmem report` of its telemetry on\nstderr (to a temporary "
            "file unless --telemetry is given)"},
       },
       /*options_end_at_first_arg=*/true},
      "run a program under hakmem (LD_PRELOAD and settings done for you)",
      Run};
  return c;
}

}  // namespace tools
}  // namespace hakmem
