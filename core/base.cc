#include "core/base.h"

#include <stdlib.h>

#include "core/format.h"
#include "core/os.h"

namespace hakmem {

void FatalError(const char* msg, const char* file, int line) {
  char buf[512];
  Formatter f(buf, sizeof(buf));
  f.Str("hakmem: fatal: ").Str(msg).Str(" (").Str(file).Str(":").Int(line).Str(")\n");
  os::WriteStderr(buf, f.size());
  abort();
}

}  // namespace hakmem
