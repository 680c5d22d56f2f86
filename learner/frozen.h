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

// Loads `path`, validates all of it, and publishes each decided entry whose module is
// loaded to the route table. Any problem (no path, unreadable, truncated, corrupt, wrong
// version, or no entry matching this program's modules) prints one line on stderr and
// leaves the defaults: the mode then behaves as off. Returns the decisions published.
size_t StartFrozen(const char* path);

// Writes the learner's state (every site and band it has seen, decided or not) as a
// frozen table to `path`, atomically (a temporary file renamed into place). One line on
// stderr if it cannot.
bool FreezeTo(const char* path);

}  // namespace learner
}  // namespace hakmem

#endif  // HAKMEM_LEARNER_FROZEN_H_
