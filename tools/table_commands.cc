// `hakmem show`, `hakmem validate` and `hakmem version`: frozen tables for people, and
// the checks production applies to them.
#include <stdio.h>

#include <memory>
#include <string>

#include "core/version.h"
#include "learner/table.h"
#include "tools/commands.h"
#include "tools/file_io.h"
#include "tools/file_kind.h"
#include "tools/show.h"
#include "tools/table_file.h"
#include "tools/telemetry_file.h"

namespace hakmem {
namespace tools {
namespace {

// Commands that take exactly one FILE: its path, or a usage error in *status.
bool OneFile(const CommandSpec& spec, const ParsedArgs& args, std::string* path, int* status) {
  if (args.args.empty()) {
    *status = UsageError(spec, "missing FILE");
    return false;
  }
  if (args.args.size() > 1) {
    *status = UsageError(spec, "unexpected argument '" + args.args[1] + "'");
    return false;
  }
  *path = args.args[0];
  return true;
}

int Show(const ParsedArgs& args) {
  std::string path;
  int status;
  if (!OneFile(ShowCommand().spec, args, &path, &status)) return status;
  std::string bytes, error;
  if (const absl::Status read = ReadFile(path, &bytes); !read.ok()) {
    return Fail("show", path, read.message());
  }
  if (KindOf(bytes) == FileKind::kTelemetry) {
    return Fail("show", path, "is telemetry, not a frozen table (see `hakmem report`)");
  }
  bool valid = false;
  if (!ShowTable(bytes, stdout, &valid, &error)) return Fail("show", path, error);
  return valid ? kExitOk : kExitFailed;
}

int Validate(const ParsedArgs& args) {
  std::string path;
  int status;
  if (!OneFile(ValidateCommand().spec, args, &path, &status)) return status;
  std::string error;
  const std::unique_ptr<Table> table = ReadTable(path, &error);
  if (table == nullptr) return Fail("validate", path, error);
  printf("ok: %zu entries\n", table->entries.size());
  return kExitOk;
}

int Version(const ParsedArgs& args) {
  if (!args.args.empty()) {
    return UsageError(VersionCommand().spec, "unexpected argument '" + args.args[0] + "'");
  }
  printf("hakmem %s (frozen table format %u, telemetry format %u)\n", kVersion,
         learner::kTableFormatVersion, kTelemetryFormatVersion);
  return kExitOk;
}

}  // namespace

const Command& ShowCommand() {
  static const Command c = {
      {"show", "FILE",
       "Prints a frozen table: its version, creation time, learning parameters and runs, then\n"
       "one row per (site, size band): the site (its allocation call as module basename\n"
       "[build-id prefix] + offset, or an explicit site's name), the band, the chosen\n"
       "strategy, and per strategy its Elo rating, samples and mean cost. A site whose calling\n"
       "context has more than one frame gets a second line with every frame, innermost first\n"
       "(a <- b: a was called from b). Then the table's modules in full, and last the\n"
       "validation status; a table that production would refuse is still shown, and the exit\n"
       "status is then 1.\n",
       {}},
      "print a frozen table: metadata, runs, one row per (site, band)",
      Show};
  return c;
}

const Command& ValidateCommand() {
  static const Command c = {
      {"validate", "FILE",
       "Decodes FILE with the allocator's own codec (the checks HAKMEM_MODE=frozen applies at\n"
       "start-up) and prints \"ok: N entries\", or the reason it is refused and exits 1.\n",
       {}},
      "check a frozen table as production does when it loads one",
      Validate};
  return c;
}

const Command& VersionCommand() {
  static const Command c = {
      {"version", "",
       "Prints hakmem's version and the frozen table and telemetry format versions it reads\n"
       "and writes.\n",
       {}},
      "print the version and the file format versions",
      Version};
  return c;
}

}  // namespace tools
}  // namespace hakmem
