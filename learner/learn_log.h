// The learning curve as CSV: every match the learner's curves kept (learner/curves.h;
// HAKMEM_TELEMETRY_POINTS bounds them), written at exit to HAKMEM_LEARN_LOG (with each site named by the
// symbolizer, which cannot run inside an allocation). Columns:
//   t_ms,site,symbol,band,pool_rating,bigcache_rating,mmap_rating,
//   pool_samples,bigcache_samples,mmap_samples,chosen,context_key,context
// `site` is module+0xoffset of the allocation call (a calling context's frame 0; stable
// across runs) and `symbol` its function, ratings are empty where a strategy is not
// eligible, `chosen` is pool, bigcache, mmap or empty, `context_key` is the site's key in
// hex (as the site report's "key"), `context` is every frame of a calling context,
// innermost first, as module+0xoffset joined by ';' (empty for explicit sites).
#ifndef HAKMEM_LEARNER_LEARN_LOG_H_
#define HAKMEM_LEARNER_LEARN_LOG_H_

#include <stdint.h>

#include "learner/table.h"

namespace hakmem {
namespace learner {

// Writes the log to `path` (%p: the pid), atomically: processes that share the setting
// each write it whole, never interleaved. False (after one line on stderr) if it cannot.
bool WriteLearnLog(const char* path);

}  // namespace learner
}  // namespace hakmem

#endif  // HAKMEM_LEARNER_LEARN_LOG_H_
