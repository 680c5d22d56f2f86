// Blocks the size classes do not serve (kLargeThreshold and up, or aligned beyond
// kMaxClassAlign) and sampled small blocks: one mapping per block, with a 64-byte header
// just below the user pointer that also carries the block's profiling record. Freed mappings are retained
// (at most HAKMEM_RETAIN_BYTES, for at most HAKMEM_DECAY_MS) and handed to the next
// request of a similar size, so a program that cycles large buffers pays no syscalls and
// no page faults in steady state.
#ifndef HAKMEM_CORE_LARGE_H_
#define HAKMEM_CORE_LARGE_H_

#include <stddef.h>
#include <stdint.h>

namespace hakmem {

// Which strategy served a large block. Stored in its header so that free and realloc
// dispatch without asking anyone; the learner's route (a later layer) fills it in.
enum class Strategy : uint8_t { kDirectMap = 1 };

// The profiling record of a block (site 0: not recorded).
struct BlockTag {
  uint32_t site;
  uint32_t thread;       // allocating thread's tag, to count cross-thread frees
  double weight;         // allocations the record stands for: 1, or 1/p for a sample
  uint64_t alloc_ns;
};

struct LargeHeader {
  uint64_t magic;        // kLargeMagic ^ user address: tells our blocks from foreign ones
  char* mapping;
  size_t mapping_size;
  size_t requested_size;
  BlockTag tag;
  Strategy strategy;
  uint8_t reserved[7];
};
static_assert(sizeof(LargeHeader) == 64, "large header layout");

inline constexpr uint64_t kLargeMagic = 0x68616b6d656d4c42ull;  // "hakmemLB"

inline LargeHeader* LargeHeaderOf(const void* p) {
  return reinterpret_cast<LargeHeader*>(const_cast<char*>(static_cast<const char*>(p)) -
                                        sizeof(LargeHeader));
}

// True if `p` is the user pointer of a live large block. Reads the 64 bytes below p.
bool IsLargeBlock(const void* p);

// *fresh tells whether the mapping came straight from the OS (and so reads as zero).
void* LargeAlloc(size_t size, size_t align, bool* fresh, const BlockTag& tag);
void LargeFree(void* p);
size_t LargeUsableSize(const void* p);
// Resizes in place when the mapping has room, else with mremap (which may move it).
// Returns nullptr (block intact) if the OS refuses.
void* LargeRealloc(void* p, size_t size);

// Unmaps retained mappings older than `decay_ns`. Returns bytes unmapped.
uint64_t LargeReleaseRetained(uint64_t now_ns, uint64_t decay_ns);

struct LargeStats {
  uint64_t allocs, frees, reuses, retained_bytes, live_bytes, peak_live_bytes;
};
LargeStats GetLargeStats();

void LargeLockForFork();
void LargeUnlockForFork();
void LargeResetAfterFork();

}  // namespace hakmem

#endif  // HAKMEM_CORE_LARGE_H_
