#include "core/options.h"

#include <string.h>

#include <array>
#include <utility>

#include "core/format.h"
#include "core/os.h"
#include "core/sampler.h"
#include "core/strategy.h"
#include "core/types.h"

namespace hakmem {
namespace {

constexpr int kNumOptions = static_cast<int>(Option::kCount);

// name, default, min, max, unit, meaning. README.md's settings table mirrors this one.
constexpr OptionInfo kOptions[kNumOptions] = {
    {"HAKMEM_VERBOSE", 0, 0, 2, "level",
     "1: one line at start and one at exit (with counters that prove hakmem served the "
     "process); 2: also every option's effective value"},
    // 250 ms: long enough that a program's steady churn reuses warm pages instead of
    // faulting them back in; short enough that memory freed between phases goes back
    // before the next phase peaks (at 1000 ms sqlite3's peak RSS was 1.10x mimalloc's,
    // at 50..500 ms equal to it, with no measurable change in run time).
    {"HAKMEM_DECAY_MS", 250, 0, 3600 * 1000, "ms",
     "how long free memory stays committed for reuse before it is returned to the OS"},
    {"HAKMEM_BIGCACHE_BYTES", 64 << 20, 0, int64_t{1} << 40, "bytes",
     "freed memory BigCache keeps resident for reuse, at most (or the headroom, if larger), "
     "until it decays; 0 disables reuse"},
    {"HAKMEM_STRATEGY", 0, 0, 3, "strategy",
     "pool, bigcache or mmap: one strategy for every request of 64 KiB and up, instead of "
     "per-site decisions (where it cannot serve a size, another does and it is counted)"},
    {"HAKMEM_PROFILE_SITES", 1, 0, 1, "flag",
     "0 turns call-site profiling off entirely (no samples, no per-site records)"},
    // The mean sampling interval; the default is chosen by measurement in sampler.cc.
    {"HAKMEM_SAMPLE_BYTES", kDefaultSampleBytes, 1024, int64_t{1} << 40, "bytes",
     "small allocations are sampled about once per this many bytes allocated (per thread)"},
    {"HAKMEM_SITE_REPORT", 0, 0, 0, "path",
     "write a JSON report of every call site to this file at exit (atomically); %p becomes "
     "the pid"},
    {"HAKMEM_MODE", 0, 0, 3, "mode",
     "off: default strategies, no learning; learn: learn per-site strategies and use them; "
     "shadow: learn, but keep the defaults (to judge the learner); frozen: use the table "
     "in HAKMEM_FROZEN_TABLE, no learning"},
    {"HAKMEM_FROZEN_TABLE", 0, 0, 0, "path",
     "the frozen table a frozen-mode process loads (hakmem freeze writes one)"},
    {"HAKMEM_FREEZE_TO", 0, 0, 0, "path",
     "in learn or shadow mode, write what was learned to this file at exit (a frozen table, "
     "atomically); %p becomes the pid"},
    {"HAKMEM_LEARN_LOG", 0, 0, 0, "path",
     "in learn or shadow mode, write every rating change to this CSV file at exit "
     "(atomically); %p becomes the pid"},
    // The learner's parameters (learner/elo.h documents why each default). They are
    // stored in every frozen table, so a table says how it was learned.
    {"HAKMEM_LEARN_K", 24, 1, 1000, "points",
     "Elo K factor: how far one match moves two ratings (times a margin-of-victory "
     "factor of up to 4)"},
    {"HAKMEM_LEARN_MIN_SAMPLES", 8, 1, 1000000, "count",
     "measured allocations every strategy of a (site, band) needs before it can commit"},
    {"HAKMEM_LEARN_COMMIT_MARGIN", 50, 0, 1000, "points",
     "rating lead over every other strategy a (site, band) needs to commit"},
    {"HAKMEM_LEARN_EXPLORE_EVERY", 64, 0, int64_t{1} << 40, "count",
     "after committing, try a losing strategy at most once per this many allocations "
     "(less often the costlier it is); 0: never"},
    {"HAKMEM_LEARN_IDLE_NS_PER_MIB_S", 1000000, 0, int64_t{1} << 40, "ns",
     "what holding 1 MiB idle in BigCache for a second costs, in ns of allocator time"},
    {"HAKMEM_CONTEXT_DEPTH", 4, 1, 16, "frames",
     "frames of calling context that make a call site: the allocation call and its callers "
     "(1: the allocation call alone)"},
    // Telemetry (learner/telemetry.proto; learner/README.md has the format and costs).
    {"HAKMEM_TELEMETRY", 0, 0, 0, "path",
     "write telemetry (protobuf: sites, learning curves, decisions, the allocator over "
     "time) to this file at exit, and periodically with HAKMEM_TELEMETRY_INTERVAL_MS; "
     "%p in the path becomes the process id"},
    {"HAKMEM_TELEMETRY_INTERVAL_MS", 0, 0, 3600 * 1000, "ms",
     "with HAKMEM_TELEMETRY: sample the allocator's totals this often and rewrite the file "
     "(atomically; never more often than 10x a write's own duration); 0: at exit only"},
    // 2^18 matches: about 60 MiB of address space, touched only as matches happen; a
    // program learning 1000 (site, band)s for an hour plays far fewer.
    {"HAKMEM_TELEMETRY_POINTS", 1 << 18, 16, int64_t{1} << 24, "count",
     "learning-curve matches and decisions kept for telemetry and the learn log, each; "
     "past it the first half and the most recent are kept, and the rest counted as dropped"},
    // The allocation stream for replay (learner/trace.h has the file format).
    {"HAKMEM_TRACE", 0, 0, 0, "path",
     "write the stream of routed requests (64 KiB and up: allocations, frees of mapped "
     "blocks, in-place resizes) to this file at exit, for replay; %p becomes the pid"},
    // 2^20 records of 48 bytes: 48 MiB of address space, touched only as used.
    {"HAKMEM_TRACE_RECORDS", 1 << 20, 16, int64_t{1} << 27, "count",
     "records HAKMEM_TRACE keeps, the first ones; the rest are counted as dropped"},
    // Which page size first-touches cheaper differs by machine, by a factor of 20 either
    // way (core/large.cc, ProbeHugePages, has the figures): measured, by default. Blocks
    // that big are mostly written whole, so the bloat transparent huge pages are known for
    // is rare there.
    {"HAKMEM_HUGE_PAGES", 2, 0, 2, "choice",
     "mappings of 2 MiB and up (large blocks, BigCache's) start on a 2 MiB boundary; 1: they "
     "ask the kernel for transparent huge pages (MADV_HUGEPAGE), where its THP mode allows; "
     "0: 4 KiB pages only (MADV_NOHUGEPAGE); 2: 1 if a huge page's first touch and touch "
     "after a move measure cheaper than its 512 small pages' at the first such mapping, "
     "else 0"},
    // bigcache/big_cache.h says why: a fixed cap refaults what a program cycling a few
    // hundred MiB reuses, while a cache that fills only the headroom under the program's
    // own peak never raises its footprint past it.
    {"HAKMEM_BIGCACHE_HEADROOM", 1, 0, 1, "flag",
     "1: BigCache may also keep as much resident as the program's live large blocks are "
     "below their peak; 0: HAKMEM_BIGCACHE_BYTES alone bounds it"},
    // core/central_freelist.h says why shards; central_freelist.cc why one per CPU.
    {"HAKMEM_SHARDS", 0, 0, kMaxShards, "count",
     "copies of the central free lists; each thread takes small objects from the one with "
     "the fewest threads; 0: one per CPU the process may run on (at most 16)"},
};

// Constant-initialized from the table, so options read before LoadOptions are defaults.
template <size_t... I>
constexpr std::array<int64_t, kNumOptions> Defaults(std::index_sequence<I...>) {
  return {kOptions[I].default_value...};
}
std::array<int64_t, kNumOptions> g_values = Defaults(std::make_index_sequence<kNumOptions>());

// The "path" options' values, copied out of the environment at LoadOptions: programs that
// set their process title (redis, nginx, postgres) overwrite the whole argv + environ
// block, and these paths are read at exit. Static storage, never malloc (hakmem is malloc);
// untouched pages cost nothing.
constexpr bool IsPath(const char* unit) {
  const char* p = "path";
  for (; *unit != '\0' && *unit == *p; ++unit, ++p) {
  }
  return *unit == *p;
}
constexpr int CountPathOptions() {
  int n = 0;
  for (const OptionInfo& info : kOptions) n += IsPath(info.unit) ? 1 : 0;
  return n;
}
constexpr int kNumPathOptions = CountPathOptions();
char g_path_storage[kNumPathOptions][kMaxPathBytes];
const char* g_strings[kNumOptions] = {};  // into g_path_storage, or nullptr when unset
bool g_from_env[kNumOptions] = {};

}  // namespace

bool ParseOptionValue(Option o, const char* text, int64_t* out) {
  const OptionInfo& info = kOptions[static_cast<int>(o)];
  if (strcmp(info.unit, "strategy") == 0) {
    const Strategy s = ParseStrategy(text);
    if (s == Strategy::kNone) return false;
    *out = static_cast<int64_t>(s);
    return true;
  }
  if (strcmp(info.unit, "mode") == 0) {
    static const char* const kModes[] = {"off", "learn", "shadow", "frozen"};
    for (int m = 0; m < 4; ++m) {
      if (strcmp(text, kModes[m]) == 0) {
        *out = m;
        return true;
      }
    }
    return false;
  }
  const char* p = text;
  if (*p < '0' || *p > '9') return false;
  uint64_t v = 0;
  for (; *p >= '0' && *p <= '9'; ++p) {
    if (v > (uint64_t{1} << 50)) return false;  // far above every maximum; stops overflow
    v = v * 10 + static_cast<uint64_t>(*p - '0');
  }
  if (*p != '\0' && strcmp(info.unit, "bytes") == 0) {
    int shift = 0;
    switch (*p) {
      case 'k': case 'K': shift = 10; break;
      case 'm': case 'M': shift = 20; break;
      case 'g': case 'G': shift = 30; break;
      default: return false;
    }
    ++p;
    if (*p == 'b' || *p == 'B') ++p;
    // v << shift must not wrap ("17179869184g" is 2^64, not 0): every maximum is far below
    // 2^62, so anything above it is out of range anyway.
    if (v > (uint64_t{1} << (62 - shift))) return false;
    v <<= shift;
  }
  if (*p != '\0') return false;
  if (static_cast<int64_t>(v) < info.min_value || static_cast<int64_t>(v) > info.max_value) {
    return false;
  }
  *out = static_cast<int64_t>(v);
  return true;
}

OptionText ParseOptionText(Option o, const char* text, int64_t* value) {
  if (text == nullptr || *text == '\0') return OptionText::kUnset;  // set but empty: unset
  if (IsPath(kOptions[static_cast<int>(o)].unit)) {
    return strnlen(text, kMaxPathBytes) >= static_cast<size_t>(kMaxPathBytes)
               ? OptionText::kTooLong
               : OptionText::kPath;
  }
  return ParseOptionValue(o, text, value) ? OptionText::kValue : OptionText::kInvalid;
}

size_t FormatOptionComplaint(Option o, OptionText why, const char* text, char* buf,
                             size_t cap) {
  const OptionInfo& info = kOptions[static_cast<int>(o)];
  Formatter f(buf, cap);
  f.Str("hakmem: ignoring ").Str(info.name);
  if (why == OptionText::kTooLong) {
    f.Str(": longer than ").Int(kMaxPathBytes - 1).Str(" bytes");
  } else {
    // The value as given, but on one line whatever it holds: a newline or an escape
    // sequence in a variable must not forge or garble the lines around this one.
    constexpr int kShown = 64;
    f.Str("='");
    int i = 0;
    for (; text[i] != '\0' && i < kShown; ++i) {
      const unsigned char c = static_cast<unsigned char>(text[i]);
      if (c >= 0x20 && c < 0x7f && c != '\\') {
        const char one[2] = {static_cast<char>(c), '\0'};
        f.Str(one);
      } else {
        const char esc[5] = {'\\', 'x', "0123456789abcdef"[c >> 4], "0123456789abcdef"[c & 15],
                             '\0'};
        f.Str(esc);
      }
    }
    f.Str(text[i] != '\0' ? "...': expected " : "': expected ");
    if (strcmp(info.unit, "strategy") == 0) {
      f.Str("pool, bigcache or mmap");
    } else if (strcmp(info.unit, "mode") == 0) {
      f.Str("off, learn, shadow or frozen");
    } else {
      f.Str(strcmp(info.unit, "bytes") == 0 ? "a byte count (suffix k, m or g allowed)"
                                            : "a whole number");
      f.Str(" from ").Int(info.min_value).Str(" to ").Int(info.max_value);
    }
    f.Str("; using the default ");
    if (strcmp(info.unit, "mode") == 0) {
      f.Str("off");  // every mode option defaults to off
    } else if (strcmp(info.unit, "strategy") == 0) {
      f.Str("(per-site decisions)");
    } else {
      f.Int(info.default_value);
    }
  }
  f.Str("\n");
  size_t n = f.size();
  if (n > 0 && buf[n - 1] != '\n') buf[n - 1] = '\n';  // cut short by cap: still one line
  return n;
}

void LoadOptions() {
  int path_slot = 0;
  for (int i = 0; i < kNumOptions; ++i) {
    const OptionInfo& info = kOptions[i];
    g_values[i] = info.default_value;
    g_strings[i] = nullptr;
    g_from_env[i] = false;
    char* const storage = IsPath(info.unit) ? g_path_storage[path_slot++] : nullptr;
    // Only used before this iteration ends: the environment may be overwritten later.
    const char* text = os::GetEnv(info.name);
    int64_t v = 0;
    const OptionText parsed = ParseOptionText(static_cast<Option>(i), text, &v);
    switch (parsed) {
      case OptionText::kUnset:
        break;
      case OptionText::kPath:
        memcpy(storage, text, strlen(text) + 1);  // shorter than kMaxPathBytes: checked
        g_strings[i] = storage;
        g_from_env[i] = true;
        break;
      case OptionText::kValue:
        g_values[i] = v;
        g_from_env[i] = true;
        break;
      case OptionText::kInvalid:
      case OptionText::kTooLong: {
        char buf[512];
        const size_t n = FormatOptionComplaint(static_cast<Option>(i), parsed, text, buf,
                                               sizeof(buf));
        os::WriteStderr(buf, n);
        break;
      }
    }
  }
}

int64_t GetOption(Option o) { return g_values[static_cast<int>(o)]; }

const OptionInfo& GetOptionInfo(Option o) { return kOptions[static_cast<int>(o)]; }

const char* GetStringOption(Option o) { return g_strings[static_cast<int>(o)]; }

bool OptionFromEnvironment(Option o) { return g_from_env[static_cast<int>(o)]; }

void PrintOptions() {
  for (int i = 0; i < kNumOptions; ++i) {
    char buf[256];
    Formatter f(buf, sizeof(buf));
    f.Str("hakmem: option ").Str(kOptions[i].name).Str("=");
    if (IsPath(kOptions[i].unit)) {
      f.Str(g_strings[i] != nullptr ? g_strings[i] : "");
    } else {
      f.Int(g_values[i]);
    }
    f.Str("\n");
    os::WriteStderr(buf, f.size());
  }
}

}  // namespace hakmem
