// The `hakmem` commands, and what they share: exit statuses, one-line errors, and the
// entry point the dispatcher (tools/cli.h) calls. Each command lives in its own
// <name>_command.cc: its options table and --help text beside the code that runs it,
// calling components (report, merge, diff, ...) that know nothing of the command line.
#ifndef HAKMEM_TOOLS_COMMANDS_H_
#define HAKMEM_TOOLS_COMMANDS_H_

#include "absl/strings/string_view.h"
#include "tools/args.h"

namespace hakmem {
namespace tools {

// Exit statuses, the same for every command.
inline constexpr int kExitOk = 0;
inline constexpr int kExitFailed = 1;   // a bad or unreadable file, a failed write
inline constexpr int kExitUsage = 2;    // wrong arguments
inline constexpr int kExitChanges = 3;  // `hakmem diff --exit-code` found changes

struct Command {
  CommandSpec spec;
  const char* summary;  // one line for `hakmem --help`
  // Runs the command on arguments that parsed (never called for --help).
  int (*run)(const ParsedArgs& args);
};

// The commands, in the order `hakmem --help` lists them.
const Command& ShowCommand();
const Command& ValidateCommand();
const Command& FreezeCommand();
const Command& ReportCommand();
const Command& DiffCommand();
const Command& MergeCommand();
const Command& PprofCommand();
const Command& RunCommand();
const Command& VersionCommand();

// Prints "hakmem <command>: <what>: <why>" on stderr and returns kExitFailed. `why`
// must be one line; anything after a newline in it is dropped.
int Fail(absl::string_view command, absl::string_view what, absl::string_view why);

// Prints "hakmem <command>: <what>" and the command's usage line on stderr and returns
// kExitUsage.
int UsageError(const CommandSpec& spec, absl::string_view what);

// Prints "hakmem <command>: warning: <what>" on stderr.
void Warn(absl::string_view command, absl::string_view what);

}  // namespace tools
}  // namespace hakmem

#endif  // HAKMEM_TOOLS_COMMANDS_H_
