// Death tests of the checking build (core/check.h): each misuse aborts with one line
// naming it. Run under `bazel test --config=check //core:check_test` (./run test does);
// in the normal build the checks do not exist, and this test says so and fails.
#include <malloc.h>
#include <stdlib.h>
#include <string.h>

#include <gtest/gtest.h>

#include "core/check.h"

namespace hakmem {
namespace {

// Through volatile pointers, so the compiler cannot see (and warn about or drop) the
// misuse these tests commit on purpose.
void* (*volatile g_malloc)(size_t) = malloc;
void (*volatile g_free)(void*) = free;
void* (*volatile g_realloc)(void*, size_t) = realloc;

TEST(Check, ThisIsTheCheckingBuild) {
  ASSERT_TRUE(kChecking) << "build with --config=check";
}

TEST(CheckDeathTest, ADoubleFreeOfASmallBlockAborts) {
  EXPECT_DEATH(
      {
        void* p = g_malloc(100);
        g_free(p);
        g_free(p);
      },
      "^hakmem: check: double free of 0x[0-9a-f]+ \\(a block of 112 bytes\\); aborting\n$");
}

TEST(CheckDeathTest, ADoubleFreeAfterOtherFreesStillAborts) {
  EXPECT_DEATH(
      {
        void* p = g_malloc(48);
        void* q = g_malloc(48);
        g_free(p);
        g_free(q);
        g_free(p);
      },
      "hakmem: check: double free of");
}

TEST(CheckDeathTest, ADoubleFreeOfAMappedBlockAborts) {
  EXPECT_DEATH(
      {
        void* p = g_malloc(1 << 20);
        g_free(p);
        g_free(p);
      },
      "hakmem: check: free of a pointer hakmem did not hand out, or freed twice: 0x");
}

TEST(CheckDeathTest, AFreeOfAForeignPointerAborts) {
  static char not_ours[64];
  EXPECT_DEATH(g_free(not_ours + 16),
               "hakmem: check: free of a pointer hakmem did not hand out, or freed twice: 0x");
}

TEST(CheckDeathTest, AWritePastTheEndOfAMappedBlockAbortsAtFree) {
  EXPECT_DEATH(
      {
        char* p = static_cast<char*>(g_malloc(300000));
        p[300000] = 1;  // one byte too far
        g_free(p);
      },
      "^hakmem: check: write past the end of 0x[0-9a-f]+ \\(a block of 300000 bytes\\); "
      "aborting\n$");
}

TEST(CheckDeathTest, AWritePastTheEndIsCaughtAtRealloc) {
  EXPECT_DEATH(
      {
        char* p = static_cast<char*>(g_malloc(1 << 20));
        p[(1 << 20) + 63] = 1;  // the guard's last byte
        g_realloc(p, 2 << 20);
      },
      "hakmem: check: write past the end of");
}

TEST(Check, CorrectUseDoesNotAbort) {
  // Reuse after free, realloc in place and moving, usable size written in full.
  for (int i = 0; i < 1000; ++i) {
    void* p = g_malloc(static_cast<size_t>(16 + i % 300));
    g_free(p);
  }
  char* big = static_cast<char*>(g_malloc(300000));
  const size_t usable = malloc_usable_size(big);
  EXPECT_EQ(usable, 300000u);  // the guard follows the requested size
  memset(big, 1, usable);
  big = static_cast<char*>(g_realloc(big, 200000));  // shrinks in place
  memset(big, 2, 200000);
  big = static_cast<char*>(g_realloc(big, 3 << 20));  // grows (mremap)
  memset(big, 3, 3 << 20);
  g_free(big);
  g_free(nullptr);
}

}  // namespace
}  // namespace hakmem
