#include "core/size_class.h"

#include <gtest/gtest.h>

namespace hakmem {
namespace {

TEST(SizeClass, EverySizeMapsToTheSmallestClassThatFits) {
  for (size_t size = 0; size <= kMaxSmallSize; ++size) {
    const int c = SizeToClass(size);
    ASSERT_GE(c, 1) << size;
    ASSERT_LT(c, kNumClasses) << size;
    ASSERT_GE(ClassSize(c), size) << size;
    if (c > 1) {
      ASSERT_LT(ClassSize(c - 1), size) << size;
    }
  }
}

TEST(SizeClass, WasteIsUnderAnEighthAbove128AndUnder16BytesBelow) {
  for (size_t size = 1; size <= kMaxSmallSize; ++size) {
    const size_t waste = ClassSize(SizeToClass(size)) - size;
    if (size > 128) {
      ASSERT_LE(waste * 8, size) << "size " << size << " wastes " << waste;
    } else {
      ASSERT_LT(waste, kMinAlign) << size;
    }
  }
}

TEST(SizeClass, ClassesAreIncreasingMultiplesOf16) {
  for (int c = 1; c < kNumClasses; ++c) {
    EXPECT_EQ(ClassSize(c) % kMinAlign, 0u) << c;
    if (c > 1) {
      EXPECT_GT(ClassSize(c), ClassSize(c - 1)) << c;
    }
  }
  EXPECT_EQ(ClassSize(kNumClasses - 1), kMaxSmallSize);
}

TEST(SizeClass, SpansHoldAtLeastEightObjectsAndFitAChunk) {
  for (int c = 1; c < kNumClasses; ++c) {
    const size_t span = size_t{1} << SpanShift(c);
    EXPECT_GE(span, kGranuleSize) << c;
    EXPECT_LE(span, kChunkSize / 2) << c;
    EXPECT_GE(span / ClassSize(c), 8u) << c;
    EXPECT_GE(BatchSize(c), 1) << c;
    EXPECT_LE(BatchSize(c), 64) << c;
  }
}

TEST(SizeClass, AlignedClassesAreMultiplesOfTheAlignment) {
  for (size_t align = 32; align <= kMaxClassAlign; align *= 2) {
    for (size_t size = 0; size <= kMaxSmallSize; size += 7) {
      const int c = AlignedSizeToClass(size, align);
      ASSERT_NE(c, 0) << size << " @" << align;
      ASSERT_GE(ClassSize(c), size);
      ASSERT_EQ(ClassSize(c) % align, 0u) << size << " @" << align;
    }
  }
  EXPECT_EQ(AlignedSizeToClass(kMaxSmallSize + 1, 64), 0);
}

}  // namespace
}  // namespace hakmem
