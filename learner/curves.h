// The learning curves: every tournament match and every change of decision, as they
// happen, kept in arena memory for the telemetry file (learner/telemetry.h) and the learn
// log (learner/learn_log.h), which write them at exit or periodically.
//
// Bounded: each log keeps at most HAKMEM_TELEMETRY_POINTS records. Past that it keeps
// the first half (how learning began) and a ring of the most recent half (where it
// stands), and counts what went in between. Memory is reserved once, when learning starts
// with telemetry or a learn log asked for, and only the records written touch it (about
// 230 bytes a match, 48 a decision).
//
// Appending is lock-free (one fetch_add and plain stores) and happens only on the
// learner's paths: routed requests of 64 KiB and up, in learn and shadow mode.
#ifndef HAKMEM_LEARNER_CURVES_H_
#define HAKMEM_LEARNER_CURVES_H_

#include <stddef.h>
#include <stdint.h>

#include <atomic>

#include "learner/curve_records.h"
#include "learner/table.h"

namespace hakmem {
namespace learner {

// Time 0 of the curves (the learner's start), and reserves the logs' memory if telemetry
// or a learn log will want them. Called once, before learning starts.
void MarkCurvesStart();
uint64_t CurvesStartNs();   // CLOCK_MONOTONIC at MarkCurvesStart

// Appending a match: BeginMatch returns the record to fill (nullptr when curves are not
// kept) and its index; the caller fills every field but seq, then calls EndMatch.
MatchRecord* BeginMatch(uint64_t* index);
void EndMatch(MatchRecord* r, uint64_t index);
void RecordDecision(uintptr_t site, int band, DecisionKind kind, int from, int to,
                    uint64_t allocations);

// Copies the kept records, oldest first, into out[0, cap) (a record being overwritten
// while read is skipped). Returns how many; *dropped (if given) counts the records that
// were not kept.
size_t ReadMatches(MatchRecord* out, size_t cap, uint64_t* dropped);
size_t ReadDecisions(DecisionRecord* out, size_t cap, uint64_t* dropped);
// Upper bounds for the buffers above: the records kept so far.
size_t MatchesKept();
size_t DecisionsKept();

// The bound (HAKMEM_TELEMETRY_POINTS), and the same first-half-and-ring arithmetic for
// other bounded logs (the telemetry timeline): the slot of the i-th record (0-based), and
// the i-th kept record's index when `total` were appended.
struct KeepFirstAndRecent {
  uint64_t capacity;
  uint64_t Slot(uint64_t i) const {
    const uint64_t half = capacity / 2;
    return i < half ? i : half + (i - half) % (capacity - half);
  }
  uint64_t Kept(uint64_t total) const { return total < capacity ? total : capacity; }
  uint64_t Dropped(uint64_t total) const { return total - Kept(total); }
  // The index of the k-th kept record, oldest first.
  uint64_t IndexOfKept(uint64_t k, uint64_t total) const {
    const uint64_t half = capacity / 2;
    if (total <= capacity || k < half) return k;
    return total - (capacity - k);
  }
};

}  // namespace learner
}  // namespace hakmem

#endif  // HAKMEM_LEARNER_CURVES_H_
