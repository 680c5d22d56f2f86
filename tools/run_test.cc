#include "tools/run.h"

#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace hakmem {
namespace tools {
namespace {

TEST(Run, ChildEnvironment) {
  RunEnvironment e;
  e.library = "/lib/libhakmem.so";
  e.mode = "learn";
  e.telemetry = "/tmp/t.hakt";
  const std::vector<std::string> env = ChildEnvironment(
      {"PATH=/bin", "LD_PRELOAD=/x.so", "HAKMEM_MODE=off", "HAKMEM_SAMPLE_BYTES=4k",
       "HAKMEM_FREEZE_TO=/keep.pb"},
      e);
  auto has = [&](const std::string& v) { return std::count(env.begin(), env.end(), v) == 1; };
  EXPECT_TRUE(has("PATH=/bin"));
  EXPECT_TRUE(has("LD_PRELOAD=/lib/libhakmem.so:/x.so"));  // prepended
  EXPECT_TRUE(has("HAKMEM_MODE=learn"));                   // replaced
  EXPECT_TRUE(has("HAKMEM_TELEMETRY=/tmp/t.hakt"));        // added
  EXPECT_TRUE(has("HAKMEM_SAMPLE_BYTES=4k"));              // passed through
  EXPECT_TRUE(has("HAKMEM_FREEZE_TO=/keep.pb"));           // not set by e: passed through
  EXPECT_EQ(env.size(), 6u);
  const std::vector<std::string> bare = ChildEnvironment({}, e);
  EXPECT_EQ(std::count(bare.begin(), bare.end(), "LD_PRELOAD=/lib/libhakmem.so"), 1);
}

TEST(Run, LooksForTheLibraryBesideItself) {
  EXPECT_EQ(LibraryCandidates("/opt/h/bin/hakmem"),
            (std::vector<std::string>{"/opt/h/core/libhakmem.so",
                                      "/opt/h/bin/hakmem.runfiles/hakmem/core/libhakmem.so",
                                      "/opt/h/lib/hakmem/libhakmem.so",
                                      "/opt/h/lib/libhakmem.so"}));
  const std::string root = std::string(getenv("TEST_TMPDIR")) + "/prefix";
  ASSERT_EQ(mkdir(root.c_str(), 0755), 0);
  ASSERT_EQ(mkdir((root + "/bin").c_str(), 0755), 0);
  ASSERT_EQ(mkdir((root + "/lib").c_str(), 0755), 0);
  const absl::StatusOr<std::string> none = FindLibrary(root + "/bin/hakmem", nullptr);
  EXPECT_EQ(none.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(none.status().message(),
            "libhakmem.so not found; looked for " + root + "/core/libhakmem.so, " + root +
                "/bin/hakmem.runfiles/hakmem/core/libhakmem.so, " + root +
                "/lib/hakmem/libhakmem.so, " + root +
                "/lib/libhakmem.so (set HAKMEM_LIBRARY to its path)");
  std::ofstream(root + "/lib/libhakmem.so") << "x";
  EXPECT_EQ(FindLibrary(root + "/bin/hakmem", nullptr).value(), root + "/lib/libhakmem.so");
  EXPECT_EQ(FindLibrary(root + "/bin/hakmem", "").value(), root + "/lib/libhakmem.so");
  // $HAKMEM_LIBRARY wins, and must exist.
  std::ofstream(root + "/mine.so") << "x";
  EXPECT_EQ(FindLibrary(root + "/bin/hakmem", (root + "/mine.so").c_str()).value(), root + "/mine.so");
  EXPECT_EQ(FindLibrary(root + "/bin/hakmem", "/no/such.so").status().message(),
            "HAKMEM_LIBRARY=/no/such.so: No such file or directory");
  EXPECT_EQ(FindLibrary(root + "/bin/hakmem", root.c_str()).status().message(),
            "HAKMEM_LIBRARY=" + root + ": not a regular file");
}

TEST(Run, PassesTheExitStatusThrough) {
  EXPECT_EQ(RunProgram({"/bin/sh", "-c", "exit 3"}, {}).value(), 3);
  EXPECT_EQ(RunProgram({"sh", "-c", "exit 0"}, {"PATH=/usr/bin:/bin"}).value(), 0);  // PATH
  EXPECT_EQ(RunProgram({"/bin/sh", "-c", "kill -TERM $$"}, {}).value(), 128 + 15);
  EXPECT_EQ(RunProgram({"/bin/sh", "-c", "kill -KILL $$"}, {}).value(), 128 + 9);
  EXPECT_EQ(RunProgram({"/bin/sh", "-c", "test \"$FOO\" = bar"}, {"FOO=bar"}).value(), 0);
  const absl::StatusOr<int> missing = RunProgram({"/no/such/program"}, {});
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(missing.status().message(), "/no/such/program: No such file or directory");
  const absl::StatusOr<int> dir = RunProgram({"/"}, {});
  EXPECT_EQ(dir.status().code(), absl::StatusCode::kPermissionDenied);
}

}  // namespace
}  // namespace tools
}  // namespace hakmem
