// Every command that reads files, on every kind of bad file: each truncation of a real
// telemetry file, a dense sample of its single-bit flips, an empty file, random bytes, a
// directory, a missing file, and (where telemetry is required) a frozen table. Each run
// must exit with status 1 after exactly one line on stderr ("hakmem <command>: ..."):
// no crash, no signal, no "terminate called", nothing written.
//
// The command line runs in a forked child (tools/cli.h RunHakmem), not an exec'd binary:
// a fork costs far less than loading libprotobuf and Abseil, which is what lets this
// test try every truncation of every command in seconds.
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "tools/cli.h"
#include "tools/file_io.h"
#include "tools/testdata/telemetry_testdata.h"

namespace hakmem {
namespace tools {
namespace {

struct Outcome {
  bool exited = false;
  int status = -1;  // exit status, or the signal
  std::string err;
};

// Runs `hakmem args...` in a forked child with stdout discarded and stderr captured.
Outcome RunInChild(const std::vector<std::string>& args, const std::string& err_path) {
  fflush(stdout);
  fflush(stderr);
  const pid_t pid = fork();
  if (pid == 0) {
    const int null = open("/dev/null", O_WRONLY);
    const int err = open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    dup2(null, 1);
    dup2(err, 2);
    std::vector<std::string> copy = {"hakmem"};
    copy.insert(copy.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (std::string& a : copy) argv.push_back(a.data());
    argv.push_back(nullptr);
    const int status = RunHakmem(static_cast<int>(copy.size()), argv.data());
    fflush(stdout);
    fflush(stderr);
    _exit(status);
  }
  Outcome o;
  int status = 0;
  if (pid < 0 || waitpid(pid, &status, 0) != pid) return o;
  o.exited = WIFEXITED(status);
  o.status = o.exited ? WEXITSTATUS(status) : WTERMSIG(status);
  EXPECT_TRUE(ReadFile(err_path, &o.err).ok());
  return o;
}

// Under ASan and TSan every forked child pays for the sanitizer's shadow memory, and the
// cases take ten times as long (over 5 minutes for this test alone): there every 11th
// truncation and bit flip runs, still covering each part of the file. The fuzz targets
// (tools/telemetry_file_fuzz.cc) go through the same decoder far more densely.
#if defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define HAKMEM_SANITIZED 1
#endif
#endif
#ifdef HAKMEM_SANITIZED
constexpr size_t kStride = 11;
#else
constexpr size_t kStride = 1;
#endif

class Corruption : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = absl::StrCat(getenv("TEST_TMPDIR"), "/corruption");
    mkdir(dir_.c_str(), 0755);
    good_ = TestDataPath("a");
    out_ = dir_ + "/out";
  }

  // The commands that read a file, with `bad` in the place of one.
  std::vector<std::pair<std::string, std::vector<std::string>>> Commands(
      const std::string& bad, bool telemetry_only = false) const {
    std::vector<std::pair<std::string, std::vector<std::string>>> out = {
        {"report", {"report", bad}},
        {"merge", {"merge", good_, bad, "-o", out_}},
        {"pprof", {"pprof", bad, "-o", out_}},
    };
    if (!telemetry_only) {
      out.push_back({"diff", {"diff", bad, good_}});
      out.push_back({"freeze", {"freeze", bad, "-o", out_}});
    }
    return out;
  }

  // Every command on `bad` fails cleanly. `what` names the case in failures.
  void ExpectEveryCommandFails(const std::string& bad, const std::string& what,
                               bool telemetry_only = false) {
    for (const auto& [name, args] : Commands(bad, telemetry_only)) {
      const Outcome o = RunInChild(args, dir_ + "/err");
      ASSERT_TRUE(o.exited) << name << " on " << what << ": killed by signal " << o.status;
      ASSERT_EQ(o.status, 1) << name << " on " << what << ": " << o.err;
      ASSERT_EQ(o.err.rfind("hakmem " + name + ": ", 0), 0u) << name << " on " << what << ": " << o.err;
      ASSERT_EQ(o.err.find('\n'), o.err.size() - 1) << name << " on " << what << ": not one line: " << o.err;
      ASSERT_EQ(o.err.find("terminate"), std::string::npos) << o.err;
      ASSERT_NE(access(out_.c_str(), F_OK), 0) << name << " on " << what << " wrote " << out_;
    }
  }

