// Names code addresses for reports: function, and file:line where debug information
// exists. Uses elfutils' libdw (dwfl), loaded with dlopen when the first report is written,
// so the preloaded library itself depends on libc alone and processes that never write a
// report never load it. Without libdw it falls back to the dynamic symbol table (dladdr).
// Off the hot path by construction: called only while a report is written. Thread-safe
// (one symbolization at a time). A process forked from one that had loaded libdw names
// from dladdr only: libdw does not survive a fork (symbolizer.cc says what crashed).
#ifndef HAKMEM_CALLSITE_SYMBOLIZER_H_
#define HAKMEM_CALLSITE_SYMBOLIZER_H_

#include <stdint.h>

namespace hakmem {
namespace callsite {

struct Symbol {
  char function[512];  // "" if unknown
  char file[512];      // "" if unknown
  int line;            // 0 if unknown
};

// `address` is a return address: the call instruction before it is what gets named.
void Symbolize(uintptr_t address, Symbol* out);

}  // namespace callsite
}  // namespace hakmem

#endif  // HAKMEM_CALLSITE_SYMBOLIZER_H_
