// A library that the reliability program dlopen()s and dlclose()s over and over: it
// allocates at load (static constructors), hands out blocks that outlive it, frees
// blocks the program allocated, and frees its own static data at unload. Every block it
// hands out carries tests/testdata/pattern.h's contents, so the program can check them
// after the library's code and data are gone.
#include <stdlib.h>
#include <string.h>

#include <map>
#include <string>
#include <vector>

#include "tests/testdata/pattern.h"

namespace {

// Built when the library is loaded, destroyed when it is unloaded: allocation and free
// from inside the loader's dlopen and dlclose.
struct LoadTimeData {
  std::vector<std::string> names;
  std::map<int, std::vector<char>> buffers;
  LoadTimeData() {
    for (int i = 0; i < 200; ++i) names.push_back("plugin-name-" + std::to_string(i * 7919));
    for (int i = 0; i < 8; ++i) buffers[i].resize(size_t{1000} << i, static_cast<char>(i));
  }
};
LoadTimeData g_data;

// Sizes the plugin hands out: small, medium, and the route's three bands.
size_t PickSize(pattern::Rng& r) {
  switch (r.Below(8)) {
    case 0: return (64u << 10) + r.Below(192u << 10);   // 64 KiB .. 256 KiB
    case 1: return (256u << 10) + r.Below(768u << 10);  // 256 KiB .. 1 MiB
    case 2: return (4u << 20) + r.Below(1u << 20);       // 4 MiB and up
    case 3: return 1000 + r.Below(30000);
    default: return 1 + r.Below(900);
  }
}

}  // namespace

extern "C" {

// Allocates n blocks (malloc, calloc, realloc, posix_memalign in turn) with ids
// first_id .. first_id + n - 1, filled with their pattern. Returns the number of bytes.
__attribute__((visibility("default"))) size_t plugin_allocate(void** out, size_t* sizes, int n,
                                                              uint64_t first_id) {
  pattern::Rng r(first_id);
  size_t total = 0;
  for (int i = 0; i < n; ++i) {
    const size_t size = PickSize(r);
    void* p = nullptr;
    switch (i % 4) {
      case 0: p = malloc(size); break;
      case 1: p = calloc(1, size); break;
      case 2: {
        void* q = malloc(size / 2 + 1);
        p = q != nullptr ? realloc(q, size) : nullptr;
        break;
      }
      default:
        if (posix_memalign(&p, 4096, size) != 0) p = nullptr;
    }
    if (p == nullptr) return 0;
    pattern::Fill(p, size, first_id + static_cast<uint64_t>(i));
    out[i] = p;
    sizes[i] = size;
    total += size;
  }
  return total;
}

// Checks and frees a block the program allocated; returns false if it was corrupt.
__attribute__((visibility("default"))) bool plugin_check_and_free(void* p, size_t size,
                                                                  uint64_t id) {
  const bool ok = pattern::FirstBad(p, size, id) == SIZE_MAX;
  free(p);
  return ok;
}

// The load-time data is intact (nobody else's allocation overlapped it).
__attribute__((visibility("default"))) bool plugin_static_data_ok() {
  for (size_t i = 0; i < g_data.names.size(); ++i) {
    if (g_data.names[i] != "plugin-name-" + std::to_string(static_cast<int>(i) * 7919)) return false;
  }
  for (const auto& kv : g_data.buffers) {
    if (kv.second.size() != (size_t{1000} << kv.first)) return false;
    for (char c : kv.second) {
      if (c != static_cast<char>(kv.first)) return false;
    }
  }
  return true;
}

}  // extern "C"
