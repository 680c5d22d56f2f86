#include "callsite/module_map.h"

#include <link.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <thread>

#include "gtest/gtest.h"

namespace hakmem {
namespace callsite {
namespace {

int CountModule(struct dl_phdr_info*, size_t, void* arg) {
  ++*static_cast<int*>(arg);
  return 0;
}

std::atomic<bool> g_inside{false};

// Stays inside the walk (and so inside the loader's lock) for a while.
int SlowVisit(struct dl_phdr_info*, size_t, void*) {
  g_inside.store(true);
  usleep(20 * 1000);
  return 0;
}

TEST(ModuleMap, WalkModulesVisitsTheLoadedModules) {
  int n = 0;
  WalkModules(CountModule, &n);
  EXPECT_GE(n, 2);  // the program and libc at least
}

TEST(ModuleMap, ResolvesAnAddressOfThisProgramToItsOffset) {
  const uintptr_t here = reinterpret_cast<uintptr_t>(&CountModule);
  const CodeKey k = ResolveAddress(here);
  ASSERT_GE(k.module, 0);
  const Module* m = GetModule(k.module);
  ASSERT_NE(m, nullptr);
  EXPECT_EQ(m->load_base + k.offset, here);
  EXPECT_FALSE(m->runtime);
}

// A fork while another thread walks the modules: the child must be able to walk them.
// glibc's fork() leaves the loader's walk lock as it was, so without WalkModules' fork
// handlers the child would find it held by a thread it does not have and wait forever.
TEST(ModuleMap, AChildForkedDuringAWalkCanWalk) {
  std::atomic<bool> stop{false};
  std::thread walker([&] {
    while (!stop.load()) WalkModules(SlowVisit, nullptr);
  });
  while (!g_inside.load()) usleep(1000);
  const pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    alarm(10);  // a hang fails the test as SIGALRM, not the test's timeout
    int n = 0;
    WalkModules(CountModule, &n);
    _exit(n >= 2 ? 0 : 1);
  }
  stop.store(true);
  walker.join();
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status)) << "child killed by signal " << WTERMSIG(status)
                                 << " (SIGALRM: it hung walking the modules)";
  EXPECT_EQ(WEXITSTATUS(status), 0);
}

}  // namespace
}  // namespace callsite
}  // namespace hakmem
