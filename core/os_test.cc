// The platform layer makes its own system calls and reads the clock from the vDSO
// (syscall.h, vdso.h): these tests hold its answers against libc's, and its failures to
// the contract os.h states (nullptr or false, nothing else disturbed).
#include "core/os.h"

#include <elf.h>
#include <sched.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <cstring>

#include "core/vdso.h"
#include "gtest/gtest.h"

namespace hakmem {
namespace os {
namespace {

uint64_t LibcNs(clockid_t clock) {
  struct timespec ts;
  clock_gettime(clock, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000u + static_cast<uint64_t>(ts.tv_nsec);
}

TEST(Vdso, ClockGettimeIsFoundWhereTheKernelMapsAVdso) {
  if (getauxval(AT_SYSINFO_EHDR) == 0) GTEST_SKIP() << "no vDSO in this process";
#if defined(__x86_64__) || defined(__aarch64__)
  ASSERT_NE(VdsoClockGettime(), nullptr);
  struct timespec a, v, b;
  clock_gettime(CLOCK_MONOTONIC, &a);
  ASSERT_EQ(VdsoClockGettime()(CLOCK_MONOTONIC, &v), 0);
  clock_gettime(CLOCK_MONOTONIC, &b);
  const auto ns = [](const timespec& t) { return t.tv_sec * 1000000000LL + t.tv_nsec; };
  EXPECT_LE(ns(a), ns(v));
  EXPECT_LE(ns(v), ns(b));
#endif
}

TEST(Vdso, FindElfFunctionNamesOnlyDefinedFunctions) {
  const void* vdso = reinterpret_cast<const void*>(getauxval(AT_SYSINFO_EHDR));
  if (vdso == nullptr) GTEST_SKIP() << "no vDSO in this process";
  EXPECT_EQ(FindElfFunction(vdso, "no_such_function"), nullptr);
  EXPECT_EQ(FindElfFunction(vdso, ""), nullptr);
  EXPECT_EQ(FindElfFunction(vdso, "LINUX_2.6"), nullptr);  // a version name, not a symbol
  EXPECT_EQ(FindElfFunction(nullptr, "__vdso_clock_gettime"), nullptr);
}

TEST(Vdso, FindElfFunctionRejectsWhatIsNotAnElfImage) {
  alignas(8) unsigned char junk[sizeof(Elf64_Ehdr) + 64] = {};
  EXPECT_EQ(FindElfFunction(junk, "__vdso_clock_gettime"), nullptr);
  std::memcpy(junk, ELFMAG, SELFMAG);  // magic alone: 32-bit class, no program headers
  junk[EI_CLASS] = ELFCLASS32;
  EXPECT_EQ(FindElfFunction(junk, "__vdso_clock_gettime"), nullptr);
  junk[EI_CLASS] = ELFCLASS64;  // 64-bit, but nothing loaded and no dynamic section
  EXPECT_EQ(FindElfFunction(junk, "__vdso_clock_gettime"), nullptr);
}

TEST(Os, ClocksAgreeWithLibc) {
  for (const auto& [ours, clock] :
       {std::pair{&NowNs, CLOCK_MONOTONIC}, std::pair{&UnixNs, CLOCK_REALTIME}}) {
    const uint64_t before = LibcNs(clock);
    const uint64_t t = ours();
    const uint64_t after = LibcNs(clock);
    EXPECT_LE(before, t);
    EXPECT_LE(t, after);
  }
  // The coarse clock lags the precise one by at most a tick (a few ms).
  const uint64_t coarse = NowCoarseNs();
  const uint64_t precise = NowNs();
  EXPECT_LE(coarse, precise);
  EXPECT_LT(precise - coarse, uint64_t{100} * 1000 * 1000);
}

TEST(Os, ProcessFactsAgreeWithLibc) {
  EXPECT_EQ(Pid(), getpid());
  cpu_set_t cpus;
  ASSERT_EQ(sched_getaffinity(0, sizeof(cpus), &cpus), 0);
  EXPECT_EQ(AllowedCpus(), CPU_COUNT(&cpus));
  Yield();  // returns
}

TEST(Os, MappingCallsReportFailureAsTheContractSays) {
  EXPECT_EQ(Map(~size_t{0} - 4095), nullptr);
  EXPECT_EQ(ReserveAligned(size_t{1} << 62, size_t{1} << 62), nullptr);
  char* p = static_cast<char*>(Map(4 * 4096));
  ASSERT_NE(p, nullptr);
  p[0] = 1;
  p[2 * 4096] = 2;
  EXPECT_EQ(ResidentPages(p, 4 * 4096), 2u);
  Decommit(p, 4 * 4096);
  EXPECT_EQ(ResidentPages(p, 4 * 4096), 0u);
  EXPECT_EQ(p[0], 0);  // (a read maps the zero page: after the count)
  // Growing with a move keeps the contents.
  p[4096] = 7;
  char* q = static_cast<char*>(Remap(p, 4 * 4096, 64 * 4096));
  ASSERT_NE(q, nullptr);
  EXPECT_EQ(q[4096], 7);
  EXPECT_EQ(Remap(q + 1, 4096, 2 * 4096), nullptr);  // not page-aligned: EINVAL
  Unmap(q, 64 * 4096);
  EXPECT_EQ(ResidentPages(q, 4096), 0u);  // unmapped: cannot be told
}

TEST(Os, CommitMakesAReservationWritable) {
  char* r = static_cast<char*>(ReserveAligned(1 << 22, 1 << 22));
  ASSERT_NE(r, nullptr);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(r) % (1 << 22), 0u);
  ASSERT_TRUE(Commit(r, 1 << 22));
  r[(1 << 22) - 1] = 5;
  EXPECT_EQ(r[(1 << 22) - 1], 5);
  EXPECT_FALSE(Commit(r + 1, 4096));  // not page-aligned: EINVAL
  Unmap(r, 1 << 22);
}

TEST(Os, HugePagesAvailableFollowsTheKernelsMode) {
  FILE* f = fopen("/sys/kernel/mm/transparent_hugepage/enabled", "r");
  if (f == nullptr) {
    EXPECT_FALSE(HugePagesAvailable());
    return;
  }
  char buf[128] = {};
  ASSERT_NE(fgets(buf, sizeof(buf), f), nullptr);
  fclose(f);
  const bool want = strstr(buf, "[always]") != nullptr || strstr(buf, "[madvise]") != nullptr;
  EXPECT_EQ(HugePagesAvailable(), want);
}

}  // namespace
}  // namespace os
}  // namespace hakmem
