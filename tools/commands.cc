#include "tools/commands.h"

#include <stdio.h>

#include <string>

#include "absl/strings/str_cat.h"

namespace hakmem {
namespace tools {
namespace {

// One line: what follows a newline would break the "one line on stderr" contract.
absl::string_view FirstLine(absl::string_view s) { return s.substr(0, s.find('\n')); }

}  // namespace

int Fail(absl::string_view command, absl::string_view what, absl::string_view why) {
  const std::string line = absl::StrCat("hakmem ", command, ": ", FirstLine(what), ": ",
                                        FirstLine(why), "\n");
  fputs(line.c_str(), stderr);
  return kExitFailed;
}

int UsageError(const CommandSpec& spec, absl::string_view what) {
  const std::string text =
      absl::StrCat("hakmem ", spec.name, ": ", FirstLine(what), "\n", UsageLine(spec));
  fputs(text.c_str(), stderr);
  return kExitUsage;
}

void Warn(absl::string_view command, absl::string_view what) {
  const std::string line = absl::StrCat("hakmem ", command, ": warning: ", FirstLine(what), "\n");
  fputs(line.c_str(), stderr);
}

}  // namespace tools
}  // namespace hakmem
