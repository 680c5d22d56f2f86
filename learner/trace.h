// The allocation stream of a run, for replay (HAKMEM_TRACE=FILE): every routed request
// (64 KiB and up) as it was served, every free of a mapped block, every in-place resize.
// Kept in memory mapped at start-up (HAKMEM_TRACE_RECORDS records, touched only as used;
// past it records are counted as dropped) and written at exit, atomically.
//
// The file (little-endian), which numpy maps directly:
//   a 64-byte header: char magic[8] = "HAKTRACE"; u32 version = 2; u32 record_bytes = 56;
//                     u64 records; u64 dropped; u64 start_unix_ns; u64 pid; u64 reserved[2]
//   then `records` records of 56 bytes (TraceRecord below), in the order they were
//   appended (by time, within one thread exactly; across threads nearly):
//     u64 time_ns     since the run's start (CLOCK_MONOTONIC)
//     u64 site        the site's key (callsite/context.h; 0 on frees: pair by address)
//     u64 size        bytes requested (for a resize, the new size)
//     u64 address     the block (for a resize, where it is now)
//     u64 old_address a resize's previous address; 0 otherwise
//     u64 touched_pages on a free: the block's pages resident when it was freed (mincore),
//                     which the replay engine takes for the pages the program touched
//                     (an upper bound for a block reused from BigCache); 0 otherwise
//     u32 thread      a small per-thread number (the profile's thread tag)
//     u8  kind        1 alloc, 2 free, 3 resize
//     u8  band        0 middle [64 KiB, 256 KiB), 1 large [256 KiB, 4 MiB), 2 huge
//     u8  strategy    1 pool, 2 bigcache, 3 mmap: what served it
//     u8  reserved
// Blocks the pool served (middle band) carry no header, so their frees are not seen: an
// allocation with strategy 1 has no free record.
#ifndef HAKMEM_LEARNER_TRACE_H_
#define HAKMEM_LEARNER_TRACE_H_

#include <stdint.h>

namespace hakmem {
namespace learner {

struct TraceRecord {
  uint64_t time_ns;
  uint64_t site;
  uint64_t size;
  uint64_t address;
  uint64_t old_address;
  uint64_t touched_pages;
  uint32_t thread;
  uint8_t kind;
  uint8_t band;
  uint8_t strategy;
  uint8_t reserved;
};
static_assert(sizeof(TraceRecord) == 56, "the trace file's record layout");
inline constexpr uint32_t kTraceVersion = 2;

struct TraceHeader {
  char magic[8];  // "HAKTRACE"
  uint32_t version;
  uint32_t record_bytes;
  uint64_t records;
  uint64_t dropped;
  uint64_t start_unix_ns;
  uint64_t pid;
  uint64_t reserved[2];
};
static_assert(sizeof(TraceHeader) == 64, "the trace file's header layout");

// With HAKMEM_TRACE set: maps the records and turns tracing on (every mode). Called once
// from LearnerInit.
void StartTrace();

// Writes the records so far to `path` (no %p expansion); false after one line on stderr.
bool WriteTraceTo(const char* path);

}  // namespace learner
}  // namespace hakmem

#endif  // HAKMEM_LEARNER_TRACE_H_
