// Blocks served by a mapping: requests the route gives to BigCache or direct mmap, and
// sampled small blocks. One mapping per block, with a 64-byte header just below the user
// pointer naming the strategy that served it (so free goes back to it in O(1)) and
// carrying the block's profiling record.
#ifndef HAKMEM_CORE_LARGE_H_
#define HAKMEM_CORE_LARGE_H_

#include <stddef.h>
#include <stdint.h>

#include "core/os.h"
#include "core/strategy.h"
#include "core/types.h"

namespace hakmem {

// The profiling record of a block (site 0: not recorded).
struct BlockTag {
  uint32_t site;
  uint32_t thread;       // allocating thread's tag, to count cross-thread frees
  double weight;         // allocations the record stands for: 1, or 1/p for a sample
  uint64_t alloc_ticks;  // cycleclock::Now() at allocation
};

struct LargeHeader {
  uint64_t magic;        // kLargeMagic ^ user address: tells our blocks from foreign ones
  char* mapping;
  size_t mapping_size;
  size_t requested_size;
  BlockTag tag;
  Strategy strategy;     // kBigCache or kMmap
  bool fresh;            // the mapping came straight from the OS (its pages fault on touch)
  bool small_tail;       // its last huge-page unit is advised for small pages (large.cc)
  uint8_t reserved;
  uint32_t learn_handle; // the learner's handle for the block (core/learner_hooks.h); 0: none
};
static_assert(sizeof(LargeHeader) == 64, "large header layout");

inline constexpr uint64_t kLargeMagic = 0x68616b6d656d4c42ull;  // "hakmemLB"

inline LargeHeader* LargeHeaderOf(const void* p) {
  return reinterpret_cast<LargeHeader*>(const_cast<char*>(static_cast<const char*>(p)) -
                                        sizeof(LargeHeader));
}

// Reads HAKMEM_HUGE_PAGES and the kernel's THP mode. Called once at start-up, after the
// options are loaded and before the first mapped block.
void LargeInit();
// Whether blocks of kHugeBlockBytes and up get huge-page mappings (os::MapAligned) in
// this process; their first touches then fault 2 MiB at a time, at another price per
// page. With HAKMEM_HUGE_PAGES=2 the first call measures which is cheaper here
// (large.cc, ProbeHugePages), and every call after gives that answer.
bool LargeHugePages();
// 0 or 1 once decided; -1 while HAKMEM_HUGE_PAGES=2 has not measured yet (for reports:
// never measures).
int LargeHugePagesState();
// The smallest block whose mapping (header room and page rounding included) holds a
// whole huge page, to within the header's 64 bytes.
inline constexpr size_t kHugeBlockBytes = os::kHugePageBytes - kPageSize;

// True if `p` is the user pointer of a live mapped block. Reads the 64 bytes below p.
bool IsLargeBlock(const void* p);

// Whether BigCache can hold a block of `size` at `align` (it is linked in and bins the
// mapping such a block needs: up to 64 MiB). LargeAlloc serves kBigCache requests it
// cannot hold with kMmap; the route asks first, so that it counts them as fallbacks.
bool LargeCacheable(size_t size, size_t align);

// `strategy` is kBigCache (take a cached mapping if there is one) or kMmap. *fresh tells
// whether the mapping came straight from the OS (and so reads as zero).
void* LargeAlloc(size_t size, size_t align, Strategy strategy, const BlockTag& tag, bool* fresh);
void LargeFree(void* p);
size_t LargeUsableSize(const void* p);
// Resizes in place when the mapping has room, else with mremap (which may move it); the
// block keeps its strategy. Returns nullptr (block intact) if it cannot: *must_move says
// whether the caller should move the contents to a new block (a BigCache block with no
// room after it) or fail (the OS refused).
void* LargeRealloc(void* p, size_t size, bool* must_move);

// Where a freed block's cache stamp (large.cc) sits in its mapping: after BigCache's list
// node, which takes the mapping's first bytes while it is cached (bigcache/ checks this).
inline constexpr size_t kCacheStampOffset = 40;

// The memory of the block freed into BigCache at `mapping` stops being idle (reused or
// released): closes the block's idle time, for the learner. mapping_size 0: unknown, the
// block's request is used.
void LargeCachedMappingEvicted(char* mapping, size_t mapping_size);

struct LargeStats {
  uint64_t allocs, frees, reuses, live_bytes, peak_live_bytes;
  uint64_t by_strategy[kNumStrategies];  // allocations per serving strategy
};
LargeStats GetLargeStats();
// The program's peak of live mapped bytes so far minus its live mapped bytes now: what a
// cache of freed blocks can hold without raising the footprint past that peak. Two
// relaxed loads.
uint64_t LargeHeadroomBytes();

}  // namespace hakmem

#endif  // HAKMEM_CORE_LARGE_H_
