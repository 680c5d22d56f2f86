// Whole files for the tools: read into memory, written atomically. Every failure is a
// Status whose message is one line (strerror's, or "is a directory" ...) for the caller to
// print after the path.
#ifndef HAKMEM_TOOLS_FILE_IO_H_
#define HAKMEM_TOOLS_FILE_IO_H_

#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace hakmem {
namespace tools {

// Reads all of the regular file `path` into *bytes. A directory, a device or a FIFO is
// refused (reading one would block or mean nothing).
absl::Status ReadFile(const std::string& path, std::string* bytes);

// Writes `bytes` to `path` so that readers see the old file or the new one, never a part:
// to `path`.tmp in the same directory, fsync, rename over `path`, fsync the directory. On
// failure `path` is untouched, the temporary file is removed, and the message names the
// temporary file ("out.pb.tmp: No such file or directory").
absl::Status WriteFileAtomically(const std::string& path, absl::string_view bytes);

}  // namespace tools
}  // namespace hakmem

#endif  // HAKMEM_TOOLS_FILE_IO_H_
