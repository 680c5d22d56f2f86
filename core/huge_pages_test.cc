// HAKMEM_HUGE_PAGES: blocks in mappings of 2 MiB and up start on a huge-page boundary,
// and their mapping is advised for transparent huge pages (the kernel's VmFlags "hg")
// with 1, against them ("nh") with 0, and as the first such mapping's measurement says
// with 2 (the default); smaller blocks get plain mappings. Reads the process's own
// /proc/self/smaps. Whether the kernel then hands out huge pages depends on its free
// memory, so that is not asserted; the advice and the placement are ours.
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <string>

#include <gtest/gtest.h>

#include "core/hakmem.h"
#include "core/large.h"
#include "core/os.h"
#include "core/strategy.h"

namespace {

constexpr size_t kHuge = size_t{2} << 20;

// The VmFlags of the mapping holding `p`, or "" if none does.
std::string VmFlagsOf(const void* p) {
  const uintptr_t a = reinterpret_cast<uintptr_t>(p);
  FILE* f = fopen("/proc/self/smaps", "r");
  if (f == nullptr) return "";
  char line[512];
  bool inside = false;
  std::string flags;
  while (fgets(line, sizeof(line), f) != nullptr) {
    unsigned long lo, hi;
    if (sscanf(line, "%lx-%lx ", &lo, &hi) == 2 && strchr(line, '-') < strchr(line, ' ')) {
      inside = a >= lo && a < hi;
    } else if (inside && strncmp(line, "VmFlags:", 8) == 0) {
      flags = line + 8;
      break;
    }
  }
  fclose(f);
  return flags;
}

bool Advised(const void* p) { return VmFlagsOf(p).find(" hg") != std::string::npos; }
bool AdvisedAgainst(const void* p) { return VmFlagsOf(p).find(" nh") != std::string::npos; }

// HAKMEM_HUGE_PAGES as set: 0, 1 or 2 (unset).
int Mode() {
  const char* v = getenv("HAKMEM_HUGE_PAGES");
  return v == nullptr ? 2 : atoi(v);
}

bool ForcedMmap() {
  const char* v = getenv("HAKMEM_STRATEGY");
  return v != nullptr && strcmp(v, "mmap") == 0;
}

// A directly mapped block starts on a huge page. BigCache's huge regions are carved in
// whole huge pages, the block one page into its extent (the header's page). Whatever the
// advice: the placement lets BigCache move whole page tables.
TEST(HugePages, BigBlocksLieAlignedToHugePagesAdvisedAsTheSettingSays) {
  const bool thp = hakmem::os::HugePagesAvailable();
  for (size_t size : {kHuge, size_t{16} << 20, (size_t{5} << 20) + 123, size_t{40} << 20}) {
    char* p = static_cast<char*>(malloc(size));
    ASSERT_NE(p, nullptr);
    // Whichever strategy served it (in learn mode, trials map some directly).
    const bool mapped = hakmem::LargeHeaderOf(p)->strategy == hakmem::Strategy::kMmap;
    EXPECT_EQ(reinterpret_cast<uintptr_t>(p) % kHuge, mapped ? 0u : 4096u) << size;
    if (ForcedMmap()) {
      EXPECT_TRUE(mapped);
    }
    // The decision is made at the first big mapping, and then fixed.
    const bool huge = hakmem::LargeHugePages();
    if (Mode() == 1) {
      EXPECT_EQ(huge, thp);
    }
    if (Mode() == 0) {
      EXPECT_FALSE(huge);
    }
    EXPECT_EQ(hakmem::LargeHugePagesState(), huge ? 1 : 0);
    EXPECT_EQ(Advised(p), huge) << size << ": " << VmFlagsOf(p);
    EXPECT_EQ(AdvisedAgainst(p), !huge) << size << ": " << VmFlagsOf(p);
    memset(p, 0x5a, size);
    EXPECT_EQ(p[size - 1], 0x5a);
    free(p);
  }
}

// A BigCache block whose end lies just inside its extent's last huge page (a 16 MiB block
// starts one page in, so its last 4 KiB do) gets small pages there: with huge pages that
// unit alone would hold 2 MiB for 4 KiB. The advice goes back to the region's at free,
// so the extent rejoins the region's mapping. A block that uses most of its last unit
// keeps huge pages to its end.
TEST(HugePages, ABigCacheBlockThatBarelyEntersItsLastHugePageHasSmallPagesThere) {
  if (ForcedMmap()) GTEST_SKIP() << "directly mapped blocks end with their mapping";
  struct Case {
    size_t size;
    bool small_tail;
  };
  int checked = 0;
  for (const Case& c : {Case{size_t{16} << 20, true}, Case{(size_t{8} << 20) + (100 << 10), true},
                        Case{(size_t{5} << 20) + 123, false}}) {
    // What earlier tests cached goes back, so this block is fresh. Cache ages are on the
    // coarse clock (a few ms a tick): a block freed within the same tick is not yet idle.
    usleep(20000);
    hak_release_memory();
    char* p = static_cast<char*>(malloc(c.size));
    ASSERT_NE(p, nullptr);
    const hakmem::LargeHeader* h = hakmem::LargeHeaderOf(p);
    if (h->strategy != hakmem::Strategy::kBigCache) {
      free(p);
      continue;  // a learn-mode trial mapped it directly
    }
    EXPECT_TRUE(h->fresh) << c.size;
    const bool huge = hakmem::LargeHugePages();
    char* last = p + c.size - 1;
    memset(p, 0x5a, c.size);
    EXPECT_EQ(Advised(p), huge) << c.size << ": " << VmFlagsOf(p);
    EXPECT_EQ(Advised(last), huge && !c.small_tail) << c.size << ": " << VmFlagsOf(last);
    EXPECT_EQ(AdvisedAgainst(last), !huge || c.small_tail) << c.size << ": " << VmFlagsOf(last);
    EXPECT_EQ(h->small_tail, huge && c.small_tail) << c.size;
    EXPECT_EQ(*last, 0x5a);
    free(p);
    ++checked;
    // Still BigCache's (mapped, resident) and advised as the region again.
    if (huge) {
      EXPECT_FALSE(AdvisedAgainst(last)) << c.size << ": " << VmFlagsOf(last);
    }
  }
  const char* mode = getenv("HAKMEM_MODE");
  if (mode == nullptr || strcmp(mode, "off") == 0) {
    EXPECT_EQ(checked, 3);
  }
}

TEST(HugePages, SmallerBlocksKeepPlainMappings) {
  // Under 2 MiB of mapping there is no whole huge page to ask for.
  char* p = static_cast<char*>(malloc(size_t{1} << 20));
  ASSERT_NE(p, nullptr);
  memset(p, 1, size_t{1} << 20);
  EXPECT_FALSE(Advised(p)) << VmFlagsOf(p);
  free(p);
}

TEST(HugePages, OffMeansSmallPagesEvenWhereTheKernelWouldGiveHugeOnes) {
  if (Mode() != 0) GTEST_SKIP() << "huge pages not off";
  char* p = static_cast<char*>(malloc(size_t{16} << 20));
  ASSERT_NE(p, nullptr);
  EXPECT_FALSE(Advised(p)) << VmFlagsOf(p);
  EXPECT_TRUE(AdvisedAgainst(p)) << VmFlagsOf(p);
  free(p);
}

TEST(HugePages, AlignedAndResizedBigBlocksKeepTheirContract) {
  void* q = nullptr;
  ASSERT_EQ(posix_memalign(&q, kHuge, size_t{6} << 20), 0);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(q) % kHuge, 0u);
  memset(q, 7, size_t{6} << 20);
  free(q);
  char* p = static_cast<char*>(malloc(size_t{3} << 20));
  ASSERT_NE(p, nullptr);
  for (size_t i = 0; i < (size_t{3} << 20); i += 4096) p[i] = static_cast<char>(i >> 12);
  p = static_cast<char*>(realloc(p, size_t{24} << 20));
  ASSERT_NE(p, nullptr);
  for (size_t i = 0; i < (size_t{3} << 20); i += 4096) {
    ASSERT_EQ(p[i], static_cast<char>(i >> 12)) << i;
  }
  memset(p + (size_t{3} << 20), 1, size_t{21} << 20);
  p = static_cast<char*>(realloc(p, size_t{2} << 20));
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(p[4096], 1);
  free(p);
}

}  // namespace
