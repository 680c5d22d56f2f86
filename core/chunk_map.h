// Maps every 4 MiB of the address space to the size class of the chunk there (0: not a
// small-object chunk). This is how free() finds a block's owner: one shift and one load,
// no header and no hash. The map is a zero-initialized global, so it needs no set-up and
// only the pages that cover addresses hakmem uses are ever touched (32 MiB of address
// space, a few KiB resident).
#ifndef HAKMEM_CORE_CHUNK_MAP_H_
#define HAKMEM_CORE_CHUNK_MAP_H_

#include <stdint.h>

#include "core/base.h"
#include "core/types.h"

namespace hakmem {

extern uint8_t g_chunk_class[kChunkMapEntries];

HAK_INLINE int ChunkClassOf(const void* p) {
  const uintptr_t i = reinterpret_cast<uintptr_t>(p) >> kChunkShift;
  if (HAK_UNLIKELY(i >= kChunkMapEntries)) return 0;
  return g_chunk_class[i];
}

HAK_INLINE void SetChunkClass(const void* chunk, int size_class) {
  __atomic_store_n(&g_chunk_class[reinterpret_cast<uintptr_t>(chunk) >> kChunkShift],
                   static_cast<uint8_t>(size_class), __ATOMIC_RELEASE);
}

}  // namespace hakmem

#endif  // HAKMEM_CORE_CHUNK_MAP_H_
