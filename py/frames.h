// Telemetry files and frozen tables as column tables, for the Python module: each table a
// list of typed columns built here in C++, which the bindings hand to numpy without a
// Python object per row (strings as categories: integer codes and the distinct values).
//
// Tables (every file has all of them, empty where the file kind has no such data):
//   runs       one row per run (process)
//   sites      one row per site, summed over runs (as `hakmem report`)
//   curves     one row per (match, strategy that played): the learning curves, tidy
//   decisions  one row per decision (trials begin, commit, switch, explore)
//   outcomes   one row per (run, site, band, strategy): what the strategy cost in total
//   timeline   one row per allocator sample
// A frozen table gives runs, sites and outcomes (its entries); the others are empty.
// py/README.md lists every column with its unit.
#ifndef HAKMEM_PY_FRAMES_H_
#define HAKMEM_PY_FRAMES_H_

#include <stdint.h>

#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace hakmem {
namespace py {

struct Column {
  enum class Kind { kInt64, kUint64, kFloat64, kBool, kCategory };
  std::string name;
  Kind kind;
  std::vector<int64_t> ints;        // kInt64, kBool (0 or 1), kCategory (codes; -1: none)
  std::vector<uint64_t> uints;      // kUint64
  std::vector<double> floats;       // kFloat64
  std::vector<std::string> categories;  // kCategory: the values codes index
};

struct Frame {
  std::vector<Column> columns;
  size_t rows = 0;
};

struct Frames {
  std::string kind;  // "telemetry" or "frozen_table"
  Frame runs, sites, curves, decisions, outcomes, timeline;
};

// Reads and validates `path` (either kind, told by its first bytes) and builds the
// tables. The error's message is the command line's: "PATH: WHY".
absl::StatusOr<Frames> LoadFrames(const std::string& path);

}  // namespace py
}  // namespace hakmem

#endif  // HAKMEM_PY_FRAMES_H_
