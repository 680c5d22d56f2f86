#include "core/fastmath.h"

#include <cmath>

#include <gtest/gtest.h>

namespace hakmem {
namespace {

// Against libm (which the test may link; the preload may not), to the accuracy the header
// promises.
TEST(FastMath, ExpLogAndSqrtAgreeWithLibm) {
  for (double x : {-30.0, -1.5, -1e-9, 0.0, 1e-9, 0.3, 1.0, 2.5, 17.0, 300.0}) {
    EXPECT_NEAR(Exp(x), std::exp(x), 1e-6 * std::exp(x)) << x;
  }
  for (double x : {1e-300, 1e-9, 0.5, 1.0, 1.5, 2.0, 1000.0, 1e300}) {
    EXPECT_NEAR(Log(x), std::log(x), 1e-6 * (1.0 + std::fabs(std::log(x)))) << x;
  }
  for (double x : {0.0, 1e-12, 0.25, 2.0, 64.0, 12345.678, 1e200}) {
    EXPECT_NEAR(Sqrt(x), std::sqrt(x), 1e-12 * std::sqrt(x)) << x;
  }
}

TEST(FastMath, OneMinusExpNegKeepsPrecisionForTinyArguments) {
  for (double x : {1e-15, 1e-9, 1e-4, 0.1, 0.49, 0.5, 3.0}) {
    EXPECT_NEAR(OneMinusExpNeg(x), -std::expm1(-x), 1e-9 * -std::expm1(-x)) << x;
  }
}

}  // namespace
}  // namespace hakmem
