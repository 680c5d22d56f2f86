#include "core/check.h"

#include <stdlib.h>
#include <string.h>

#include "core/format.h"
#include "core/os.h"

namespace hakmem {

void CheckFailed(const char* what, const void* p, size_t size) {
  char buf[200];
  Formatter f(buf, sizeof(buf));
  f.Str("hakmem: check: ").Str(what).Str(" ").Hex(reinterpret_cast<uintptr_t>(p));
  if (size != 0) f.Str(" (a block of ").Uint(size).Str(" bytes)");
  f.Str("; aborting\n");
  os::WriteStderr(buf, f.size());
  abort();
}

void WriteGuard(void* p, size_t size) {
  memset(static_cast<char*>(p) + size, kGuardByte, kGuardBytes);
}

void VerifyGuard(const void* p, size_t size) {
  const unsigned char* g = static_cast<const unsigned char*>(p) + size;
  for (size_t i = 0; i < kGuardBytes; ++i) {
    if (g[i] != kGuardByte) CheckFailed("write past the end of", p, size);
  }
}

}  // namespace hakmem
