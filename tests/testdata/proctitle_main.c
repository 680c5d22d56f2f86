// Sets its process title the way redis, nginx and postgres do: before anything else,
// overwrite the whole contiguous argv + environ string area, then run. For
// tests/proctitle_test.py: hakmem must have copied its settings (HAKMEM_SITE_REPORT,
// HAKMEM_FREEZE_TO, HAKMEM_LEARN_LOG) at start-up, because it reads them at exit.
//
// Usage: proctitle_main zero|fill
//   zero: the area becomes zero bytes (every environment string reads as "");
//   fill: the area becomes 'X's, with one final NUL (every string reads as "XXX...").
// Exits 2 if a HAKMEM_ variable's value was not inside the area (the test would prove
// nothing) or the overwrite did not take; prints a checksum of the work otherwise.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

extern char** environ;

static void Die(const char* what, const char* name) {
  // No stdio yet: it allocates.
  write(2, "proctitle_main: ", 16);
  write(2, what, strlen(what));
  write(2, name, strlen(name));
  write(2, "\n", 1);
  _exit(2);
}

static const char* const kWatched[] = {"HAKMEM_SITE_REPORT", "HAKMEM_FREEZE_TO",
                                       "HAKMEM_LEARN_LOG", "HAKMEM_MODE"};
enum { kNumWatched = sizeof(kWatched) / sizeof(kWatched[0]) };

// 1 MiB requests: above the sampling threshold, so every one is recorded exactly.
__attribute__((noinline)) unsigned AllocLarge(int n) {
  unsigned sum = 0;
  for (int i = 0; i < n; ++i) {
    unsigned char* p = malloc(1 << 20);
    if (p == NULL) abort();
    p[0] = (unsigned char)i;
    p[(1 << 20) - 1] = (unsigned char)(i + 1);
    sum += p[0] + p[(1 << 20) - 1];
    free(p);
  }
  return sum;
}

__attribute__((noinline)) unsigned AllocSmall(int n) {
  unsigned sum = 0;
  void* live[16] = {0};
  for (int i = 0; i < n; ++i) {
    free(live[i & 15]);
    unsigned char* p = malloc(16 + (size_t)(i % 200));
    if (p == NULL) abort();
    p[0] = (unsigned char)i;
    sum += p[0];
    live[i & 15] = p;
  }
  for (int i = 0; i < 16; ++i) free(live[i]);
  return sum;
}

int main(int argc, char** argv) {
  if (argc != 2 || (strcmp(argv[1], "zero") != 0 && strcmp(argv[1], "fill") != 0)) {
    Die("usage: proctitle_main zero|fill", "");
  }
  const int fill = strcmp(argv[1], "fill") == 0;

  // The area, found as setproctitle implementations find it: argv[0]'s string and every
  // argv and environ string that starts right where the previous one ended.
  char* const start = argv[0];
  char* end = argv[0] + strlen(argv[0]) + 1;
  for (int i = 1; i < argc; ++i) {
    if (argv[i] == end) end += strlen(argv[i]) + 1;
  }
  for (char** e = environ; *e != NULL; ++e) {
    if (*e == end) end += strlen(*e) + 1;
  }

  const char* values[kNumWatched];
  for (int i = 0; i < kNumWatched; ++i) {
    values[i] = getenv(kWatched[i]);
    if (values[i] == NULL) Die("not set: ", kWatched[i]);
    if (values[i] < start || values[i] >= end) Die("not in the argv+environ area: ", kWatched[i]);
  }

  if (fill) {
    memset(start, 'X', (size_t)(end - start) - 1);
    end[-1] = '\0';
  } else {
    memset(start, 0, (size_t)(end - start));
  }
  for (int i = 0; i < kNumWatched; ++i) {
    if (values[i][0] != (fill ? 'X' : '\0')) Die("overwrite did not take: ", kWatched[i]);
  }

  unsigned sum = 0;
  for (int r = 0; r < 4; ++r) {
    sum += AllocLarge(16);
    sum += AllocSmall(5000);
  }
  printf("checksum=%u\n", sum);
  return 0;
}
