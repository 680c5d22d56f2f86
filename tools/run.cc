#include "tools/run.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace hakmem {
namespace tools {
namespace {

bool IsRegularFile(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

std::string Absolute(const std::string& path) {
  char buf[PATH_MAX];
  if (realpath(path.c_str(), buf) != nullptr) return buf;
  return path;
}

// The child being waited for, for the forwarding handler.
volatile pid_t g_child = 0;

void Forward(int sig) {
  if (g_child > 0) kill(g_child, sig);
}

}  // namespace

std::string SelfPath() {
  char buf[PATH_MAX];
  const ssize_t n = readlink("/proc/self/exe", buf, sizeof(buf) - 1);
  return n > 0 ? std::string(buf, static_cast<size_t>(n)) : std::string();
}

std::vector<std::string> LibraryCandidates(const std::string& self) {
  // `self` has no symlinks left (/proc/self/exe), so ".." is its directory's parent.
  const size_t slash = self.rfind('/');
  const std::string dir = slash == std::string::npos ? "." : self.substr(0, slash);
  const size_t up = dir.rfind('/');
  const std::string parent = up == std::string::npos ? dir + "/.." : dir.substr(0, up);
  return {
      parent + "/core/libhakmem.so",                // bazel-bin/tools/hakmem
      self + ".runfiles/hakmem/core/libhakmem.so",  // its runfiles tree
      parent + "/lib/hakmem/libhakmem.so",          // PREFIX/bin, PREFIX/lib/hakmem
      parent + "/lib/libhakmem.so",                 // PREFIX/bin, PREFIX/lib
  };
}

absl::StatusOr<std::string> FindLibrary(const std::string& self, const char* env_library) {
  if (env_library != nullptr && env_library[0] != '\0') {
    struct stat st;
    if (stat(env_library, &st) != 0) {
      return absl::NotFoundError(absl::StrCat("HAKMEM_LIBRARY=", env_library, ": ", strerror(errno)));
    }
    if (!S_ISREG(st.st_mode)) {
      return absl::NotFoundError(absl::StrCat("HAKMEM_LIBRARY=", env_library, ": not a regular file"));
    }
    return Absolute(env_library);
  }
  const std::vector<std::string> candidates = LibraryCandidates(self);
  for (const std::string& c : candidates) {
    if (IsRegularFile(c)) return Absolute(c);
  }
  return absl::NotFoundError(absl::StrCat("libhakmem.so not found; looked for ",
                                          absl::StrJoin(candidates, ", "),
                                          " (set HAKMEM_LIBRARY to its path)"));
}

std::vector<std::string> ChildEnvironment(const std::vector<std::string>& parent,
                                          const RunEnvironment& e) {
  std::vector<std::pair<std::string, std::string>> set = {
      {"HAKMEM_MODE", e.mode},
      {"HAKMEM_TELEMETRY", e.telemetry},
      {"HAKMEM_FREEZE_TO", e.freeze_to},
      {"HAKMEM_FROZEN_TABLE", e.frozen_table},
  };
  std::string preload = e.library;
  std::vector<std::string> out;
  for (const std::string& var : parent) {
    const std::string name = var.substr(0, var.find('='));
    if (name == "LD_PRELOAD") {
      const std::string old = var.substr(var.find('=') + 1);
      if (!old.empty()) absl::StrAppend(&preload, ":", old);
      continue;
    }
    bool replaced = false;
    for (const auto& [n, v] : set) replaced = replaced || (n == name && !v.empty());
    if (!replaced) out.push_back(var);
  }
  out.push_back("LD_PRELOAD=" + preload);
  for (const auto& [n, v] : set) {
    if (!v.empty()) out.push_back(n + "=" + v);
  }
  return out;
}

absl::StatusOr<int> RunProgram(const std::vector<std::string>& argv,
                               const std::vector<std::string>& env) {
  std::vector<char*> cargv, cenv;
  for (const std::string& a : argv) cargv.push_back(const_cast<char*>(a.c_str()));
  cargv.push_back(nullptr);
  for (const std::string& v : env) cenv.push_back(const_cast<char*>(v.c_str()));
  cenv.push_back(nullptr);

  // The child reports a failed exec through a pipe that a successful exec closes.
  int report[2];
  if (pipe2(report, O_CLOEXEC) != 0) return absl::InternalError(strerror(errno));
  // Signals stay blocked until the parent's handlers are in place and the child's are
  // the defaults, so none is lost or handled by the wrong process in between.
  sigset_t block, old;
  sigemptyset(&block);
  for (int sig : {SIGINT, SIGQUIT, SIGTERM, SIGHUP}) sigaddset(&block, sig);
  sigprocmask(SIG_BLOCK, &block, &old);
  const pid_t pid = fork();
  if (pid < 0) {
    const int e = errno;
    sigprocmask(SIG_SETMASK, &old, nullptr);
    close(report[0]);
    close(report[1]);
    return absl::InternalError(absl::StrCat("fork: ", strerror(e)));
  }
  if (pid == 0) {
    for (int sig : {SIGINT, SIGQUIT, SIGTERM, SIGHUP}) signal(sig, SIG_DFL);
    sigprocmask(SIG_SETMASK, &old, nullptr);
    close(report[0]);
    execvpe(cargv[0], cargv.data(), cenv.data());
    const int e = errno;
    (void)!write(report[1], &e, sizeof(e));
    _exit(127);
  }
  close(report[1]);
  g_child = pid;
  struct sigaction ignore = {}, forward = {}, saved[4];
  ignore.sa_handler = SIG_IGN;
  forward.sa_handler = Forward;
  const int sigs[4] = {SIGINT, SIGQUIT, SIGTERM, SIGHUP};
  for (int i = 0; i < 4; ++i) sigaction(sigs[i], i < 2 ? &ignore : &forward, &saved[i]);
  sigprocmask(SIG_SETMASK, &old, nullptr);

  int exec_errno = 0;
  ssize_t n;
  do {
    n = read(report[0], &exec_errno, sizeof(exec_errno));
  } while (n < 0 && errno == EINTR);
  close(report[0]);
  int status = 0;
  pid_t w;
  do {
    w = waitpid(pid, &status, 0);
  } while (w < 0 && errno == EINTR);
  g_child = 0;
  for (int i = 0; i < 4; ++i) sigaction(sigs[i], &saved[i], nullptr);

  if (n == static_cast<ssize_t>(sizeof(exec_errno))) {
    const std::string why = absl::StrCat(argv[0], ": ", strerror(exec_errno));
    if (exec_errno == ENOENT) return absl::NotFoundError(why);
    return absl::PermissionDeniedError(why);
  }
  if (w < 0) return absl::InternalError(absl::StrCat("waitpid: ", strerror(errno)));
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return WEXITSTATUS(status);
}

}  // namespace tools
}  // namespace hakmem
