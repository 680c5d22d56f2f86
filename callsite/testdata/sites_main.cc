// A program with allocation sites whose counts are known, for callsite_report_test.py.
// Runs under LD_PRELOAD=libhakmem.so with HAKMEM_SITE_REPORT set. Prints, on stdout, the
// counts it made and the run-time addresses of its functions (to show ASLR moved them).
//   sites_main PLUGIN.so             one thread
//   sites_main PLUGIN.so --threads N  N threads allocating from the same sites at once
#include <dlfcn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <thread>
#include <vector>

constexpr int kSmallAllocs = 200000;  // 100 bytes each, freed at once
constexpr int kLargeAllocs = 300;     // 300 KiB each
constexpr int kPluginAllocs = 50000;  // 4000 bytes each, in the plugin

volatile uintptr_t g_sink;

extern "C" __attribute__((noinline)) void AllocSmallA(int n) {
  for (int i = 0; i < n; ++i) {
    char* p = static_cast<char*>(malloc(100));
    p[0] = static_cast<char>(i);
    g_sink += reinterpret_cast<uintptr_t>(p);
    free(p);
  }
}

extern "C" __attribute__((noinline)) void AllocLargeB(int n) {
  for (int i = 0; i < n; ++i) {
    char* p = static_cast<char*>(malloc(300 * 1024));
    p[0] = static_cast<char>(i);
    g_sink += reinterpret_cast<uintptr_t>(p);
    free(p);
  }
}

// Through the explicit-site API when hakmem provides it (looked up at run time, so the
// program also runs without hakmem).
extern "C" __attribute__((noinline)) void AllocNamed(int n) {
  using Register = uint64_t (*)(const char*);
  using MallocAt = void* (*)(size_t, uint64_t);
  auto reg = reinterpret_cast<Register>(dlsym(RTLD_DEFAULT, "hak_site_register"));
  auto at = reinterpret_cast<MallocAt>(dlsym(RTLD_DEFAULT, "hak_malloc_at"));
  if (reg == nullptr || at == nullptr) return;
  const uint64_t site = reg("test.named");
  for (int i = 0; i < n; ++i) free(at(512 * 1024, site));
}

int main(int argc, char** argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: sites_main PLUGIN.so [--threads N]\n");
    return 2;
  }
  int threads = 1;
  if (argc == 4 && strcmp(argv[2], "--threads") == 0) threads = atoi(argv[3]);
  void* plugin = dlopen(argv[1], RTLD_NOW);
  if (plugin == nullptr) {
    fprintf(stderr, "sites_main: %s\n", dlerror());
    return 1;
  }
  auto plugin_alloc = reinterpret_cast<void (*)(int)>(dlsym(plugin, "PluginAlloc"));
  if (plugin_alloc == nullptr) {
    fprintf(stderr, "sites_main: PluginAlloc missing\n");
    return 1;
  }
  auto work = [plugin_alloc] {
    AllocSmallA(kSmallAllocs);
    AllocLargeB(kLargeAllocs);
    plugin_alloc(kPluginAllocs);
    AllocNamed(10);
  };
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) pool.emplace_back(work);
  for (auto& t : pool) t.join();
  printf("threads %d small %d large %d plugin %d named %d\n", threads, kSmallAllocs * threads,
         kLargeAllocs * threads, kPluginAllocs * threads, 10 * threads);
  printf("address AllocSmallA %p\n", reinterpret_cast<void*>(&AllocSmallA));
  return 0;
}
