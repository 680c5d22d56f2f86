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

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "learner/telemetry.pb.h"

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

// Declares a frame's columns, then appends rows column by column (py/frames.cc, py/replay.cc). Columns are reserved up
// front so the pointers handed out stay valid.
class FrameBuilder {
 public:
  explicit FrameBuilder(Frame* f) : f_(f) { f_->columns.reserve(64); }

  std::vector<int64_t>* Int(const char* name) { return &Add(name, Column::Kind::kInt64)->ints; }
  std::vector<uint64_t>* Uint(const char* name) { return &Add(name, Column::Kind::kUint64)->uints; }
  std::vector<double>* Float(const char* name) { return &Add(name, Column::Kind::kFloat64)->floats; }
  std::vector<int64_t>* Bool(const char* name) { return &Add(name, Column::Kind::kBool)->ints; }

  // A string column: values interned as categories.
  class Category {
   public:
    explicit Category(Column* c) : c_(c) {}
    void Push(const std::string& v) {
      auto [it, fresh] = index_.try_emplace(v, static_cast<int64_t>(c_->categories.size()));
      if (fresh) c_->categories.push_back(v);
      c_->ints.push_back(it->second);
    }
    void PushNone() { c_->ints.push_back(-1); }
    // Columns of a few known values (bands, strategies) or of one value per site: the
    // categories are given once, and rows push codes (no string hashing per row, which
    // was most of loading a million curve points).
    void SetCategories(std::vector<std::string> values) {
      c_->categories = std::move(values);
    }
    void PushCode(int64_t code) { c_->ints.push_back(code); }

   private:
    Column* c_;
    absl::flat_hash_map<std::string, int64_t> index_;
  };
  std::unique_ptr<Category> Cat(const char* name) {
    return std::make_unique<Category>(Add(name, Column::Kind::kCategory));
  }

  void Row() { ++f_->rows; }
  void Reserve(size_t rows) {
    for (Column& c : f_->columns) {
      if (c.kind == Column::Kind::kFloat64) c.floats.reserve(rows);
      else if (c.kind == Column::Kind::kUint64) c.uints.reserve(rows);
      else c.ints.reserve(rows);
    }
  }

 private:
  Column* Add(const char* name, Column::Kind kind) {
    f_->columns.push_back(Column{name, kind, {}, {}, {}, {}});
    return &f_->columns.back();
  }
  Frame* f_;
};

// Reads and validates `path` (either kind, told by its first bytes) and builds the
// tables. The error's message is the command line's: "PATH: WHY".
absl::StatusOr<Frames> LoadFrames(const std::string& path);

// The tables of valid telemetry (tools/telemetry_file.h ValidateTelemetry).
Frames TelemetryFrames(const telemetry::Telemetry& t);

}  // namespace py
}  // namespace hakmem

#endif  // HAKMEM_PY_FRAMES_H_
