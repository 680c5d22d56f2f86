#include "tools/merge.h"

#include <string.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <tuple>

#include "core/version.h"
#include "learner/elo.h"

namespace hakmem {
namespace tools {
namespace {

using learner::kNumLearnedStrategies;
using learner::RunInfo;
using learner::TableEntry;
using learner::TableModule;

// A module with a build-id is that build wherever it is installed; one without is its
// path (as callsite::ContextKeyOf sees modules).
std::string Identity(const TableModule& m) {
  return m.build_id_hex[0] != '\0' ? std::string("build-id:") + m.build_id_hex
                                   : std::string("path:") + m.path;
}

// An entry's site and band, independent of its table's module numbering: the frames as
// (module identity, offset), or the explicit site's name.
using Frames = std::vector<std::pair<std::string, uint64_t>>;
using Key = std::tuple<Frames, std::string, int>;

Key KeyOf(const Table& t, const TableEntry& e) {
  Frames frames;
  for (uint32_t i = 0; i < e.num_frames; ++i) {
    frames.emplace_back(Identity(t.meta.modules[e.frames[i].module]), e.frames[i].offset);
  }
  return Key(std::move(frames), e.site_name, e.band);
}

// Running sums for one strategy of one merged entry. Each is kept in double (what the
// result is made of) and in long double, whose range holds any sum of finite doubles
// times 64-bit counts: a sum that overflows a double (a rating of -4e306 from 75 samples;
// found by tools/telemetry_file_fuzz) still has a finite mean, and Mean() takes it from
// there, so every finite input merges into a table the codec accepts.
struct Sum {
  double d = 0;
  long double wide = 0;
  void Add(double x) {
    d += x;
    wide += x;
  }
  void Add(double x, double w) {
    d += x * w;
    wide += static_cast<long double>(x) * w;
  }
  double Mean(double n) const {
    const double m = d / n;
    return std::isfinite(m) ? m : static_cast<double>(wide / n);
  }
};

struct Sums {
  bool measured = false;
  uint64_t samples = 0;
  Sum weighted_rating, weighted_cost;  // sum of value * samples
  int inputs = 0;
  Sum plain_rating, plain_cost;  // sum of values
};

struct Merged {
  TableEntry entry;  // key fields from the first input
  Sums sums[kNumLearnedStrategies];
};

uint64_t SaturatingAdd(uint64_t a, uint64_t b) { return a + b < a ? UINT64_MAX : a + b; }

}  // namespace

bool RatingsComparable(const learner::LearnParams& a, const learner::LearnParams& b) {
  return a.elo_initial_rating == b.elo_initial_rating && a.elo_k_factor == b.elo_k_factor &&
         a.elo_scale == b.elo_scale && a.draw_margin == b.draw_margin &&
         a.weight_time == b.weight_time && a.weight_faults == b.weight_faults &&
         a.weight_idle_ns_per_mib_second == b.weight_idle_ns_per_mib_second;
}

std::unique_ptr<Table> MergeTables(const std::vector<const Table*>& inputs,
                                   const learner::LearnParams& params, uint64_t now_unix_ms,
                                   size_t* left_out) {
  auto out = std::make_unique<Table>();
  memset(&out->meta, 0, sizeof(out->meta));
  // The output's modules: one per identity (the first input's path where paths differ).
  std::map<std::string, uint32_t> module_index;
  auto intern = [&](const TableModule& m, uint32_t* index) {
    auto it = module_index.find(Identity(m));
    if (it == module_index.end()) {
      if (out->meta.num_modules == learner::kMaxTableModules) return false;
      it = module_index.emplace(Identity(m), out->meta.num_modules).first;
      out->meta.modules[out->meta.num_modules++] = m;
    }
    *index = it->second;
    return true;
  };
  if (left_out != nullptr) *left_out = 0;
  std::vector<Merged> merged;
  std::map<Key, size_t> index;
  std::vector<RunInfo> runs;
  for (const Table* in : inputs) {
    for (uint32_t r = 0; r < in->meta.num_runs; ++r) runs.push_back(in->meta.runs[r]);
    for (const TableEntry& e : in->entries) {
      Key key = KeyOf(*in, e);
      auto found = index.find(key);
      if (found == index.end()) {
        // A new site: its frames renumbered into the output's modules.
        TableEntry copy;
        memcpy(&copy, &e, sizeof(e));
        bool fits = true;
        for (uint32_t i = 0; i < e.num_frames && fits; ++i) {
          fits = intern(in->meta.modules[e.frames[i].module], &copy.frames[i].module);
        }
        if (!fits) {
          if (left_out != nullptr) ++*left_out;
          continue;
        }
        found = index.emplace(std::move(key), merged.size()).first;
        merged.emplace_back();
        merged.back().entry = copy;
      }
      auto it = found;
      Merged& m = merged[it->second];
      for (int k = 0; k < kNumLearnedStrategies; ++k) {
        if (!e.eligible[k]) continue;
        Sums& s = m.sums[k];
        s.measured = true;
        s.samples = SaturatingAdd(s.samples, e.samples[k]);
        const double w = static_cast<double>(e.samples[k]);
        s.weighted_rating.Add(e.rating[k], w);
        s.weighted_cost.Add(e.mean_cost_ns[k], w);
        ++s.inputs;
        s.plain_rating.Add(e.rating[k]);
        s.plain_cost.Add(e.mean_cost_ns[k]);
      }
    }
  }

  strncpy(out->meta.hakmem_version, kVersion, sizeof(out->meta.hakmem_version) - 1);
  out->meta.created_unix_ms = now_unix_ms;
  out->meta.params = params;

  // Runs: oldest first, one record per run, the newest kMaxRuns.
  std::stable_sort(runs.begin(), runs.end(), [](const RunInfo& a, const RunInfo& b) {
    return a.start_unix_ms < b.start_unix_ms;
  });
  auto same_run = [](const RunInfo& a, const RunInfo& b) {
    return a.pid == b.pid && a.start_unix_ms == b.start_unix_ms &&
           a.duration_ms == b.duration_ms && strcmp(a.program, b.program) == 0;
  };
  std::vector<RunInfo> unique;
  for (const RunInfo& r : runs) {
    if (std::none_of(unique.begin(), unique.end(),
                     [&](const RunInfo& u) { return same_run(u, r); })) {
      unique.push_back(r);
    }
  }
  const size_t first = unique.size() > learner::kMaxRuns ? unique.size() - learner::kMaxRuns : 0;
  for (size_t i = first; i < unique.size(); ++i) out->meta.runs[out->meta.num_runs++] = unique[i];

  out->entries.reserve(merged.size());
  for (Merged& m : merged) {
    TableEntry& e = m.entry;
    for (int k = 0; k < kNumLearnedStrategies; ++k) {
      const Sums& s = m.sums[k];
      e.eligible[k] = s.measured;
      e.samples[k] = s.samples;
      e.rating[k] = e.mean_cost_ns[k] = 0;
      if (!s.measured) continue;
      if (s.samples > 0) {
        const double w = static_cast<double>(s.samples);
        e.rating[k] = s.weighted_rating.Mean(w);
        e.mean_cost_ns[k] = s.weighted_cost.Mean(w);
      } else {
        e.rating[k] = s.plain_rating.Mean(s.inputs);
        e.mean_cost_ns[k] = s.plain_cost.Mean(s.inputs);
      }
    }
    e.strategy = learner::Decide(e, params);
    out->entries.push_back(e);
  }
  return out;
}

}  // namespace tools
}  // namespace hakmem
