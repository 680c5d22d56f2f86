// Turns a code address into a key that survives restarts and ASLR: the module that holds
// it (its GNU build-id where present, else its path) and the address's offset from the
// module's load base. Resolution walks the loaded modules with dl_iterate_phdr, so modules
// dlopen()ed at any time resolve too; callers cache the result (a site resolves once).
#ifndef HAKMEM_CALLSITE_MODULE_MAP_H_
#define HAKMEM_CALLSITE_MODULE_MAP_H_

#include <link.h>
#include <stddef.h>
#include <stdint.h>

namespace hakmem {
namespace callsite {

inline constexpr int kMaxModules = 512;
inline constexpr int kMaxPathBytes = 512;

struct Module {
  char path[kMaxPathBytes];  // absolute where the loader knows it; the executable's real path
  char build_id[65];         // lowercase hex, "" when the module has none
  uintptr_t load_base;       // in this process (not part of the key)
  bool runtime;              // glibc or its dynamic loader (libc.so.*, ld-linux*)
};

struct CodeKey {
  int module;       // index for GetModule(); -1 when the address is in no loaded module
  uint64_t offset;  // address - load base
};

// Never allocates with malloc (the module table lives in the arena). Thread-safe.
CodeKey ResolveAddress(uintptr_t address);
const Module* GetModule(int index);

// Whether the module at `path` is glibc or its dynamic loader (libc.so.*, ld-linux*):
// Module::runtime, and the ranges callsite/unwind.cc stops at.
bool IsRuntimePath(const char* path);

// dl_iterate_phdr for hakmem's own walks of the loaded modules (resolving, matching a
// frozen table's modules, telemetry's build-id): one at a time, and never across a fork.
// dl_iterate_phdr holds the loader's dl_load_write_lock, which glibc's fork() does not
// reset in the child (2.36 resets dl_load_lock only): forked while one of our threads
// walked, a child waited on it forever at its first walk (reliability fork, a
// grandchild hung in ResolveAddress inside malloc; gdb showed the futex held). The
// walks' lock and the module table's are taken by fork handlers of this file's own.
int WalkModules(int (*callback)(struct dl_phdr_info*, size_t, void*), void* arg);

// Finds a loaded module by its key: by build-id when `build_id_hex` is nonempty, else by
// path. Sets *base to its load base in this process. For frozen tables, whose keys name
// modules, not addresses.
bool FindLoadedModule(const char* build_id_hex, const char* path, uintptr_t* base);

// Parses the GNU build-id out of a module's program headers as loaded in memory; returns
// false if there is none. Exposed for tests.
bool BuildIdFromNotes(const void* notes, size_t size, char* hex_out, size_t hex_cap);

}  // namespace callsite
}  // namespace hakmem

#endif  // HAKMEM_CALLSITE_MODULE_MAP_H_
