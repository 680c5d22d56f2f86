// The `hakmem` command line: `hakmem <command> [args]` dispatched to the command of that
// name (tools/commands.h), `hakmem --help` listing them. A library so that tests can run
// the command line in a forked child without exec'ing the binary.
#ifndef HAKMEM_TOOLS_CLI_H_
#define HAKMEM_TOOLS_CLI_H_

namespace hakmem {
namespace tools {

// Runs `hakmem` with argv[0, argc) (argv[0] is the program's name) and returns its exit
// status. Output goes to stdout and stderr.
int RunHakmem(int argc, char** argv);

}  // namespace tools
}  // namespace hakmem

#endif  // HAKMEM_TOOLS_CLI_H_
