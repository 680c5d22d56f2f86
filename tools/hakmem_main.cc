// The `hakmem` command line: frozen tables for people and scripts.
//
//   hakmem show FILE          metadata and one row per (site, band)
//   hakmem validate FILE      the checks production applies at load: "ok: N entries"
//   hakmem freeze --out FILE [--min-samples N] [--commit-margin P] STATE...
//   hakmem version
//
// Exit status: 0 success, 1 failure (a bad or unreadable file), 2 usage. Errors are one
// line on stderr: "hakmem <command>: <what>: <why>".
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <memory>
#include <string>
#include <vector>

#include "core/version.h"
#include "learner/table.h"
#include "tools/merge.h"
#include "tools/show.h"
#include "tools/table_file.h"

namespace hakmem {
namespace tools {
namespace {

constexpr int kOk = 0;
constexpr int kFailed = 1;
constexpr int kUsage = 2;

const char kMainUsage[] =
    "usage: hakmem <command> [args]\n"
    "\n"
    "Commands:\n"
    "  show FILE        print a frozen table: metadata, runs, one row per (site, band)\n"
    "  validate FILE    check a frozen table as production does when it loads one\n"
    "  freeze --out FILE [--min-samples N] [--commit-margin P] STATE...\n"
    "                   merge learner states (HAKMEM_FREEZE_TO files) into one table\n"
    "  version          print the version and the table format version\n"
    "\n"
    "`hakmem <command> --help` describes a command. Exit status: 0 ok, 1 failed, 2 usage.\n";

const char kShowUsage[] =
    "usage: hakmem show FILE\n"
    "\n"
    "Prints a frozen table: its version, creation time, learning parameters and runs, then\n"
    "one row per (site, size band): the site (its allocation call as module basename\n"
    "[build-id prefix] + offset, or an explicit site's name), the band, the chosen\n"
    "strategy, and per strategy its Elo rating, samples and mean cost. A site whose calling\n"
    "context has more than one frame gets a second line with every frame, innermost first\n"
    "(a <- b: a was called from b). Then the table's modules in full, and last the\n"
    "validation status; a table that production would refuse is still shown, and the exit\n"
    "status is then 1.\n";

const char kValidateUsage[] =
    "usage: hakmem validate FILE\n"
    "\n"
    "Decodes FILE with the allocator's own codec (the checks HAKMEM_MODE=frozen applies at\n"
    "start-up) and prints \"ok: N entries\", or the reason it is refused and exits 1.\n";

const char kFreezeUsage[] =
    "usage: hakmem freeze --out FILE [--min-samples N] [--commit-margin P] STATE...\n"
    "\n"
    "Merges learner states (files written by HAKMEM_FREEZE_TO, or frozen tables) into one\n"
    "frozen table. Entries with the same site and band are merged: samples summed, mean\n"
    "costs and ratings averaged weighted by samples. Sites are the same when their calling\n"
    "contexts are, frame by frame (module build-id, else path, and offset), whatever ids\n"
    "the states give their modules; or when they are explicit sites of one name. Then\n"
    "every entry's strategy is decided again: the eligible strategy with the highest\n"
    "rating, if each eligible strategy has at least min-samples samples and the leader is\n"
    "ahead of every other by at least the commit margin; otherwise none (production uses\n"
    "the band's default). The runs of all states are kept (the newest 16). FILE is\n"
    "replaced atomically.\n"
    "\n"
    "  --out FILE          the table to write (required)\n"
    "  --min-samples N     samples each eligible strategy needs (default: the first state's)\n"
    "  --commit-margin P   rating lead in Elo points needed to commit (default: the first\n"
    "                      state's)\n";

const char kVersionUsage[] =
    "usage: hakmem version\n"
    "\n"
    "Prints hakmem's version and the frozen table format version it reads and writes.\n";

bool IsHelp(const char* arg) { return strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0; }

int UsageError(const char* command, const std::string& what, const char* usage) {
  fprintf(stderr, "hakmem %s: %s\n", command, what.c_str());
  fprintf(stderr, "%.*s", static_cast<int>(strcspn(usage, "\n") + 1), usage);
  return kUsage;
}

int Fail(const char* command, const std::string& what, const std::string& why) {
  fprintf(stderr, "hakmem %s: %s: %s\n", command, what.c_str(), why.c_str());
  return kFailed;
}

// Commands that take exactly one FILE: its path, or a usage error.
bool OneFile(const char* command, int argc, char** argv, const char* usage, std::string* path,
             int* status) {
  for (int i = 0; i < argc; ++i) {
    if (IsHelp(argv[i])) {
      fputs(usage, stdout);
      *status = kOk;
      return false;
    }
  }
  if (argc == 0) {
    *status = UsageError(command, "missing FILE", usage);
    return false;
  }
  if (argc > 1) {
    *status = UsageError(command, std::string("unexpected argument '") + argv[1] + "'", usage);
    return false;
  }
  if (argv[0][0] == '-' && argv[0][1] != '\0') {
    *status = UsageError(command, std::string("unknown option '") + argv[0] + "'", usage);
    return false;
  }
  *path = argv[0];
  return true;
}

int Show(int argc, char** argv) {
  std::string path;
  int status;
  if (!OneFile("show", argc, argv, kShowUsage, &path, &status)) return status;
  std::string bytes, error;
  if (!ReadFileBytes(path, &bytes, &error)) return Fail("show", path, error);
  bool valid = false;
  if (!ShowTable(bytes, stdout, &valid, &error)) return Fail("show", path, error);
  return valid ? kOk : kFailed;
}

int Validate(int argc, char** argv) {
  std::string path;
  int status;
  if (!OneFile("validate", argc, argv, kValidateUsage, &path, &status)) return status;
  std::string error;
  const std::unique_ptr<Table> table = ReadTable(path, &error);
  if (table == nullptr) return Fail("validate", path, error);
  printf("ok: %zu entries\n", table->entries.size());
  return kOk;
}

bool ParseUint(const char* s, uint64_t* v) {
  if (*s < '0' || *s > '9') return false;  // strtoull accepts "-1" and " 1"
  errno = 0;
  char* end;
  *v = strtoull(s, &end, 10);
  return errno == 0 && *end == '\0';
}

bool ParseNonNegativeDouble(const char* s, double* v) {
  if (*s == '\0' || *s == ' ') return false;
  errno = 0;
  char* end;
  *v = strtod(s, &end);
  return errno == 0 && *end == '\0' && isfinite(*v) && *v >= 0;
}

uint64_t NowUnixMs() {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000 + static_cast<uint64_t>(ts.tv_nsec) / 1000000;
}

int Freeze(int argc, char** argv) {
  const char* kCmd = "freeze";
  std::string out;
  bool have_min_samples = false, have_margin = false;
  uint64_t min_samples = 0;
  double margin = 0;
  std::vector<std::string> states;
  for (int i = 0; i < argc; ++i) {
    std::string arg = argv[i];
    if (IsHelp(argv[i])) {
      fputs(kFreezeUsage, stdout);
      return kOk;
    }
    if (arg == "--") {
      for (++i; i < argc; ++i) states.push_back(argv[i]);
      break;
    }
    if (arg.size() < 2 || arg[0] != '-') {
      states.push_back(arg);
      continue;
    }
    // --name VALUE or --name=VALUE.
    std::string name = arg, value;
    const size_t eq = arg.find('=');
    if (eq != std::string::npos) {
      name = arg.substr(0, eq);
      value = arg.substr(eq + 1);
    }
    if (name != "--out" && name != "--min-samples" && name != "--commit-margin") {
      return UsageError(kCmd, "unknown option '" + name + "'", kFreezeUsage);
    }
    if (eq == std::string::npos) {
      if (i + 1 == argc) return UsageError(kCmd, name + " needs a value", kFreezeUsage);
      value = argv[++i];
    }
    if (name == "--out") {
      if (value.empty()) return UsageError(kCmd, "--out needs a value", kFreezeUsage);
      out = value;
    } else if (name == "--min-samples") {
      if (!ParseUint(value.c_str(), &min_samples)) {
        return UsageError(kCmd, "--min-samples: expected a non-negative integer, got '" + value + "'",
                          kFreezeUsage);
      }
      have_min_samples = true;
    } else {
      if (!ParseNonNegativeDouble(value.c_str(), &margin)) {
        return UsageError(kCmd, "--commit-margin: expected a non-negative number, got '" + value + "'",
                          kFreezeUsage);
      }
      have_margin = true;
    }
  }
  if (out.empty()) return UsageError(kCmd, "missing --out FILE", kFreezeUsage);
  if (states.empty()) return UsageError(kCmd, "missing STATE files to merge", kFreezeUsage);

  std::vector<std::unique_ptr<Table>> tables;
  for (const std::string& path : states) {
    std::string error;
    std::unique_ptr<Table> t = ReadTable(path, &error);
    if (t == nullptr) return Fail(kCmd, path, error);
    if (!tables.empty() && !RatingsComparable(t->meta.params, tables[0]->meta.params)) {
      fprintf(stderr,
              "hakmem freeze: warning: %s was learned with other parameters than %s; "
              "its ratings are merged as if they were not\n",
              path.c_str(), states[0].c_str());
    }
    tables.push_back(std::move(t));
  }
  learner::LearnParams params = tables[0]->meta.params;
  if (have_min_samples) params.min_samples = min_samples;
  if (have_margin) params.commit_margin = margin;

  std::vector<const Table*> inputs;
  for (const auto& t : tables) inputs.push_back(t.get());
  size_t left_out = 0;
  const std::unique_ptr<Table> merged = MergeTables(inputs, params, NowUnixMs(), &left_out);
  if (left_out > 0) {
    fprintf(stderr,
            "hakmem freeze: warning: %zu entries left out: their contexts would take the "
            "table past %zu modules\n",
            left_out, learner::kMaxTableModules);
  }
  std::string error;
  if (!WriteTableAtomically(out, *merged, &error)) return Fail(kCmd, out, error);
  size_t decided = 0, entries_in = 0;
  for (const learner::TableEntry& e : merged->entries) decided += e.strategy >= 0 ? 1 : 0;
  for (const auto& t : tables) entries_in += t->entries.size();
  printf("wrote %s: %zu entries (%zu decided) from %zu entries in %zu states\n", out.c_str(),
         merged->entries.size(), decided, entries_in, tables.size());
  return kOk;
}

int Version(int argc, char** argv) {
  if (argc > 0 && IsHelp(argv[0])) {
    fputs(kVersionUsage, stdout);
    return kOk;
  }
  if (argc > 0) {
    return UsageError("version", std::string("unexpected argument '") + argv[0] + "'",
                      kVersionUsage);
  }
  printf("hakmem %s (frozen table format %u)\n", kVersion, learner::kTableFormatVersion);
  return kOk;
}

int Main(int argc, char** argv) {
  if (argc < 2) {
    fputs(kMainUsage, stderr);
    return kUsage;
  }
  const std::string command = argv[1];
  int rest_argc = argc - 2;
  char** rest = argv + 2;
  if (command == "show") return Show(rest_argc, rest);
  if (command == "validate") return Validate(rest_argc, rest);
  if (command == "freeze") return Freeze(rest_argc, rest);
  if (command == "version" || command == "--version") return Version(rest_argc, rest);
  if (IsHelp(argv[1]) || command == "help") {
    fputs(kMainUsage, stdout);
    return kOk;
  }
  fprintf(stderr, "hakmem: unknown command '%s'\n", argv[1]);
  fprintf(stderr, "%.*s", static_cast<int>(strcspn(kMainUsage, "\n") + 1), kMainUsage);
  return kUsage;
}

}  // namespace
}  // namespace tools
}  // namespace hakmem

int main(int argc, char** argv) { return hakmem::tools::Main(argc, argv); }
