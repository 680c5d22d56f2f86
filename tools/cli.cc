#include "tools/cli.h"

#include <stdio.h>
#include <string.h>

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "tools/args.h"
#include "tools/commands.h"

namespace hakmem {
namespace tools {
namespace {

std::vector<const Command*> Commands() {
  return {&ShowCommand(),  &ValidateCommand(), &FreezeCommand(),
          &ReportCommand(), &DiffCommand(),     &MergeCommand(),
          &PprofCommand(),  &RunCommand(),      &VersionCommand()};
}

std::string MainUsage() {
  std::string out =
      "usage: hakmem <command> [args]\n"
      "\n"
      "Frozen tables (what the learner decided) and telemetry (what runs allocated, learned\n"
      "and held) for people and scripts.\n"
      "\n"
      "Commands:\n";
  for (const Command* c : Commands()) {
    std::string name = c->spec.name;
    name.resize(10, ' ');
    absl::StrAppend(&out, "  ", name, c->summary, "\n");
  }
  absl::StrAppend(&out,
                  "\n"
                  "`hakmem <command> --help` describes a command. Exit status: 0 ok, 1 failed (a bad\n"
                  "or unreadable file), 2 usage; `hakmem run` passes the program's through.\n");
  return out;
}

void PrintUsageLine(FILE* out) {
  const std::string usage = MainUsage();
  fprintf(out, "%s", usage.substr(0, usage.find('\n') + 1).c_str());
}

}  // namespace

int RunHakmem(int argc, char** argv) {
  if (argc < 2) {
    fputs(MainUsage().c_str(), stderr);
    return kExitUsage;
  }
  const absl::string_view name = argv[1];
  if (name == "--help" || name == "-h" || name == "help") {
    fputs(MainUsage().c_str(), stdout);
    return kExitOk;
  }
  for (const Command* c : Commands()) {
    if (name != c->spec.name && !(name == "--version" && c == &VersionCommand())) continue;
    const absl::StatusOr<ParsedArgs> args = ParseArgs(c->spec, argc - 2, argv + 2);
    if (!args.ok()) return UsageError(c->spec, args.status().message());
    if (args->help) {
      fputs(HelpText(c->spec).c_str(), stdout);
      return kExitOk;
    }
    return c->run(*args);
  }
  fprintf(stderr, "hakmem: unknown command '%s'\n", argv[1]);
  PrintUsageLine(stderr);
  return kExitUsage;
}

}  // namespace tools
}  // namespace hakmem
