// An open-addressed hash index over records handed out in order: the shape of the site
// table, the context table and the root table.
//
// Why records in order: a record placed where its hash points puts each of a program's
// first few hundred keys on a page of its own, so a small program pays a page of resident
// memory per call site. Here the index holds ids, and records 1..n are the first n a
// program made, side by side. The ids are 16-bit where the table allows (every table
// here has at most 8192 records): the index's slots are hashed, so a program with a
// hundred keys touches every page of it, and 16-bit slots halve those pages (the site,
// root and context indexes: 40 KiB instead of 80 in every profiled process).
//
// Lock-free. A record is claimed (its key written) before a slot points at it, so a
// reader that finds an id can always compare its key and never waits for one. A thread
// that loses the race for a slot looks at the winner's record; the record it claimed
// stays unused (no slot points at it), and the tables skip records their owners never
// finished.
#ifndef HAKMEM_CALLSITE_ORDERED_INDEX_H_
#define HAKMEM_CALLSITE_ORDERED_INDEX_H_

#include <stdint.h>

#include <atomic>

namespace hakmem {
namespace callsite {

// What a look at an existing record found.
enum class Match { kNo, kYes, kGiveUp };

struct Found {
  uint32_t id;    // 1..max_records; 0: not found and not inserted (records or probes ran out)
  bool inserted;  // this call claimed the record and indexed it
};

// The id of the record whose key `compare(id)` accepts, probing from `hash`, or the next
// record (numbered from `*used`) claimed with `claim(id)` and indexed where the probe
// found a free slot. `index` has slot_mask + 1 slots; `max_records` must fit in an Id.
template <typename Id, typename Claim, typename Compare>
Found FindOrInsertOrdered(std::atomic<Id>* index, uint64_t slot_mask,
                          std::atomic<uint32_t>* used, uint32_t max_records, uint64_t hash,
                          int max_probes, Claim claim, Compare compare) {
  uint32_t mine = 0;  // a record this thread has claimed, not yet indexed
  for (int probe = 0; probe < max_probes; ++probe) {
    std::atomic<Id>& slot = index[(hash + static_cast<uint64_t>(probe)) & slot_mask];
    Id id = slot.load(std::memory_order_acquire);
    if (id == 0) {
      if (mine == 0) {
        mine = used->fetch_add(1, std::memory_order_relaxed) + 1;
        if (mine > max_records) return {0, false};  // every record is taken
        claim(mine);
      }
      if (slot.compare_exchange_strong(id, static_cast<Id>(mine), std::memory_order_acq_rel)) {
        return {mine, true};
      }
      // Lost the race for this slot: look at what the winner put there.
    }
    switch (compare(id)) {
      case Match::kYes: return {id, false};
      case Match::kGiveUp: return {0, false};
      case Match::kNo: break;
    }
  }
  return {0, false};  // a probe run this long: treated as full
}

}  // namespace callsite
}  // namespace hakmem

#endif  // HAKMEM_CALLSITE_ORDERED_INDEX_H_
