// The `hakmem` command line (tools/cli.h): frozen tables and telemetry for people and
// scripts. `hakmem --help` lists the commands.
#include "tools/cli.h"

int main(int argc, char** argv) { return hakmem::tools::RunHakmem(argc, argv); }
