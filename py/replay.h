// The replay engine behind hakmem.Engine: a recorded allocation stream (HAKMEM_TRACE,
// learner/trace.h) played through the learner's own Tournament (learner/tournament.h,
// the code the preload runs) with each allocation's cost taken from a model priced by the
// recorded run, so a notebook can try learner settings without rerunning the program.
//
// The cost model, per routed request (prices from the recorded run's telemetry: its
// measured OS costs and BigCache-hit and pool costs; typical figures without telemetry):
// - pool: one pool allocation (the run's measured mean); its free is not followed, as in
//   the preload.
// - mmap: one mmap call; at the free, one munmap call plus its cost per resident page,
//   and a first-touch fault per page the program touched (the free record's pages).
// - BigCache: the process's own BigCache class (bigcache/big_cache.h: its extent heap,
//   bound, release and decay) on the trace's clock, its regions bare address ranges (the
//   heap never touches the memory it manages). A hit costs the run's measured hit cost and causes no faults; a
//   miss costs what mmap does. A free into it costs a pool allocation's price (both are a
//   list push) plus, for what it released, an munmap call and a page's price per page
//   (an upper bound: some may never have been touched); the time a freed block's memory
//   waits there is charged, as idle MiB-seconds, to the site that freed it, as in the
//   preload.
// What the model cannot know:
// - the free of a block the recorded run served from the pool (pool blocks have no
//   header, so their frees are not traced): it is taken to come after the mean lifetime
//   of that (site, band)'s blocks whose frees were seen (or when the address is handed
//   out again, if sooner), touching the mean fraction of pages they touched (all, when
//   none were seen);
// - the pages a block touched when the recorded run reused it from BigCache: the free
//   record's count is what was resident, which may include an earlier user's pages;
// - timing noise, preemption and contention between threads: the replay is one thread on
//   a clean clock;
// - BigCache's headroom (HAKMEM_BIGCACHE_HEADROOM): the replay bounds what it keeps
//   resident by its capacity alone. Modelled from the replayed blocks' live and peak
//   mapped bytes, it turned the engine's choice for one site of engine_test away from the
//   live run's (why is not known yet).
// Shadow mode replays with the band defaults serving and the live learner's
// counterfactual estimates (tournament.h), so it inherits their blind spots: BigCache's
// idle cost is not charged to a strategy that did not run.
//
// Deterministic: the same trace, telemetry, configuration and seed give the same tables,
// however the events are stepped.
#ifndef HAKMEM_PY_REPLAY_H_
#define HAKMEM_PY_REPLAY_H_

#include <stddef.h>
#include <stdint.h>

#include <memory>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "core/strategy.h"
#include "learner/telemetry.pb.h"
#include "py/frames.h"

namespace hakmem {
namespace py {

struct ReplayConfig {
  enum class Mode { kLearn, kShadow, kFixed };
  Mode mode = Mode::kLearn;
  Strategy fixed = Strategy::kNone;  // kFixed: the strategy every request gets (if eligible)
  // Unset: the recorded run's value (its telemetry), else the preload's default.
  std::optional<double> k_factor;
  std::optional<double> commit_margin;
  std::optional<uint64_t> explore_every;  // 0: never explore
  std::optional<uint64_t> min_samples;
  std::optional<double> idle_weight;      // ns per MiB-second held idle
  std::optional<uint64_t> bigcache_bytes;
  std::optional<uint64_t> decay_ms;
  uint64_t seed = 0;  // 0: the preloaded learner's exploration coin
};

// A one-line reason ("k_factor: must be ...") for a setting out of range; ok otherwise.
absl::Status CheckReplayConfig(const ReplayConfig& config);

class Replay {
 public:
  // Reads the trace and, unless empty, the recorded run's telemetry (prices, parameters,
  // site names). Errors carry "PATH: WHY", or "CONFIG: WHY" for a bad setting.
  static absl::StatusOr<std::unique_ptr<Replay>> Create(const std::string& trace_path,
                                                        const std::string& telemetry_path,
                                                        const ReplayConfig& config);
  virtual ~Replay() = default;

  virtual size_t events() const = 0;    // trace records
  virtual size_t position() const = 0;  // records played
  // Plays up to `n` more records; returns true once every record was played.
  virtual bool Step(size_t n) = 0;
  // What the replayed learner knows, as a telemetry file from a live run would say it
  // (runs, sites, choices, outcomes, matches, decisions): for TelemetryFrames.
  virtual telemetry::Telemetry Result() const = 0;
  // One row per (site, band): what the modelled allocations cost in all (every request,
  // not only the ones the tournament followed) and when the band first committed.
  virtual Frame Summary() const = 0;
  // Freezes Result() as `hakmem freeze` freezes telemetry. Needs the recorded telemetry
  // (site keys alone mean nothing to another process).
  virtual absl::Status Freeze(const std::string& path) const = 0;
};

}  // namespace py
}  // namespace hakmem

#endif  // HAKMEM_PY_REPLAY_H_
