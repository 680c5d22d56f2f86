// The frozen table in memory: what the learner knows about each (site, size band), and
// the metadata that says how it was made. learner/frozen_table.proto is its file format;
// learner/table_codec.h reads and writes that format without libprotobuf or malloc, so the
// preloaded library can load and write tables.
//
// Plain data, fixed capacity per string: the preload builds these in arena memory.
#ifndef HAKMEM_LEARNER_TABLE_H_
#define HAKMEM_LEARNER_TABLE_H_

#include <stddef.h>
#include <stdint.h>

namespace hakmem {
namespace learner {

// Indexes into the per-strategy arrays below, in this order. Matches core/strategy.h's
// Strategy values minus one (kPool = 1 there).
enum StrategyIndex : int { kIdxPool = 0, kIdxBigCache = 1, kIdxMmap = 2, kNumLearnedStrategies = 3 };

// Names as reports, logs and error messages spell them, by StrategyIndex and by band
// (core/strategy.h: middle, large, huge).
inline constexpr const char* kStrategyNames[kNumLearnedStrategies] = {"pool", "bigcache", "mmap"};
inline constexpr const char* kBandNames[3] = {"middle", "large", "huge"};

inline constexpr size_t kMaxBuildIdHex = 65;     // lowercase hex of up to 32 bytes, + NUL
inline constexpr size_t kMaxPathBytes = 512;     // including the terminating NUL (as callsite/)
inline constexpr size_t kMaxNameBytes = 64;      // explicit site names (hak_site_register)
inline constexpr int kMaxTableFrames = 16;       // callsite::kMaxContextDepth
inline constexpr size_t kMaxTableModules = 256;  // distinct modules a table's frames name
// 2: sites are calling contexts (frames naming interned modules); 1 (refused) had one
// code address per site.
inline constexpr uint32_t kTableFormatVersion = 2;

// A module that frames name (FrozenTable.modules): identified by its build-id where it
// has one, else by its path.
struct TableModule {
  char build_id_hex[kMaxBuildIdHex];  // lowercase hex; empty: no build-id, match by path
  char path[kMaxPathBytes];
};

// One frame of a calling context.
struct TableFrame {
  uint32_t module;  // index into TableMeta::modules (the file's module id minus one)
  uint64_t offset;  // return address - module load base
};

// One (site, size band) and what was learned about it.
struct TableEntry {
  // The site key: stable across runs and ASLR. Either a calling context (frames, the
  // allocation call's first) or an explicit site's name, never both.
  TableFrame frames[kMaxTableFrames];
  uint32_t num_frames;            // 0 for explicit sites
  char site_name[kMaxNameBytes];  // nonempty for explicit sites
  int band;                       // core/strategy.h Band: 0 middle, 1 large, 2 huge
  int strategy;                   // chosen StrategyIndex, or -1 for "none decided"
  // Per strategy (StrategyIndex order). Ineligible strategies have eligible[i] == false.
  bool eligible[kNumLearnedStrategies];
  double rating[kNumLearnedStrategies];           // Elo rating
  uint64_t samples[kNumLearnedStrategies];        // measured operations
  double mean_cost_ns[kNumLearnedStrategies];     // mean cost per allocation, ns-equivalent
};

// The parameters a table was learned with; stored so a reader knows what the ratings mean.
struct LearnParams {
  double elo_initial_rating;   // 1500
  double elo_k_factor;         // 24
  double elo_scale;            // 400: a 400-point gap means 10:1 expected odds
  double draw_margin;          // relative cost difference below which a match is a draw
  uint64_t min_samples;        // per strategy, before a site can commit
  double commit_margin;        // rating lead over every other strategy to commit
  double explore_rate;         // share of allocations served by a non-chosen strategy
  // Cost weights: cost = time_ns * weight_time + faults * fault_ns * weight_faults
  //                      + idle_mib_seconds * weight_idle_ns_per_mib_second
  double weight_time;
  double weight_faults;
  double weight_idle_ns_per_mib_second;
  double fault_ns;             // measured cost of one first-touch page fault (ns)
};

// Where a table came from: one record per program run that contributed.
struct RunInfo {
  char program[kMaxPathBytes];   // /proc/self/exe of the run
  uint64_t pid;
  uint64_t start_unix_ms;
  uint64_t duration_ms;
};

inline constexpr size_t kMaxRuns = 16;

// ~150 KiB, most of it the module list: keep it off small stacks (map it, or the heap).
struct TableMeta {
  char hakmem_version[32];
  uint64_t created_unix_ms;
  LearnParams params;
  RunInfo runs[kMaxRuns];
  uint32_t num_runs;
  TableModule modules[kMaxTableModules];  // named by TableFrame::module
  uint32_t num_modules;
};

}  // namespace learner
}  // namespace hakmem

#endif  // HAKMEM_LEARNER_TABLE_H_
