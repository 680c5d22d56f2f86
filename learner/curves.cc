#include "learner/curves.h"

#include "core/arena.h"
#include "core/options.h"
#include "core/os.h"

namespace hakmem {
namespace learner {
namespace {

void CopyFields(const MatchRecord& f, MatchRecord* t) {
  t->site = f.site, t->time_ns = f.time_ns, t->allocations = f.allocations;
  t->number = f.number, t->band = f.band, t->chosen = f.chosen, t->played = f.played;
  for (int k = 0; k < kNumLearnedStrategies; ++k) t->part[k] = f.part[k];
}

void CopyFields(const DecisionRecord& f, DecisionRecord* t) {
  t->site = f.site, t->time_ns = f.time_ns, t->allocations = f.allocations;
  t->band = f.band, t->kind = f.kind, t->from = f.from, t->to = f.to;
}

// One bounded log. A record's seq is its index + 1 once whole, 0 while being written:
// a reader copies a record only if seq names the index it expects before and after.
// Constant-initialized (see elo.h): the learner may start before dynamic initializers.
template <typename Record>
struct Log {
  std::atomic<Record*> records{nullptr};
  std::atomic<uint64_t> next{0};
  KeepFirstAndRecent bound{0};

  void Reserve(uint64_t capacity) {
    if (records.load(std::memory_order_relaxed) != nullptr) return;
    bound.capacity = capacity;
    records.store(static_cast<Record*>(ArenaAllocate(sizeof(Record) * capacity)),
                  std::memory_order_release);
  }
  Record* Begin(uint64_t* index) {
    Record* recs = records.load(std::memory_order_acquire);
    if (recs == nullptr) return nullptr;
    *index = next.fetch_add(1, std::memory_order_relaxed);
    Record* r = &recs[bound.Slot(*index)];
    r->seq.store(0, std::memory_order_relaxed);
    std::atomic_thread_fence(std::memory_order_release);
    return r;
  }
  static void End(Record* r, uint64_t index) { r->seq.store(index + 1, std::memory_order_release); }
  size_t Kept() const {
    return records.load(std::memory_order_acquire) == nullptr
               ? 0
               : bound.Kept(next.load(std::memory_order_acquire));
  }
  size_t Read(Record* out, size_t cap, uint64_t* dropped) const {
    Record* recs = records.load(std::memory_order_acquire);
    const uint64_t total = next.load(std::memory_order_acquire);
    if (dropped != nullptr) *dropped = recs == nullptr ? 0 : bound.Dropped(total);
    if (recs == nullptr) return 0;
    const uint64_t kept = bound.Kept(total);
    size_t n = 0;
    for (uint64_t k = 0; k < kept && n < cap; ++k) {
      const uint64_t i = bound.IndexOfKept(k, total);
      const Record& r = recs[bound.Slot(i)];
      if (r.seq.load(std::memory_order_acquire) != i + 1) continue;  // unfinished
      CopyFields(r, &out[n]);
      std::atomic_thread_fence(std::memory_order_acquire);
      if (r.seq.load(std::memory_order_relaxed) != i + 1) continue;  // overwritten meanwhile
      out[n].seq.store(i + 1, std::memory_order_relaxed);
      ++n;
    }
    return n;
  }
};

Log<MatchRecord> g_matches;
Log<DecisionRecord> g_decisions;
uint64_t g_start_ns = 0;

}  // namespace

void MarkCurvesStart() {
  g_start_ns = os::NowNs();
  if (GetStringOption(Option::kTelemetry) == nullptr &&
      GetStringOption(Option::kLearnLog) == nullptr) {
    return;
  }
  // Reserved now, not on the first match: learning must not add a mapping mid-run.
  const uint64_t cap = static_cast<uint64_t>(GetOption(Option::kTelemetryPoints));
  g_matches.Reserve(cap);
  g_decisions.Reserve(cap);
}

uint64_t CurvesStartNs() { return g_start_ns; }

MatchRecord* BeginMatch(uint64_t* index) { return g_matches.Begin(index); }
void EndMatch(MatchRecord* r, uint64_t index) { Log<MatchRecord>::End(r, index); }

void RecordDecision(uintptr_t site, int band, DecisionKind kind, int from, int to,
                    uint64_t allocations) {
  uint64_t index;
  DecisionRecord* r = g_decisions.Begin(&index);
  if (r == nullptr) return;
  r->site = site;
  r->time_ns = os::NowNs() - g_start_ns;
  r->allocations = allocations;
  r->band = static_cast<int8_t>(band);
  r->kind = kind;
  r->from = static_cast<int8_t>(from);
  r->to = static_cast<int8_t>(to);
  Log<DecisionRecord>::End(r, index);
}

size_t ReadMatches(MatchRecord* out, size_t cap, uint64_t* dropped) {
  return g_matches.Read(out, cap, dropped);
}
size_t ReadDecisions(DecisionRecord* out, size_t cap, uint64_t* dropped) {
  return g_decisions.Read(out, cap, dropped);
}
size_t MatchesKept() { return g_matches.Kept(); }
size_t DecisionsKept() { return g_decisions.Kept(); }

}  // namespace learner
}  // namespace hakmem
