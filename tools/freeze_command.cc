// `hakmem freeze`: learner states, frozen tables and telemetry merged into one frozen table.
#include <stdio.h>
#include <time.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "learner/table.h"
#include "tools/commands.h"
#include "tools/input_file.h"
#include "tools/merge.h"
#include "tools/table_file.h"
#include "tools/telemetry_to_table.h"

namespace hakmem {
namespace tools {
namespace {

constexpr char kCmd[] = "freeze";

uint64_t NowUnixMs() {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000 + static_cast<uint64_t>(ts.tv_nsec) / 1000000;
}

void WarnLeftOut(const LeftOut& l) {
  const std::pair<size_t, const char*> reasons[] = {
      {l.no_module, "a frame of their calling context is in no module (JIT code), so their key "
                    "means nothing in another process"},
      {l.overflow, "the overflow site (sites that found the site table full) has no key"},
      {l.unrepresentable, "a module without build-id or path, a path or name too long for a "
                          "table, or past the table's 256 modules"},
  };
  for (const auto& [n, why] : reasons) {
    if (n > 0) Warn(kCmd, absl::StrFormat("%d telemetry (site, band) entries left out: %s", n, why));
  }
  if (l.ineligible > 0) {
    Warn(kCmd, absl::StrFormat("%d outcomes left out: the pool cannot serve bands above middle",
                               l.ineligible));
  }
}

int Freeze(const ParsedArgs& args) {
  const CommandSpec& spec = FreezeCommand().spec;
  const std::string out = args.Get("--out");
  if (out.empty()) return UsageError(spec, "missing --out FILE");
  if (args.args.empty()) return UsageError(spec, "missing STATE files to merge");
  learner::LearnParams overrides{};
  if (args.Has("--min-samples")) {
    const absl::StatusOr<uint64_t> v = ParseCount("--min-samples", args.Get("--min-samples"));
    if (!v.ok()) return UsageError(spec, v.status().message());
    overrides.min_samples = *v;
  }
  if (args.Has("--commit-margin")) {
    const absl::StatusOr<double> v = ParseNonNegative("--commit-margin", args.Get("--commit-margin"));
    if (!v.ok()) return UsageError(spec, v.status().message());
    overrides.commit_margin = *v;
  }

  // Every input as one or more tables (a telemetry file gives one per run that learned).
  std::vector<std::unique_ptr<Table>> tables;
  std::vector<std::string> sources;  // the file each table came from
  LeftOut left_out;
  for (const std::string& path : args.args) {
    absl::StatusOr<InputFile> in = ReadTableOrTelemetry(path);
    if (!in.ok()) return Fail(kCmd, path, in.status().message());
    if (in->kind == FileKind::kFrozenTable) {
      tables.push_back(std::move(in->table));
      sources.push_back(path);
      continue;
    }
    ConvertedRuns runs = TelemetryToTables(in->telemetry);
    left_out.no_module += runs.left_out.no_module;
    left_out.overflow += runs.left_out.overflow;
    left_out.unrepresentable += runs.left_out.unrepresentable;
    left_out.ineligible += runs.left_out.ineligible;
    if (runs.tables.empty()) {
      Warn(kCmd, absl::StrCat(path, ": no run measured a strategy; nothing in it to freeze"));
    }
    for (auto& t : runs.tables) {
      tables.push_back(std::move(t));
      sources.push_back(path);
    }
  }
  WarnLeftOut(left_out);
  if (tables.empty()) return Fail(kCmd, out, "nothing to freeze: no input measured a strategy");
  std::string warned;
  for (size_t i = 1; i < tables.size(); ++i) {
    if (!RatingsComparable(tables[i]->meta.params, tables[0]->meta.params) && sources[i] != warned) {
      Warn(kCmd, absl::StrCat(sources[i], " was learned with other parameters than ", sources[0],
                              "; its ratings are merged as if they were not"));
      warned = sources[i];
    }
  }
  learner::LearnParams params = tables[0]->meta.params;
  if (args.Has("--min-samples")) params.min_samples = overrides.min_samples;
  if (args.Has("--commit-margin")) params.commit_margin = overrides.commit_margin;

  std::vector<const Table*> inputs;
  for (const auto& t : tables) inputs.push_back(t.get());
  size_t too_many_modules = 0;
  const std::unique_ptr<Table> merged = MergeTables(inputs, params, NowUnixMs(), &too_many_modules);
  if (too_many_modules > 0) {
    Warn(kCmd, absl::StrFormat("%d entries left out: their contexts would take the table past %d "
                               "modules", too_many_modules, learner::kMaxTableModules));
  }
  std::string error;
  if (!WriteTableAtomically(out, *merged, &error)) return Fail(kCmd, out, error);
  size_t decided = 0, entries_in = 0;
  for (const learner::TableEntry& e : merged->entries) decided += e.strategy >= 0 ? 1 : 0;
  for (const auto& t : tables) entries_in += t->entries.size();
  printf("wrote %s: %zu entries (%zu decided) from %zu entries in %zu states\n", out.c_str(),
         merged->entries.size(), decided, entries_in, tables.size());
  return kExitOk;
}

}  // namespace

const Command& FreezeCommand() {
  static const Command c = {
      {"freeze", "FILE... -o TABLE [--min-samples N] [--commit-margin P]",
       "Merges what was learned into one frozen table. Each FILE is a learner state (written\n"
       "by HAKMEM_FREEZE_TO), a frozen table, or telemetry (HAKMEM_TELEMETRY, `hakmem merge`),\n"
       "in any mix; each run in a telemetry file is one state: per (site, band) it measured,\n"
       "every strategy's rating, samples and mean cost (cost / samples), learned under the\n"
       "run's parameters. Telemetry sites whose context has a frame in no module (JIT code)\n"
       "and the overflow site have no key a table can hold; they are left out, with a warning.\n"
       "\n"
       "Entries with the same site and band are merged: samples summed, mean costs and\n"
       "ratings averaged weighted by samples. Sites are the same when their calling contexts\n"
       "are, frame by frame (module build-id, else path, and offset), whatever ids the files\n"
       "give their modules; or when they are explicit sites of one name. Then every entry's\n"
       "strategy is decided again: the eligible strategy with the highest rating, if each\n"
       "eligible strategy has at least min-samples samples and the leader is ahead of every\n"
       "other by at least the commit margin; otherwise none (production uses the band's\n"
       "default). The runs of all states are kept (the newest 16). TABLE is replaced\n"
       "atomically; nothing is written if any FILE is bad.\n",
       {
           {"--out", "-o", "TABLE", "the table to write (required)"},
           {"--min-samples", nullptr, "N",
            "samples each eligible strategy needs (default: the first\nstate's)"},
           {"--commit-margin", nullptr, "P",
            "rating lead in Elo points needed to commit (default: the\nfirst state's)"},
       }},
      "merge learner states, tables and telemetry into one frozen table",
      Freeze};
  return c;
}

}  // namespace tools
}  // namespace hakmem
