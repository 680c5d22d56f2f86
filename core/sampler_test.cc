#include "core/sampler.h"

#include <cmath>
#include <random>

#include <gtest/gtest.h>

namespace hakmem {
namespace {

// The estimator in isolation: a byte countdown with exponential intervals picks
// allocations; each pick counts SampleWeight(size) allocations. Over a stream of mixed
// sizes the weighted sums must match the true counts (unbiased), per size.
TEST(Sampler, WeightedSamplesEstimateCountsWithoutBias) {
  std::mt19937_64 rng(12345);
  std::exponential_distribution<double> exp_dist(1.0);
  const double mean = 64 * 1024;
  const size_t sizes[] = {16, 100, 1000, 8000, 60000};
  double est[5] = {}, truth[5] = {};
  double left = exp_dist(rng) * mean;
  for (int i = 0; i < 4000000; ++i) {
    const int k = static_cast<int>(rng() % 5);
    truth[k] += 1;
    left -= static_cast<double>(sizes[k]);
    if (left < 0) {
      est[k] += SampleWeight(sizes[k], mean);
      left = exp_dist(rng) * mean;
    }
  }
  for (int k = 0; k < 5; ++k) {
    EXPECT_NEAR(est[k] / truth[k], 1.0, 0.05) << "size " << sizes[k];
  }
}

TEST(Sampler, WeightIsOneOverTheSamplingProbability) {
  const double exact = -1.0 / std::expm1(-100.0 / 4096);
  EXPECT_NEAR(SampleWeight(100, 4096) / exact, 1.0, 1e-9);
  EXPECT_NEAR(SampleWeight(2000, 4096) * -std::expm1(-2000.0 / 4096), 1.0, 1e-9);
  EXPECT_NEAR(SampleWeight(1 << 20, 4096), 1.0, 1e-9);  // certain to be sampled
  EXPECT_GT(SampleWeight(1, 1 << 20), 1e5);
}

}  // namespace
}  // namespace hakmem
