#include "core/sampler.h"

#include <cmath>
#include <random>

#include <gtest/gtest.h>

namespace hakmem {
namespace {

// The estimator in isolation, as the allocator runs it: each class skips
// SkipsBeforeSample() allocations, samples the next, and counts it as SampleWeight()
// allocations. Over an interleaved stream of mixed sizes the weighted sums must match
// the true counts (unbiased), per size, and the samples must come about once per `mean`
// bytes.
TEST(Sampler, WeightedSamplesEstimateCountsWithoutBias) {
  std::mt19937_64 rng(12345);
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  auto u = [&] { return 1.0 - unit(rng); };  // (0, 1]
  const double mean = 64 * 1024;
  const size_t sizes[] = {16, 100, 1000, 8000, 60000};
  double est[5] = {}, truth[5] = {};
  int64_t skips[5];
  int samples = 0;
  for (int k = 0; k < 5; ++k) skips[k] = SkipsBeforeSample(u(), sizes[k], mean);
  for (int i = 0; i < 4000000; ++i) {
    const int k = static_cast<int>(rng() % 5);
    truth[k] += 1;
    if (skips[k]-- == 0) {
      est[k] += SampleWeight(sizes[k], mean);
      ++samples;
      skips[k] = SkipsBeforeSample(u(), sizes[k], mean);
    }
  }
  for (int k = 0; k < 5; ++k) {
    EXPECT_NEAR(est[k] / truth[k], 1.0, 0.05) << "size " << sizes[k];
  }
  // Each allocation is sampled with probability 1 - exp(-size / mean): about one sample
  // per `mean` bytes for small sizes, fewer for large ones (one per allocation at most).
  double expected = 0;
  for (int k = 0; k < 5; ++k) expected += truth[k] * -std::expm1(-static_cast<double>(sizes[k]) / mean);
  EXPECT_NEAR(samples / expected, 1.0, 0.05);
}

TEST(Sampler, SkipsAreGeometricWithTheClassProbability) {
  // P(skips >= n) = exp(-n * size / interval): the mean of a geometric distribution
  // counting failures before the first success with p = 1 - exp(-size / interval).
  std::mt19937_64 rng(7);
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  const double interval = 4096;
  for (size_t size : {16, 512, 4096, 20000}) {
    double sum = 0;
    const int n = 200000;
    for (int i = 0; i < n; ++i) sum += static_cast<double>(SkipsBeforeSample(1.0 - unit(rng), size, interval));
    const double q = std::exp(-static_cast<double>(size) / interval);
    EXPECT_NEAR(sum / n, q / (1 - q), 0.02 * (q / (1 - q)) + 0.01) << "size " << size;
  }
  EXPECT_EQ(SkipsBeforeSample(1.0, 16, 4096), 0);  // u = 1: sample the very next one
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
