#include "core/cycleclock.h"

#include <atomic>

#include "core/os.h"

#if defined(__x86_64__)
#include <cpuid.h>
#endif

namespace hakmem {
namespace cycleclock {
namespace internal {

bool g_use_tsc = false;

uint64_t MonotonicNs() { return os::NowNs(); }

}  // namespace internal

namespace {

constexpr uint64_t kCalibrationNs = 1000 * 1000;  // see the header

uint64_t g_origin_ticks = 0;
uint64_t g_origin_ns = 0;
// Nanoseconds per tick once calibrated; 0 before (then each conversion measures).
std::atomic<double> g_ns_per_tick{0.0};

bool InvariantTsc() {
#if defined(__x86_64__)
  unsigned a, b, c, d;
  if (__get_cpuid(0x80000000u, &a, &b, &c, &d) == 0 || a < 0x80000007u) return false;
  __cpuid(0x80000007u, a, b, c, d);
  return (d & (1u << 8)) != 0;
#else
  return false;
#endif
}

double NsPerTick() {
  const double r = g_ns_per_tick.load(std::memory_order_relaxed);
  if (HAK_LIKELY(r != 0.0)) return r;
  if (!internal::g_use_tsc) return 1.0;
  const uint64_t ns = os::NowNs();
  const uint64_t ticks = Now();
  if (ns <= g_origin_ns || ticks <= g_origin_ticks) return 1.0;  // not initialized yet
  const double measured = static_cast<double>(ns - g_origin_ns) /
                          static_cast<double>(ticks - g_origin_ticks);
  if (ns - g_origin_ns >= kCalibrationNs) {
    g_ns_per_tick.store(measured, std::memory_order_relaxed);
  }
  return measured;
}

}  // namespace

void Init() {
  internal::g_use_tsc = InvariantTsc();
  g_origin_ns = os::NowNs();
  g_origin_ticks = Now();
  if (!internal::g_use_tsc) g_ns_per_tick.store(1.0, std::memory_order_relaxed);
}

uint64_t ToNs(uint64_t ticks) {
  return static_cast<uint64_t>(static_cast<double>(ticks) * NsPerTick() + 0.5);
}

double TicksPerSecond() { return 1e9 / NsPerTick(); }

}  // namespace cycleclock
}  // namespace hakmem
