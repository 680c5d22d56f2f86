#include "core/vdso.h"

#include <elf.h>
#include <stdint.h>

#include <atomic>

#include "core/base.h"
#include "core/os.h"

namespace hakmem {
namespace os {
namespace {

#if defined(__x86_64__)
constexpr char kClockGettime[] = "__vdso_clock_gettime";
#elif defined(__aarch64__)
constexpr char kClockGettime[] = "__kernel_clock_gettime";
#else
constexpr char kClockGettime[] = "";  // no vDSO clock known: the system call serves
#endif

bool SameName(const char* a, const char* b) {
  while (*a != 0 && *a == *b) {
    ++a;
    ++b;
  }
  return *a == *b;
}

// The vDSO's address from the auxiliary vector (AT_SYSINFO_EHDR). Read from /proc, not
// with getauxval, which sits in libc beside the mmap wrapper this layer no longer calls.
const void* VdsoImage() {
  uint64_t auxv[128];  // (type, value) pairs; Linux passes a few dozen
  const long n = ReadFile("/proc/self/auxv", reinterpret_cast<char*>(auxv), sizeof(auxv));
  for (long i = 0; i + 1 < n / static_cast<long>(sizeof(uint64_t)) && auxv[i] != AT_NULL; i += 2) {
    if (auxv[i] == AT_SYSINFO_EHDR) return reinterpret_cast<const void*>(auxv[i + 1]);
  }
  return nullptr;
}

// Symbols in a table that has only a GNU hash: one past the highest index any chain
// reaches (the chains run to the end of the table).
uint32_t GnuHashSymbols(const uint32_t* h) {
  const uint32_t nbuckets = h[0], symoffset = h[1], bloom_size = h[2];
  const uint32_t* buckets = h + 4 + bloom_size * (sizeof(uint64_t) / sizeof(uint32_t));
  const uint32_t* chain = buckets + nbuckets;
  uint32_t last = 0;
  for (uint32_t b = 0; b < nbuckets; ++b) {
    if (buckets[b] > last) last = buckets[b];
  }
  if (last < symoffset) return symoffset;
  while ((chain[last - symoffset] & 1) == 0) ++last;
  return last + 1;
}

constexpr uintptr_t kUnresolved = 1;
std::atomic<uintptr_t> g_clock_gettime{kUnresolved};

}  // namespace

void* FindElfFunction(const void* image, const char* name) {
  if (image == nullptr || name[0] == 0) return nullptr;
  const auto* base = static_cast<const char*>(image);
  const auto* eh = reinterpret_cast<const Elf64_Ehdr*>(base);
  if (eh->e_ident[EI_MAG0] != ELFMAG0 || eh->e_ident[EI_MAG1] != ELFMAG1 ||
      eh->e_ident[EI_MAG2] != ELFMAG2 || eh->e_ident[EI_MAG3] != ELFMAG3 ||
      eh->e_ident[EI_CLASS] != ELFCLASS64) {
    return nullptr;
  }
  // Addresses in the image are link-time virtual addresses: the first PT_LOAD says where
  // they landed.
  const auto* ph = reinterpret_cast<const Elf64_Phdr*>(base + eh->e_phoff);
  intptr_t bias = 0;
  bool loaded = false;
  const Elf64_Dyn* dyn = nullptr;
  for (int i = 0; i < eh->e_phnum; ++i) {
    if (ph[i].p_type == PT_LOAD && !loaded) {
      bias = reinterpret_cast<intptr_t>(base) + static_cast<intptr_t>(ph[i].p_offset) -
             static_cast<intptr_t>(ph[i].p_vaddr);
      loaded = true;
    } else if (ph[i].p_type == PT_DYNAMIC) {
      dyn = reinterpret_cast<const Elf64_Dyn*>(base + ph[i].p_offset);
    }
  }
  if (!loaded || dyn == nullptr) return nullptr;
  const Elf64_Sym* symtab = nullptr;
  const char* strtab = nullptr;
  const uint32_t* hash = nullptr;
  const uint32_t* gnu_hash = nullptr;
  for (; dyn->d_tag != DT_NULL; ++dyn) {
    const auto at = reinterpret_cast<const char*>(bias + static_cast<intptr_t>(dyn->d_un.d_ptr));
    switch (dyn->d_tag) {
      case DT_SYMTAB: symtab = reinterpret_cast<const Elf64_Sym*>(at); break;
      case DT_STRTAB: strtab = at; break;
      case DT_HASH: hash = reinterpret_cast<const uint32_t*>(at); break;
      case DT_GNU_HASH: gnu_hash = reinterpret_cast<const uint32_t*>(at); break;
      default: break;
    }
  }
  if (symtab == nullptr || strtab == nullptr) return nullptr;
  uint32_t count = 0;
  if (hash != nullptr) {
    count = hash[1];  // nchain: one per symbol
  } else if (gnu_hash != nullptr) {
    count = GnuHashSymbols(gnu_hash);
  } else {
    return nullptr;
  }
  for (uint32_t i = 1; i < count; ++i) {
    const Elf64_Sym& s = symtab[i];
    const int type = ELF64_ST_TYPE(s.st_info), binding = ELF64_ST_BIND(s.st_info);
    if (type != STT_FUNC || s.st_shndx == SHN_UNDEF) continue;
    if (binding != STB_GLOBAL && binding != STB_WEAK) continue;
    if (SameName(strtab + s.st_name, name)) {
      return reinterpret_cast<void*>(bias + static_cast<intptr_t>(s.st_value));
    }
  }
  return nullptr;
}

ClockGettimeFn VdsoClockGettime() {
  uintptr_t f = g_clock_gettime.load(std::memory_order_acquire);
  if (HAK_UNLIKELY(f == kUnresolved)) {
    // Threads racing here all find the same answer.
    f = reinterpret_cast<uintptr_t>(FindElfFunction(VdsoImage(), kClockGettime));
    g_clock_gettime.store(f, std::memory_order_release);
  }
  return reinterpret_cast<ClockGettimeFn>(f);
}

}  // namespace os
}  // namespace hakmem
