// `hakmem run`'s mechanics: finding libhakmem.so without being told, the child's
// environment, and running a program the way a shell does (its exit status passed
// through, a death by signal N reported as 128 + N).
#ifndef HAKMEM_TOOLS_RUN_H_
#define HAKMEM_TOOLS_RUN_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace hakmem {
namespace tools {

// This executable's own path (/proc/self/exe, symlinks resolved), or "" if unknown.
std::string SelfPath();

// The places FindLibrary looks, in order, for an executable at `self`: the Bazel layout
// (bazel-bin/tools/hakmem beside bazel-bin/core/libhakmem.so, and its runfiles tree),
// then installed layouts (bin/hakmem with lib/hakmem/ or lib/).
std::vector<std::string> LibraryCandidates(const std::string& self);

// libhakmem.so's absolute path: `env_library` ($HAKMEM_LIBRARY) if it is set and not
// empty, which must then exist ("HAKMEM_LIBRARY=/x: No such file or directory"); else
// the first candidate that is a regular file. Otherwise a NotFound status naming every
// place looked at.
absl::StatusOr<std::string> FindLibrary(const std::string& self, const char* env_library);

// What the child's environment sets; an empty value leaves the parent's as it is.
struct RunEnvironment {
  std::string library;  // prepended to LD_PRELOAD (required)
  std::string mode;     // HAKMEM_MODE
  std::string telemetry, freeze_to, frozen_table;  // HAKMEM_TELEMETRY, _FREEZE_TO, _FROZEN_TABLE
};

// `parent` (NAME=VALUE strings) with the settings of `e` replacing or adding theirs;
// every other variable, HAKMEM_* included, passes through.
std::vector<std::string> ChildEnvironment(const std::vector<std::string>& parent,
                                          const RunEnvironment& e);

// Runs argv[0] (searched on PATH) with `argv` and `env` and waits for it. While it runs,
// SIGINT and SIGQUIT are ignored here (the terminal sends them to the program too) and
// SIGTERM and SIGHUP are passed on to it. Returns its exit status, or 128 + the signal
// that killed it. A program that cannot be started is an error: NotFound (status 127 in
// a shell) or PermissionDenied (126), with a one-line message ("nosuch: No such file or
// directory").
absl::StatusOr<int> RunProgram(const std::vector<std::string>& argv,
                               const std::vector<std::string>& env);

}  // namespace tools
}  // namespace hakmem

#endif  // HAKMEM_TOOLS_RUN_H_
