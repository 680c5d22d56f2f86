#include "callsite/symbolizer.h"

#include <dlfcn.h>
#include <elfutils/libdwfl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

namespace hakmem {
namespace callsite {
namespace {

// The libdw entry points used, resolved with dlsym (nothing links libdw).
struct Dw {
  bool tried = false;
  Dwfl* dwfl = nullptr;
  decltype(&dwfl_addrmodule) addrmodule = nullptr;
  decltype(&dwfl_module_addrname) addrname = nullptr;
  decltype(&dwfl_module_getsrc) getsrc = nullptr;
  decltype(&dwfl_lineinfo) lineinfo = nullptr;
  char* (*demangle)(const char*, char*, size_t*, int*) = nullptr;  // libstdc++'s, if loaded
};

// One symbolization at a time: libdw's Dwfl is not thread-safe (it reads debug info
// lazily into shared tables), and reports are written from several threads (the
// telemetry writer, the learn log, the site report at exit). Unguarded, a process
// writing its site report at exit while its telemetry thread symbolized crashed in
// dwfl_lineinfo (reliability fork, a grandchild, core dump; 1 in ~100 runs under load).
pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
Dw g_dw;  // guarded by g_mu

// A forked child starts over with a new lock (a thread it does not have may have held
// it) and never calls into a libdw it inherited, loaded or being loaded (Lib() sets
// `tried` before dlopen): it names functions from the symbol tables (dladdr), as a
// process without libdw does. Found in reliability fork, where grandchildren writing
// their site reports at exit crashed in libdw (6 core dumps in about 320 runs under load
// with the Dwfl reset alone):
// - with a Dwfl inherited mid-update from another thread (SIGSEGV in dwfl_lineinfo);
// - forked while another thread dlopened libdw, so the loader, whose lock glibc's fork()
//   resets in the child, had left it half relocated (a call to an unrelocated address
//   from dwfl_begin);
// - with libdw loaded by another thread before the fork and a Dwfl of the child's own,
//   where libdw's thread-local storage came back at address 0 (in dwarf_getaranges: the
//   forking thread's DTV was current but had no slot for libdw).
// A child that inherited no libdw loads its own, in its own threads. No prepare handler:
// libdw allocates while g_mu is held, and a handler that took g_mu before fork ordered it
// against the allocator's handlers (it hung reliability fork in CI).
void ForgetAfterFork() {
  Dw fresh;
  if (g_dw.tried) {
    fresh.tried = true;
    fresh.demangle = g_dw.demangle;  // libstdc++'s, loaded before the fork
  }
  g_mu = PTHREAD_MUTEX_INITIALIZER;
  g_dw = fresh;
}

template <typename T>
bool Load(void* lib, const char* name, T* out) {
  *out = reinterpret_cast<T>(dlsym(lib, name));
  return *out != nullptr;
}

Dw& Lib() {  // under g_mu
  if (g_dw.tried) return g_dw;
  static bool registered = false;
  if (!registered) {
    registered = true;
    pthread_atfork(nullptr, nullptr, ForgetAfterFork);
  }
  g_dw.tried = true;
  g_dw.demangle = reinterpret_cast<char* (*)(const char*, char*, size_t*, int*)>(
      dlsym(RTLD_DEFAULT, "__cxa_demangle"));
  void* lib = dlopen("libdw.so.1", RTLD_NOW | RTLD_LOCAL);
  if (lib == nullptr) return g_dw;
  decltype(&dwfl_begin) begin;
  decltype(&dwfl_linux_proc_report) proc_report;
  decltype(&dwfl_report_end) report_end;
  static Dwfl_Callbacks callbacks{};
  if (!Load(lib, "dwfl_begin", &begin) || !Load(lib, "dwfl_linux_proc_report", &proc_report) ||
      !Load(lib, "dwfl_report_end", &report_end) ||
      !Load(lib, "dwfl_linux_proc_find_elf", &callbacks.find_elf) ||
      // Separate debug info by build-id only (/usr/lib/debug/.build-id, where Debian's
      // -dbgsym packages put it). The standard finder falls back to debuginfod: it
      // dlopens libdebuginfod with libcurl and gnutls (30 libraries, ~80 ms measured
      // at exit) and, with DEBUGINFOD_URLS set, downloads from servers, inside the
      // host program's exit.
      !Load(lib, "dwfl_build_id_find_debuginfo", &callbacks.find_debuginfo) ||
      !Load(lib, "dwfl_addrmodule", &g_dw.addrmodule) ||
      !Load(lib, "dwfl_module_addrname", &g_dw.addrname) ||
      !Load(lib, "dwfl_module_getsrc", &g_dw.getsrc) ||
      !Load(lib, "dwfl_lineinfo", &g_dw.lineinfo)) {
    return g_dw;
  }
  Dwfl* d = begin(&callbacks);
  if (d == nullptr) return g_dw;
  // Reports the modules loaded now (by reading /proc/self/maps): a site in a module
  // unloaded before the report keeps its key but loses its name.
  if (proc_report(d, getpid()) != 0 || report_end(d, nullptr, nullptr) != 0) return g_dw;
  g_dw.dwfl = d;
  return g_dw;
}

void Copy(char* dst, size_t cap, const char* src) {
  strncpy(dst, src, cap - 1);
  dst[cap - 1] = '\0';
}

void SetFunction(Symbol* out, const char* name) {
  Dw& dw = Lib();
  if (dw.demangle != nullptr && name[0] == '_' && name[1] == 'Z') {
    int status = -1;
    char* d = dw.demangle(name, nullptr, nullptr, &status);
    if (status == 0 && d != nullptr) {
      Copy(out->function, sizeof(out->function), d);
      free(d);
      return;
    }
    free(d);
  }
  Copy(out->function, sizeof(out->function), name);
}

}  // namespace

void Symbolize(uintptr_t address, Symbol* out) {
  out->function[0] = '\0';
  out->file[0] = '\0';
  out->line = 0;
  if (address == 0) return;
  const uintptr_t call = address - 1;  // inside the call instruction
  pthread_mutex_lock(&g_mu);
  Dw& dw = Lib();
  if (dw.dwfl != nullptr) {
    if (Dwfl_Module* m = dw.addrmodule(dw.dwfl, call)) {
      if (const char* name = dw.addrname(m, call)) SetFunction(out, name);
      if (Dwfl_Line* line = dw.getsrc(m, call)) {
        int lineno = 0;
        if (const char* file = dw.lineinfo(line, nullptr, &lineno, nullptr, nullptr, nullptr)) {
          Copy(out->file, sizeof(out->file), file);
          out->line = lineno;
        }
      }
    }
  }
  if (out->function[0] == '\0') {
    Dl_info info;
    if (dladdr(reinterpret_cast<void*>(call), &info) != 0 && info.dli_sname != nullptr) {
      SetFunction(out, info.dli_sname);
    }
  }
  pthread_mutex_unlock(&g_mu);
}

}  // namespace callsite
}  // namespace hakmem
