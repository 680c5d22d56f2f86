#include "tools/telemetry_to_table.h"

#include <string.h>

#include <map>
#include <string>
#include <tuple>

#include "absl/container/flat_hash_map.h"
#include "learner/elo.h"

namespace hakmem {
namespace tools {
namespace {

using telemetry::Telemetry;

// Copies `s` into a NUL-terminated buffer of `cap` bytes; false if it does not fit or
// holds a NUL (the table's strings cannot).
bool CopyInto(const std::string& s, char* dst, size_t cap) {
  if (s.size() >= cap || s.find('\0') != std::string::npos) return false;
  memcpy(dst, s.data(), s.size());
  dst[s.size()] = '\0';
  return true;
}

// Builds one run's table.
class RunTable {
 public:
  RunTable(const Telemetry& t, int run, LeftOut* left_out)
      : t_(t), left_out_(left_out), table_(std::make_unique<Table>()) {
    memset(&table_->meta, 0, sizeof(table_->meta));
    const telemetry::Run& r = t.runs(run);
    learner::TableMeta& m = table_->meta;
    CopyInto(r.hakmem_version().substr(0, sizeof(m.hakmem_version) - 1), m.hakmem_version,
             sizeof(m.hakmem_version));
    m.created_unix_ms = r.end_unix_ns() / 1000000;
    m.params = r.has_learn_params() ? ToLearnParams(r.learn_params()) : learner::DefaultParams();
    learner::RunInfo& info = m.runs[m.num_runs++];
    // A path too long for the table is cut: RunInfo is only a record of where data came from.
    const std::string& program = t.string_table(static_cast<int>(r.program_str()));
    CopyInto(program.substr(0, sizeof(info.program) - 1), info.program, sizeof(info.program));
    info.pid = r.pid();
    info.start_unix_ms = r.start_unix_ns() / 1000000;
    info.duration_ms =
        r.end_unix_ns() > r.start_unix_ns() ? (r.end_unix_ns() - r.start_unix_ns()) / 1000000 : 0;
  }

  // The entry for (site, band), made on first use; nullptr (counted) if the site cannot be
  // a table entry.
  learner::TableEntry* Entry(uint64_t site_id, int band) {
    const auto key = std::make_pair(site_id, band);
    if (auto it = index_.find(key); it != index_.end()) {
      return it->second < 0 ? nullptr : &table_->entries[static_cast<size_t>(it->second)];
    }
    learner::TableEntry e;
    memset(&e, 0, sizeof(e));
    e.band = band;
    e.strategy = -1;
    const bool keyed = Key(t_.sites(static_cast<int>(site_id - 1)), &e);
    const int slot = keyed ? static_cast<int>(table_->entries.size()) : -1;
    index_.emplace(key, slot);
    if (slot < 0) return nullptr;
    table_->entries.push_back(e);
    return &table_->entries.back();
  }

  std::unique_ptr<Table> Take() { return std::move(table_); }

 private:
  // Fills the site key of `e`: frames or name. False (counted) when it cannot be.
  bool Key(const telemetry::Site& s, learner::TableEntry* e) {
    if (s.overflow()) {
      ++left_out_->overflow;
      return false;
    }
    if (s.location_ids_size() == 0) {
      if (CopyInto(t_.string_table(static_cast<int>(s.name_str())), e->site_name,
                   sizeof(e->site_name))) {
        return true;
      }
      ++left_out_->unrepresentable;
      return false;
    }
    for (uint64_t id : s.location_ids()) {
      if (t_.locations(static_cast<int>(id - 1)).module_id() == 0) {
        ++left_out_->no_module;
        return false;
      }
    }
    for (uint64_t id : s.location_ids()) {
      const telemetry::Location& l = t_.locations(static_cast<int>(id - 1));
      uint32_t module;
      if (!Module(l.module_id(), &module)) {
        ++left_out_->unrepresentable;
        return false;
      }
      e->frames[e->num_frames++] = {module, l.offset_bytes()};
    }
    return true;
  }

  // The table's index of telemetry module `id`, added on first use.
  bool Module(uint64_t id, uint32_t* index) {
    if (auto it = modules_.find(id); it != modules_.end()) {
      *index = it->second;
      return true;
    }
    learner::TableMeta& m = table_->meta;
    const telemetry::Module& tm = t_.modules(static_cast<int>(id - 1));
    const std::string& path = t_.string_table(static_cast<int>(tm.path_str()));
    if (m.num_modules == learner::kMaxTableModules || (tm.build_id_hex().empty() && path.empty())) {
      return false;
    }
    learner::TableModule& out = m.modules[m.num_modules];
    if (!CopyInto(tm.build_id_hex(), out.build_id_hex, sizeof(out.build_id_hex)) ||
        !CopyInto(path, out.path, sizeof(out.path))) {
      return false;
    }
    *index = m.num_modules++;
    modules_.emplace(id, *index);
    return true;
  }

  const Telemetry& t_;
  LeftOut* left_out_;
  std::unique_ptr<Table> table_;
  // (site id, band) -> index into entries, or -1 for a site left out.
  std::map<std::pair<uint64_t, int>, int> index_;
  absl::flat_hash_map<uint64_t, uint32_t> modules_;  // telemetry module id -> table index
};

}  // namespace

learner::LearnParams ToLearnParams(const table::LearnParams& p) {
  learner::LearnParams out{};
  out.elo_initial_rating = p.elo_initial_rating();
  out.elo_k_factor = p.elo_k_factor();
  out.elo_scale = p.elo_scale_points();
  out.draw_margin = p.draw_margin_fraction();
  out.min_samples = p.min_samples();
  out.commit_margin = p.commit_margin_points();
  out.explore_rate = p.explore_rate_fraction();
  out.weight_time = p.weight_time();
  out.weight_faults = p.weight_faults();
  out.weight_idle_ns_per_mib_second = p.weight_idle_ns_per_mib_second();
  out.fault_ns = p.fault_cost_ns();
  return out;
}

ConvertedRuns TelemetryToTables(const Telemetry& t) {
  ConvertedRuns out;
  std::vector<std::unique_ptr<RunTable>> runs(static_cast<size_t>(t.runs_size()));
  for (const telemetry::Outcome& o : t.outcomes()) {
    std::unique_ptr<RunTable>& run = runs[o.run()];
    if (run == nullptr) run = std::make_unique<RunTable>(t, static_cast<int>(o.run()), &out.left_out);
    learner::TableEntry* e = run->Entry(o.site_id(), o.band());
    if (e == nullptr) continue;
    const int k = static_cast<int>(o.strategy()) - 1;  // StrategyIndex
    if (k == learner::kIdxPool && o.band() != table::SIZE_BAND_MIDDLE) {
      ++out.left_out.ineligible;
      continue;
    }
    e->eligible[k] = true;
    e->rating[k] = o.rating_elo();
    e->samples[k] = o.samples();
    e->mean_cost_ns[k] = o.samples() > 0 ? o.cost_ns() / static_cast<double>(o.samples()) : 0;
  }
  for (std::unique_ptr<RunTable>& run : runs) {
    if (run == nullptr) continue;
    std::unique_ptr<Table> table = run->Take();
    // Entries whose every outcome was ineligible measured nothing the table can hold.
    std::vector<learner::TableEntry> kept;
    for (const learner::TableEntry& e : table->entries) {
      if (e.eligible[0] || e.eligible[1] || e.eligible[2]) kept.push_back(e);
    }
    table->entries = std::move(kept);
    out.tables.push_back(std::move(table));
  }
  return out;
}

}  // namespace tools
}  // namespace hakmem
