// `hakmem diff`: what changed in what was learned between two files.
#include <stdio.h>

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "tools/commands.h"
#include "tools/diff.h"
#include "tools/input_file.h"

namespace hakmem {
namespace tools {
namespace {

constexpr double kDefaultThreshold = 0.10;

int Diff(const ParsedArgs& args) {
  const CommandSpec& spec = DiffCommand().spec;
  if (args.args.size() < 2) return UsageError(spec, args.args.empty() ? "missing A and B" : "missing B");
  if (args.args.size() > 2) return UsageError(spec, "unexpected argument '" + args.args[2] + "'");
  double threshold = kDefaultThreshold;
  if (args.Has("--threshold")) {
    const absl::StatusOr<double> v = ParseNonNegative("--threshold", args.Get("--threshold"));
    if (!v.ok()) return UsageError(spec, v.status().message());
    threshold = *v;
  }
  Learned learned[2];
  for (int i = 0; i < 2; ++i) {
    const std::string& path = args.args[i];
    const absl::StatusOr<InputFile> in = ReadTableOrTelemetry(path);
    if (!in.ok()) return Fail("diff", path, in.status().message());
    learned[i] = in->kind == FileKind::kTelemetry ? LearnedFromTelemetry(in->telemetry)
                                                  : LearnedFromTable(*in->table);
  }
  const std::vector<Change> changes = DiffLearned(learned[0], learned[1], threshold);
  if (changes.empty()) {
    printf("no changes\n");
    return kExitOk;
  }
  int counts[4] = {};
  for (const Change& c : changes) {
    printf("%s\n", c.line.c_str());
    ++counts[static_cast<int>(c.kind)];
  }
  std::vector<std::string> parts;
  const char* const kNames[4] = {"new", "gone", "chosen strategy changed", "cost moved"};
  for (int k = 0; k < 4; ++k) {
    if (counts[k] > 0) parts.push_back(absl::StrCat(counts[k], " ", kNames[k]));
  }
  printf("%zu changes: %s\n", changes.size(), absl::StrJoin(parts, ", ").c_str());
  return args.Has("--exit-code") ? kExitChanges : kExitOk;
}

}  // namespace

const Command& DiffCommand() {
  static const Command c = {
      {"diff", "A B [--threshold F] [--exit-code]",
       "Compares what was learned in A and B, per (site, size band); each is a telemetry file\n"
       "or a frozen table, in any mix. Sites are matched by their key: what it hashes (the\n"
       "calling context's modules, by build-id else path, and offsets, or an explicit site's\n"
       "name), whatever ids each file gives its modules. One line per change, ordered by site\n"
       "and band:\n"
       "\n"
       "  new     BAND  SITE: chooses S          in B only\n"
       "  gone    BAND  SITE: chose S            in A only\n"
       "  chosen  BAND  SITE: S1 -> S2           another strategy chosen (none: undecided)\n"
       "  cost    BAND  SITE: S mean cost X -> Y (+P%)\n"
       "                                         the same strategy chosen, its mean cost moved\n"
       "                                         by more than the threshold\n"
       "\n"
       "then a count of each kind, or \"no changes\". For telemetry, a band's choice is that of\n"
       "the latest run that made one, and mean costs are over all runs' samples.\n"
       "\n"
       "Exit status: 0 when the files were compared, whether or not anything changed (a\n"
       "change is a finding, not a failure); with --exit-code, 3 when something changed, as\n"
       "`git diff --exit-code` does; 1 for a bad file, 2 for usage.\n",
       {
           {"--threshold", nullptr, "F",
            "report a cost that moved by more than this fraction of A's\n(default 0.10: 10%)"},
           {"--exit-code", nullptr, nullptr, "exit 3 when anything changed"},
       }},
      "what changed in what was learned between two files",
      Diff};
  return c;
}

}  // namespace tools
}  // namespace hakmem
