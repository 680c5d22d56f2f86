/* Allocator probe for real programs (sqlite3, python3, redis-server).
 *
 * Preloaded after the allocator under test (LD_PRELOAD="<allocator> <this>"), it
 * records at process exit which loaded object provides "malloc", so compare.py
 * can prove a run really used the intended allocator instead of silently falling
 * back (bad preload path, program linking its own allocator, ...).
 *
 * The answer goes to the file named by $WHICH_MALLOC_OUT, never to stdout or
 * stderr, so the program's own output is byte-for-byte unchanged. Lines are
 * appended ("pid=<pid> malloc=<path>") so forked children cannot clobber the
 * parent's record. Only raw syscalls and stack buffers are used: by destructor
 * time the allocator may already be partly torn down, and calling malloc from
 * here would perturb the very heap being measured (the slow path of
 * hak_malloc_provider() does dlopen, which may allocate; it runs only for
 * non-PIE executables with a canonical PLT entry for malloc).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif
#include <dlfcn.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "experiments/malloc_provider.h"

__attribute__((destructor)) static void which_malloc_report(void) {
  const char* out = getenv("WHICH_MALLOC_OUT");
  if (out == NULL || out[0] == '\0') return;
  const char* name = hak_malloc_provider();
  char line[4200];
  int n = snprintf(line, sizeof line, "pid=%ld malloc=%s\n", (long)getpid(), name);
  if (n <= 0) return;
  if ((size_t)n >= sizeof line) n = (int)sizeof line - 1;
  int fd = open(out, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0) return;
  ssize_t ignored = write(fd, line, (size_t)n);
  (void)ignored;
  close(fd);
}
