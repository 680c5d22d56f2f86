#include "core/cycleclock.h"

#include <time.h>

#include "core/os.h"
#include "gtest/gtest.h"

namespace hakmem {
namespace {

void SleepNs(uint64_t ns) {
  struct timespec ts = {static_cast<time_t>(ns / 1000000000u), static_cast<long>(ns % 1000000000u)};
  while (nanosleep(&ts, &ts) != 0) {
  }
}

// An interval measured in ticks converts to the same nanoseconds CLOCK_MONOTONIC saw,
// both before calibration (an exact per-call ratio) and after it (the stored rate), to
// 1%. Each tick read is bracketed by two clock reads, so the true interval lies between
// the inner and the outer bracket: a preemption between reads widens the bracket instead
// of failing the test, and without one the bracket is tens of nanoseconds wide.
TEST(CycleClock, TicksConvertToMonotonicNanoseconds) {
  cycleclock::Init();
  for (int round = 0; round < 3; ++round) {
    const uint64_t ns0a = os::NowNs();
    const uint64_t t0 = cycleclock::Now();
    const uint64_t ns0b = os::NowNs();
    SleepNs(20 * 1000 * 1000);
    const uint64_t ns1a = os::NowNs();
    const uint64_t t1 = cycleclock::Now();
    const uint64_t ns1b = os::NowNs();
    const double inner = static_cast<double>(ns1a - ns0b);
    const double outer = static_cast<double>(ns1b - ns0a);
    const double got = static_cast<double>(cycleclock::ToNs(t1 - t0));
    EXPECT_GE(got, inner * 0.99) << "round " << round << ", bracket " << inner << ".." << outer;
    EXPECT_LE(got, outer * 1.01) << "round " << round << ", bracket " << inner << ".." << outer;
  }
  const double hz = cycleclock::TicksPerSecond();
  EXPECT_GT(hz, 1e8);  // any TSC (or the 1 GHz nanosecond fallback)
  EXPECT_LT(hz, 1e11);
}

TEST(CycleClock, ZeroTicksIsZeroNanoseconds) {
  cycleclock::Init();
  EXPECT_EQ(cycleclock::ToNs(0), 0u);
}

}  // namespace
}  // namespace hakmem
