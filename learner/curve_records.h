// The records of the learning curves: one per tournament match, one per change of
// decision. Plain data, shared by the tournament (learner/tournament.h), which fills them,
// and the stores that keep them (learner/curves.h in the preload, the replay engine).
#ifndef HAKMEM_LEARNER_CURVE_RECORDS_H_
#define HAKMEM_LEARNER_CURVE_RECORDS_H_

#include <stdint.h>

#include <atomic>

#include "learner/table.h"

namespace hakmem {
namespace learner {

// A strategy's part in one match: its window (the samples since its last match) and its
// state after the match.
struct MatchPart {
  float rating;             // Elo points after the match
  uint32_t window_samples;
  uint64_t window_bytes;    // requested by the window's samples
  uint64_t time_ns;         // the window's cost, in parts (ns-equivalents, weighted)
  uint64_t fault_ns;
  uint64_t idle_ns;
  uint64_t faults;          // first-touch pages charged
  uint64_t idle_micro_mib_s;  // MiB-seconds held idle, in millionths
  uint64_t samples;         // all-time samples after the match
};

struct MatchRecord {
  std::atomic<uint64_t> seq;  // index + 1 once the record is whole (see Read*)
  uintptr_t site;
  uint64_t time_ns;           // since MarkCurvesStart
  uint64_t allocations;       // the band's routed allocations so far
  uint32_t number;            // 1 for the band's first match
  int8_t band;
  int8_t chosen;              // StrategyIndex after the match, or -1
  uint8_t played;             // bit i: strategy i played
  MatchPart part[kNumLearnedStrategies];
};

// DecisionKind in learner/telemetry.proto.
enum class DecisionKind : int8_t { kTrialsBegin = 1, kCommit = 2, kSwitch = 3, kExplore = 4 };

struct DecisionRecord {
  std::atomic<uint64_t> seq;
  uintptr_t site;
  uint64_t time_ns;
  uint64_t allocations;
  int8_t band;
  DecisionKind kind;
  int8_t from, to;            // StrategyIndex, -1 for none
};

}  // namespace learner
}  // namespace hakmem

#endif  // HAKMEM_LEARNER_CURVE_RECORDS_H_
