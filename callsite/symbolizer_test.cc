#include "callsite/symbolizer.h"

#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"

// Functions with names of their own to symbolize (not inlined, not folded together).
extern "C" __attribute__((noinline)) int hakmem_symbolizer_test_alpha(int x) { return x * 3 + 1; }
extern "C" __attribute__((noinline)) int hakmem_symbolizer_test_beta(int x) { return x * 5 + 2; }

namespace hakmem {
namespace callsite {
namespace {

// A "return address" just past the function's first byte names that function.
uintptr_t Inside(int (*f)(int)) { return reinterpret_cast<uintptr_t>(f) + 1; }

std::string NameOf(uintptr_t address) {
  Symbol s;
  Symbolize(address, &s);
  return s.function;
}

// First in this file, so that it makes the process's first symbolizations: reports are
// symbolized from several threads at once (telemetry writer, learn log, the site report
// at exit), the first of them loading libdw and the debug information together, and
// each must get every name right. Without the symbolizer's lock, TSan (CI's tsan part)
// reports these first symbolizations racing.
TEST(Symbolizer, ThreadsSymbolizeAtOnce) {
  std::atomic<int> wrong{0};
  std::atomic<bool> go{false};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&wrong, &go, t] {
      while (!go.load()) {
      }
      for (int i = 0; i < 200; ++i) {
        const bool a = (i + t) % 2 == 0;
        const std::string got =
            NameOf(Inside(a ? hakmem_symbolizer_test_alpha : hakmem_symbolizer_test_beta));
        if (got != (a ? "hakmem_symbolizer_test_alpha" : "hakmem_symbolizer_test_beta")) {
          wrong.fetch_add(1);
        }
      }
    });
  }
  go.store(true);
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(wrong.load(), 0);
}

TEST(Symbolizer, NamesAFunctionOfThisProgram) {
  EXPECT_EQ(NameOf(Inside(hakmem_symbolizer_test_alpha)), "hakmem_symbolizer_test_alpha");
  EXPECT_EQ(NameOf(Inside(hakmem_symbolizer_test_beta)), "hakmem_symbolizer_test_beta");
}

TEST(Symbolizer, AddressZeroIsUnknown) {
  Symbol s;
  Symbolize(0, &s);
  EXPECT_STREQ(s.function, "");
  EXPECT_STREQ(s.file, "");
  EXPECT_EQ(s.line, 0);
}

// A child forked while another thread symbolizes neither hangs on the lock nor calls
// into the inherited libdw: it names exported functions from the dynamic symbol table.
TEST(Symbolizer, AChildForkedDuringASymbolizationNamesFromTheSymbolTable) {
  std::atomic<bool> stop{false};
  std::thread busy([&] {
    while (!stop.load()) NameOf(Inside(hakmem_symbolizer_test_alpha));
  });
  usleep(10 * 1000);
  const pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    alarm(20);  // a hang fails the test as SIGALRM
    const std::string name = NameOf(reinterpret_cast<uintptr_t>(&getpid) + 1);
    _exit(name.find("getpid") != std::string::npos ? 0 : 1);
  }
  stop.store(true);
  busy.join();
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status)) << "child killed by signal " << WTERMSIG(status);
  EXPECT_EQ(WEXITSTATUS(status), 0) << "getpid not named";
}

}  // namespace
}  // namespace callsite
}  // namespace hakmem
