#include "callsite/module_map.h"

#include <elf.h>
#include <link.h>
#include <pthread.h>
#include <string.h>
#include <unistd.h>

#include <atomic>

#include "core/arena.h"
#include "core/lock.h"

namespace hakmem {
namespace callsite {
namespace {

SpinLock g_lock;
SpinLock g_walk_lock;  // WalkModules: held across dl_iterate_phdr, and by fork
Module* g_modules ABSL_GUARDED_BY(g_lock) = nullptr;
std::atomic<int> g_count{0};

struct Search {
  uintptr_t address;
  bool found;
  uintptr_t base;
  char path[kMaxPathBytes];
  char build_id[65];
};

// Never nested (ResolveAddress walks, then takes g_lock), so either order would do.
void ForkPrepare() ABSL_NO_THREAD_SAFETY_ANALYSIS {
  g_walk_lock.Lock();
  g_lock.Lock();
}
void ForkParent() ABSL_NO_THREAD_SAFETY_ANALYSIS {
  g_lock.Unlock();
  g_walk_lock.Unlock();
}
void ForkChild() {
  g_lock.ResetAfterFork();
  g_walk_lock.ResetAfterFork();
}

int FindModule(struct dl_phdr_info* info, size_t, void* arg) {
  auto* s = static_cast<Search*>(arg);
  bool contains = false;
  for (int i = 0; i < info->dlpi_phnum; ++i) {
    const ElfW(Phdr)& ph = info->dlpi_phdr[i];
    if (ph.p_type != PT_LOAD) continue;
    const uintptr_t start = info->dlpi_addr + ph.p_vaddr;
    if (s->address >= start && s->address < start + ph.p_memsz) {
      contains = true;
      break;
    }
  }
  if (!contains) return 0;
  s->found = true;
  s->base = info->dlpi_addr;
  s->build_id[0] = '\0';
  for (int i = 0; i < info->dlpi_phnum; ++i) {
    const ElfW(Phdr)& ph = info->dlpi_phdr[i];
    if (ph.p_type != PT_NOTE) continue;
    const void* notes = reinterpret_cast<const void*>(info->dlpi_addr + ph.p_vaddr);
    if (BuildIdFromNotes(notes, ph.p_memsz, s->build_id, sizeof(s->build_id))) break;
  }
  const char* name = info->dlpi_name;
  if (name == nullptr || name[0] == '\0') {
    // The main executable: the loader gives no name; its real path is stable.
    const ssize_t n = readlink("/proc/self/exe", s->path, sizeof(s->path) - 1);
    s->path[n > 0 ? n : 0] = '\0';
  } else {
    strncpy(s->path, name, sizeof(s->path) - 1);
    s->path[sizeof(s->path) - 1] = '\0';
  }
  return 1;
}

}  // namespace

bool BuildIdFromNotes(const void* notes, size_t size, char* hex_out, size_t hex_cap) {
  const char* p = static_cast<const char*>(notes);
  const char* end = p + size;
  while (p + sizeof(ElfW(Nhdr)) <= end) {
    ElfW(Nhdr) nh;
    memcpy(&nh, p, sizeof(nh));
    const char* name = p + sizeof(nh);
    const size_t name_len = (nh.n_namesz + 3) & ~size_t{3};
    const char* desc = name + name_len;
    const size_t desc_len = (nh.n_descsz + 3) & ~size_t{3};
    if (desc + desc_len > end || desc_len < nh.n_descsz) return false;
    if (nh.n_type == NT_GNU_BUILD_ID && nh.n_namesz == 4 && memcmp(name, "GNU", 4) == 0) {
      if (nh.n_descsz == 0 || nh.n_descsz * 2 + 1 > hex_cap) return false;
      static const char kHex[] = "0123456789abcdef";
      const auto* d = reinterpret_cast<const unsigned char*>(desc);
      for (size_t i = 0; i < nh.n_descsz; ++i) {
        hex_out[2 * i] = kHex[d[i] >> 4];
        hex_out[2 * i + 1] = kHex[d[i] & 15];
      }
      hex_out[nh.n_descsz * 2] = '\0';
      return true;
    }
    p = desc + desc_len;
  }
  return false;
}

namespace {

struct ByKey {
  const char* build_id;
  const char* path;
  bool found;
  uintptr_t base;
};

int MatchModule(struct dl_phdr_info* info, size_t, void* arg) {
  auto* k = static_cast<ByKey*>(arg);
  if (k->build_id[0] != '\0') {
    char id[65] = "";
    for (int i = 0; i < info->dlpi_phnum; ++i) {
      const ElfW(Phdr)& ph = info->dlpi_phdr[i];
      if (ph.p_type != PT_NOTE) continue;
      const void* notes = reinterpret_cast<const void*>(info->dlpi_addr + ph.p_vaddr);
      if (BuildIdFromNotes(notes, ph.p_memsz, id, sizeof(id))) break;
    }
    if (strcmp(id, k->build_id) != 0) return 0;
  } else {
    char exe[kMaxPathBytes];
    const char* name = info->dlpi_name;
    if (name == nullptr || name[0] == '\0') {
      const ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
      exe[n > 0 ? n : 0] = '\0';
      name = exe;
    }
    if (strcmp(name, k->path) != 0) return 0;
  }
  k->found = true;
  k->base = info->dlpi_addr;
  return 1;
}

}  // namespace

int WalkModules(int (*callback)(struct dl_phdr_info*, size_t, void*), void* arg) {
  // Registered at the first walk, by whichever layer walks first (telemetry may run
  // without the profiler). Later than the core's handlers, so taken before the core's
  // locks at fork, the order of ResolveAddress, which allocates from the arena under g_lock.
  static std::atomic<bool> registered{false};
  if (!registered.load(std::memory_order_acquire) && !registered.exchange(true)) {
    pthread_atfork(ForkPrepare, ForkParent, ForkChild);
  }
  // glibc serializes walks on its own lock anyway, so this one costs no concurrency.
  SpinLockHolder h(&g_walk_lock);
  return dl_iterate_phdr(callback, arg);
}

bool FindLoadedModule(const char* build_id_hex, const char* path, uintptr_t* base) {
  ByKey k{build_id_hex != nullptr ? build_id_hex : "", path != nullptr ? path : "", false, 0};
  if (k.build_id[0] == '\0' && k.path[0] == '\0') return false;
  WalkModules(MatchModule, &k);
  if (k.found) *base = k.base;
  return k.found;
}

CodeKey ResolveAddress(uintptr_t address) {
  Search s{};
  s.address = address;
  WalkModules(FindModule, &s);
  if (!s.found) return CodeKey{-1, address};
  const CodeKey key{-1, address - s.base};
  SpinLockHolder h(&g_lock);
  if (g_modules == nullptr) {
    g_modules = static_cast<Module*>(ArenaAllocate(sizeof(Module) * kMaxModules));
    if (g_modules == nullptr) return key;
  }
  const int n = g_count.load(std::memory_order_relaxed);
  // A module is the same if it is loaded at the same base under the same path (a module
  // dlclose()d and reloaded elsewhere gets a second record with the same key fields).
  for (int i = 0; i < n; ++i) {
    if (g_modules[i].load_base == s.base && strcmp(g_modules[i].path, s.path) == 0) {
      return CodeKey{i, key.offset};
    }
  }
  if (n == kMaxModules) return key;
  Module& m = g_modules[n];
  memcpy(m.path, s.path, sizeof(m.path));
  memcpy(m.build_id, s.build_id, sizeof(m.build_id));
  m.load_base = s.base;
  m.runtime = IsRuntimePath(m.path);
  g_count.store(n + 1, std::memory_order_release);
  return CodeKey{n, key.offset};
}

bool IsRuntimePath(const char* path) {
  const char* slash = strrchr(path, '/');
  const char* base = slash != nullptr ? slash + 1 : path;
  return strncmp(base, "libc.so", 7) == 0 || strncmp(base, "ld-linux", 8) == 0;
}

const Module* GetModule(int index) {
  if (index < 0 || index >= g_count.load(std::memory_order_acquire)) return nullptr;
  return &g_modules[index];
}

}  // namespace callsite
}  // namespace hakmem
