// The one table of runtime knobs. Every HAKMEM_* environment variable is declared in
// options.cc, read once at start-up, and documented in README.md from that table.
// Bad values print one line on stderr naming the variable and keep the default: a typo in
// a setting must never take the host program down.
#ifndef HAKMEM_CORE_OPTIONS_H_
#define HAKMEM_CORE_OPTIONS_H_

#include <stddef.h>
#include <stdint.h>

namespace hakmem {

enum class Option : int {
  kVerbose = 0,      // HAKMEM_VERBOSE
  kDecayMs,          // HAKMEM_DECAY_MS
  kBigCacheBytes,    // HAKMEM_BIGCACHE_BYTES
  kStrategy,         // HAKMEM_STRATEGY (a Strategy code; 0: per-site decisions)
  kProfileSites,     // HAKMEM_PROFILE_SITES
  kSampleBytes,      // HAKMEM_SAMPLE_BYTES
  kSiteReport,       // HAKMEM_SITE_REPORT (a path)
  kMode,             // HAKMEM_MODE (a LearnMode)
  kFrozenTable,      // HAKMEM_FROZEN_TABLE (a path)
  kFreezeTo,         // HAKMEM_FREEZE_TO (a path)
  kLearnLog,         // HAKMEM_LEARN_LOG (a path)
  kLearnK,           // HAKMEM_LEARN_K
  kLearnMinSamples,  // HAKMEM_LEARN_MIN_SAMPLES
  kLearnCommitMargin,  // HAKMEM_LEARN_COMMIT_MARGIN
  kLearnExploreEvery,  // HAKMEM_LEARN_EXPLORE_EVERY
  kLearnIdleCost,    // HAKMEM_LEARN_IDLE_NS_PER_MIB_S
  kContextDepth,     // HAKMEM_CONTEXT_DEPTH
  kTelemetry,        // HAKMEM_TELEMETRY (a path)
  kTelemetryIntervalMs,  // HAKMEM_TELEMETRY_INTERVAL_MS
  kTelemetryPoints,  // HAKMEM_TELEMETRY_POINTS
  kTrace,            // HAKMEM_TRACE (a path)
  kTraceRecords,     // HAKMEM_TRACE_RECORDS
  kHugePages,        // HAKMEM_HUGE_PAGES
  kBigCacheHeadroom,  // HAKMEM_BIGCACHE_HEADROOM
  kShards,          // HAKMEM_SHARDS
  kCount,
};

// HAKMEM_MODE's values.
enum class LearnMode : int { kOff = 0, kLearn = 1, kShadow = 2, kFrozen = 3 };

struct OptionInfo {
  const char* name;
  int64_t default_value;
  int64_t min_value;
  int64_t max_value;
  const char* unit;  // "bytes" accepts k/m/g suffixes; "path" takes any text;
                     // "strategy" takes pool, bigcache or mmap; "mode" takes off,
                     // learn, shadow or frozen
  const char* meaning;
};

// Reads the environment. Called once from global initialization, before any option is used.
// Copies every value it keeps into hakmem's own static storage: programs that set their
// process title (redis, nginx, postgres) overwrite the environment block, and the paths
// are used at exit. A path longer than kMaxPathBytes - 1 bytes prints one line and is
// treated as unset.
void LoadOptions();

// Capacity of each "path" option's storage, terminating NUL included (PATH_MAX).
constexpr int kMaxPathBytes = 4096;

// Constant-initialized to the defaults, so reading an option before LoadOptions is safe.
int64_t GetOption(Option o);
// HAKMEM_MODE, typed.
inline LearnMode ModeOption() { return static_cast<LearnMode>(GetOption(Option::kMode)); }
// For "path" options: the value, or nullptr when unset. A copy in static storage, made by
// LoadOptions: valid until the process exits, whatever happens to the environment.
const char* GetStringOption(Option o);
const OptionInfo& GetOptionInfo(Option o);
// Whether LoadOptions took the value from the environment (false: the default applies,
// because the variable was unset, empty or invalid).
bool OptionFromEnvironment(Option o);

// For tests: parse one value with the table's rules. Returns false (and leaves *out) when
// `text` is not a valid value for `o`.
bool ParseOptionValue(Option o, const char* text, int64_t* out);

// What LoadOptions makes of one variable's text (nullptr: unset), with no environment and
// no state: LoadOptions and the fuzzer (core/options_fuzz.cc) share it.
enum class OptionText {
  kUnset,    // unset or empty: the default applies
  kValue,    // a valid value, in *value
  kPath,     // a "path" option's text, to be copied as it is
  kInvalid,  // not a value of this option: LoadOptions prints FormatOptionComplaint's line
  kTooLong,  // a path of kMaxPathBytes or more bytes: the same
};
OptionText ParseOptionText(Option o, const char* text, int64_t* value);

// The line LoadOptions prints for a refused value (`why` is kInvalid or kTooLong): one
// line, ending in its only '\n', of printable ASCII (the value's other bytes are escaped
// as \xNN, and a long value is cut short with "..."), whatever `text` holds. Writes it
// into buf[0, cap) with a NUL (cap >= 2) and returns its length.
size_t FormatOptionComplaint(Option o, OptionText why, const char* text, char* buf, size_t cap);

// Writes "hakmem: option NAME=VALUE" lines for every option to stderr.
void PrintOptions();

}  // namespace hakmem

#endif  // HAKMEM_CORE_OPTIONS_H_
