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
// both before calibration (an exact per-call ratio) and after it (the stored rate).
TEST(CycleClock, TicksConvertToMonotonicNanoseconds) {
  cycleclock::Init();
  for (int round = 0; round < 3; ++round) {
    const uint64_t ns0 = os::NowNs();
    const uint64_t t0 = cycleclock::Now();
    SleepNs(20 * 1000 * 1000);
    const uint64_t t1 = cycleclock::Now();
    const uint64_t ns1 = os::NowNs();
    const double want = static_cast<double>(ns1 - ns0);
    const double got = static_cast<double>(cycleclock::ToNs(t1 - t0));
    EXPECT_NEAR(got, want, want * 0.01) << "round " << round;
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
