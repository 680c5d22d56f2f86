// A shared library loaded with dlopen by sites_main: its allocation site must resolve to
// this module (path and build-id), not to the executable.
#include <stdint.h>
#include <stdlib.h>

volatile uintptr_t g_plugin_sink;

extern "C" __attribute__((visibility("default"), noinline)) void PluginAlloc(int n) {
  for (int i = 0; i < n; ++i) {
    char* p = static_cast<char*>(malloc(4000));
    p[0] = static_cast<char>(i);
    g_plugin_sink += reinterpret_cast<uintptr_t>(p);
    free(p);
  }
}
