// The command line's argument parser: one table of options per command, parsed the same
// way for every command, with --help generated from the same table.
//
// Why not Abseil's flags: ABSL_FLAG definitions are process-global, so every command
// would accept every other command's flags and `hakmem report --help` would list them
// all; a parse error exits the process with status 1, where hakmem's usage errors exit
// 2; and absl flags accept spellings (--nojson, -json, --top=0x10) that would make each
// command's accepted syntax wider than its documentation. Per-command flag sets would mean
// working against the library rather than with it, so the commands share this small
// table-driven parser instead: `--name VALUE`, `--name=VALUE`, a short alias (`-o FILE`),
// switches, `--` ending the options, and `-h`/`--help`.
#ifndef HAKMEM_TOOLS_ARGS_H_
#define HAKMEM_TOOLS_ARGS_H_

#include <stdint.h>

#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace hakmem {
namespace tools {

// One option of a command.
struct OptionSpec {
  const char* name;   // "--top"
  const char* alias;  // "-o", or nullptr
  const char* value;  // its value's placeholder in help ("N"), or nullptr for a switch
  const char* help;   // for --help; may span lines ("\n" followed by the continuation)
};

// A command's arguments: what `hakmem NAME` accepts, and its --help.
struct CommandSpec {
  const char* name;         // "report"
  const char* synopsis;     // "FILE [--json] [--top N]": follows "usage: hakmem report "
  const char* description;  // paragraphs for --help, each line ending in '\n'
  std::vector<OptionSpec> options;
  // Options end at the first argument that is not one (as well as at "--"): the rest
  // are a program and its arguments (`hakmem run`), never read as options.
  bool options_end_at_first_arg = false;
};

// The outcome of a successful parse.
struct ParsedArgs {
  bool help = false;              // -h or --help came before any "--"
  std::vector<std::string> args;  // the arguments that are not options, in order
  // Each option given, by its name ("--top"; an alias is stored under the name), with its
  // value ("" for a switch). Given twice, the last one counts.
  absl::flat_hash_map<std::string, std::string> options;

  bool Has(absl::string_view name) const { return options.contains(name); }
  std::string Get(absl::string_view name, absl::string_view fallback = "") const;
};

// Parses argv[0, argc) (the words after the command's name) against `spec`. A usage
// error is an InvalidArgument status whose message is one line ("unknown option
// '--bogus'", "--top needs a value", "--json takes no value").
absl::StatusOr<ParsedArgs> ParseArgs(const CommandSpec& spec, int argc, char** argv);

// "usage: hakmem report FILE [--json] ...\n".
std::string UsageLine(const CommandSpec& spec);

// The whole --help: the usage line, the description, and the options with their help.
std::string HelpText(const CommandSpec& spec);

// Option values, with the messages the commands print as usage errors:
// "--top: expected a non-negative integer, got 'x'".
absl::StatusOr<uint64_t> ParseCount(absl::string_view option, absl::string_view value);
// "--threshold: expected a non-negative number, got '-1'". Finite only.
absl::StatusOr<double> ParseNonNegative(absl::string_view option, absl::string_view value);

}  // namespace tools
}  // namespace hakmem

#endif  // HAKMEM_TOOLS_ARGS_H_
