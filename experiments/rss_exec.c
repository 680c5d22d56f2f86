/* rss_exec: run a program and report its own peak RSS.
 *
 * Usage: rss_exec OUTFILE PROGRAM [ARGS...]
 * Writes "maxrss_kib=N" to OUTFILE and exits with the program's exit status
 * (128+signal if it was killed).
 *
 * Why compare.py does not just use os.wait4 on its direct child: Linux carries
 * the peak RSS of the pre-exec address space into ru_maxrss across execve, and a
 * child spawned by the Python driver (fork or vfork) starts out as a copy of the
 * ~20 MiB driver. Every small benchmark would then report the driver's size.
 * This launcher is tiny, so the floor it passes on is about 1 MiB.
 *
 * The allocator is handed over in RSS_EXEC_LD_PRELOAD and only installed as
 * LD_PRELOAD in the child, so the launcher never runs on the allocator under
 * test (no second hakmem exit line, no extra probe record).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char** argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: rss_exec OUTFILE PROGRAM [ARGS...]\n");
    return 2;
  }
  pid_t pid = fork();
  if (pid < 0) {
    fprintf(stderr, "rss_exec: error: fork: %s\n", strerror(errno));
    return 2;
  }
  if (pid == 0) {
    const char* pre = getenv("RSS_EXEC_LD_PRELOAD");
    if (pre != NULL && pre[0] != '\0') setenv("LD_PRELOAD", pre, 1);
    unsetenv("RSS_EXEC_LD_PRELOAD");
    execvp(argv[2], argv + 2);
    fprintf(stderr, "rss_exec: error: cannot run %s: %s\n", argv[2], strerror(errno));
    _exit(127);
  }
  /* compare.py starts us in a new session and kills the whole process group
   * on timeout, so no signal forwarding is needed here. */
  int status = 0;
  struct rusage ru;
  while (wait4(pid, &status, 0, &ru) < 0) {
    if (errno != EINTR) {
      fprintf(stderr, "rss_exec: error: wait4: %s\n", strerror(errno));
      return 2;
    }
  }
  FILE* f = fopen(argv[1], "w");
  if (f != NULL) {
    fprintf(f, "maxrss_kib=%ld\n", ru.ru_maxrss);
    fclose(f);
  }
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return 2;
}