  // Plainly, without WriteFileAtomically's fsyncs: thousands of cases.
  void Write(const std::string& path, const std::string& bytes) {
    std::ofstream f(path, std::ios::binary | std::ios::trunc);
    f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    ASSERT_TRUE(f.good());
  }

  std::string dir_, good_, out_;
};

TEST_F(Corruption, EveryTruncation) {
  std::string bytes;
  ASSERT_TRUE(ReadFile(TestDataPath("small"), &bytes).ok());
  const std::string bad = dir_ + "/truncated.hakt";
  for (size_t n = 0; n < bytes.size(); n += kStride) {
    Write(bad, bytes.substr(0, n));
    ExpectEveryCommandFails(bad, absl::StrCat("the first ", n, " bytes"));
    if (HasFatalFailure()) return;
  }
}

// Every bit of the envelope's head (magic, version, the payload's tag and length) and of
// its checksum, and one bit of every payload byte (its position cycling), so every field
// and every byte is hit. (telemetry_file_test flips every bit, in the decoder alone.)
TEST_F(Corruption, BitFlips) {
  std::string bytes;
  ASSERT_TRUE(ReadFile(TestDataPath("small"), &bytes).ok());
  const std::string bad = dir_ + "/flipped.hakt";
  std::vector<size_t> bits;
  const size_t head = 16, tail = 9;
  for (size_t byte = 0; byte < bytes.size(); ++byte) {
    if (byte < head || byte + tail >= bytes.size()) {
      for (size_t bit = 0; bit < 8; ++bit) bits.push_back(byte * 8 + bit);
    } else {
      bits.push_back(byte * 8 + byte % 8);
    }
  }
  for (size_t i = 0; i < bits.size(); i += kStride) {
    const size_t bit = bits[i];
    std::string flipped = bytes;
    flipped[bit / 8] ^= static_cast<char>(1 << (bit % 8));
    Write(bad, flipped);
    ExpectEveryCommandFails(bad, absl::StrCat("bit ", bit, " flipped"));
    if (HasFatalFailure()) return;
  }
}

TEST_F(Corruption, FilesThatAreNotTelemetry) {
  Write(dir_ + "/empty", "");
  ExpectEveryCommandFails(dir_ + "/empty", "an empty file");
  std::string random(4096, '\0');
  uint64_t x = 0x9e3779b97f4a7c15;
  for (char& c : random) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    c = static_cast<char>(x);
  }
  Write(dir_ + "/random", random);
  ExpectEveryCommandFails(dir_ + "/random", "random bytes");
  Write(dir_ + "/text", "hakmem\n");
  ExpectEveryCommandFails(dir_ + "/text", "a text file");
  ExpectEveryCommandFails(dir_, "a directory");
  ExpectEveryCommandFails(dir_ + "/missing", "a missing file");
  // diff and freeze take frozen tables too; the others refuse them.
  const std::string a = TestDataPath("a");
  const std::string table = a.substr(0, a.rfind('/')) + "/state_a.pb";
  ExpectEveryCommandFails(table, "a frozen table", /*telemetry_only=*/true);
}

TEST_F(Corruption, GoodFilesPass) {
  // The harness itself: the same commands on good files succeed.
  for (const auto& [name, args] : Commands(good_)) {
    const Outcome o = RunInChild(args, dir_ + "/err");
    EXPECT_TRUE(o.exited && o.status == 0) << name << ": " << o.status << " " << o.err;
    unlink(out_.c_str());
  }
}

}  // namespace
}  // namespace tools
}  // namespace hakmem
