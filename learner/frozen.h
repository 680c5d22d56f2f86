// The frozen table in a process: loading one at start-up (HAKMEM_MODE=frozen) and
// writing what was learned at exit (HAKMEM_FREEZE_TO). The file format is
// learner/frozen_table.proto; learner/table_codec.h reads and writes it without
// libprotobuf or malloc.
#ifndef HAKMEM_LEARNER_FROZEN_H_
#define HAKMEM_LEARNER_FROZEN_H_

#include <stddef.h>

namespace hakmem {
namespace learner {

// Records when this run started (for the run record a frozen table carries).
void MarkRunStart();

// Loads `path`, validates all of it, and publishes each decided entry to the route table
// under its key (callsite::ContextKeyOf over its frames, or its explicit site's name);
// entries whose allocation call (frame 0) is in a loaded module go first. Any problem (no
// path, unreadable, truncated, corrupt, wrong or older version, or no entry whose frame 0
// is in a module of this program) prints one line on stderr and leaves the defaults: the
// mode then behaves as off. Returns the decisions published.
size_t StartFrozen(const char* path);

// Writes the learner's state (every site and band it has seen, decided or not) as a
// frozen table to `path` (%p: the pid), atomically (a temporary file renamed into place), so
// processes that share the setting never leave a torn table: each calling
// context with its frames (modules interned), each explicit site by name. Sites with no
// interned context (a bare address, the overflow bucket) or a frame outside every module
// (JIT code) are left out: nothing keys them across runs; so are explicit sites whose
// names are longer than an entry holds (63 bytes), with one line on stderr saying how
// many. One line on stderr if it cannot write the table.
bool FreezeTo(const char* path);

}  // namespace learner
}  // namespace hakmem

#endif  // HAKMEM_LEARNER_FROZEN_H_
