// What a call site's calling context costs (callsite/context.h): requests of 300 KiB
// (routed, so every one needs its site) made through a two-level allocation wrapper from
// two callers, which hakmem must unwind to tell apart, against the same requests made
// directly from one call, whose context hakmem caches. Run it at HAKMEM_CONTEXT_DEPTH=1
// (no unwinding) and at the default to see what an unwind costs:
//   HAKMEM_CONTEXT_DEPTH=1 LD_PRELOAD=libhakmem.so bench_context
//   LD_PRELOAD=libhakmem.so bench_context
// Under other allocators the two figures are the same work.
//
// Prints ns per request (malloc + free) for each.
#include <cstdint>
#include <cstdio>
#include <cstdlib>

#include "experiments/bench_util.h"

namespace {
constexpr size_t kBytes = 300 * 1024;

volatile uintptr_t g_sink;

// The wrapper: two levels that stay frames of their own (no inlining, no tail calls), and
// callers the compiler may not fold into one (noipa: no inlining, cloning or merging).
__attribute__((noipa)) void* WrapInner(size_t n) {
  void* p = std::malloc(n);
  asm volatile("" ::: "memory");
  return p;
}
__attribute__((noipa)) void* WrapAlloc(size_t n) {
  void* p = WrapInner(n);
  asm volatile("" ::: "memory");
  return p;
}

__attribute__((noipa)) void ThroughWrapperA(uint64_t n) {
  for (uint64_t i = 0; i < n; ++i) {
    void* p = WrapAlloc(kBytes);
    g_sink += reinterpret_cast<uintptr_t>(p);
    std::free(p);
  }
}
__attribute__((noipa)) void ThroughWrapperB(uint64_t n) {
  for (uint64_t i = 0; i < n; ++i) {
    void* p = WrapAlloc(kBytes);
    g_sink += reinterpret_cast<uintptr_t>(p);
    std::free(p);
  }
}
__attribute__((noipa)) void Direct(uint64_t n) {
  for (uint64_t i = 0; i < n; ++i) {
    void* p = std::malloc(kBytes);
    g_sink += reinterpret_cast<uintptr_t>(p);
    std::free(p);
  }
}
}  // namespace

int main(int argc, char** argv) {
  bench::Args args("bench_context", {{"requests", 200000}});
  args.Parse(argc, argv);
  const uint64_t n = args.Get("requests");
  bench::PrintAllocator();
  // Pass 0 warms up (both callers seen, caches filled), pass 1 is timed. Each function is
  // called from one statement: a second call statement would be a second context.
  double t0 = 0, t1 = 0, t2 = 0;
  volatile int passes = 2;  // a loop the compiler cannot peel into two call statements
  for (int pass = 0; pass < passes; ++pass) {
    const uint64_t m = pass == 0 ? 200 : n;
    t0 = bench::NowSec();
    ThroughWrapperA(m / 2);
    ThroughWrapperB(m / 2);
    t1 = bench::NowSec();
    Direct(m);
    t2 = bench::NowSec();
  }
  const double wrapped = (t1 - t0) * 1e9 / static_cast<double>(n);
  const double direct = (t2 - t1) * 1e9 / static_cast<double>(n);
  std::printf("result: name=context requests=%llu bytes=%zu ns_per_wrapped_request=%.1f "
              "ns_per_direct_request=%.1f\n",
              static_cast<unsigned long long>(n), kBytes, wrapped, direct);
  return 0;
}
