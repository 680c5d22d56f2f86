// `hakmem show`: a frozen table for people. Read with libprotobuf's generated code, which
// is lenient, so a table the codec rejects can still be looked at (and the reason is
// printed at the end).
#ifndef HAKMEM_TOOLS_SHOW_H_
#define HAKMEM_TOOLS_SHOW_H_

#include <stdio.h>

#include <string>

namespace hakmem {
namespace tools {

// Prints the file image `bytes` to `out`: metadata, runs, then one row per entry, and last
// a status line: "status: ok (N entries)" or "status: INVALID: <codec's reason>".
// Returns false, printing nothing and setting *error, when it is not a FrozenTableFile at
// all; else true, with *valid telling whether the codec (production) accepts it.
bool ShowTable(const std::string& bytes, FILE* out, bool* valid, std::string* error);

}  // namespace tools
}  // namespace hakmem

#endif  // HAKMEM_TOOLS_SHOW_H_
