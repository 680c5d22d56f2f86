#include "learner/learn_log.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include <atomic>

#include "callsite/module_map.h"
#include "callsite/profiler.h"
#include "callsite/symbolizer.h"
#include "core/arena.h"
#include "core/format.h"
#include "core/options.h"
#include "core/os.h"

namespace hakmem {
namespace learner {
namespace {

constexpr uint64_t kCapacity = 1u << 20;

struct Record {
  uint64_t t_ns;
  uintptr_t site;
  int8_t band, chosen;
  bool eligible[kNumLearnedStrategies];
  float rating[kNumLearnedStrategies];
  uint64_t samples[kNumLearnedStrategies];
};

std::atomic<Record*> g_records{nullptr};
std::atomic<uint64_t> g_next{0};
uint64_t g_start_ns = 0;  // set by MarkLogStart (constant-initialized: see elo.h)

Record* Records() {
  Record* r = g_records.load(std::memory_order_acquire);
  if (r != nullptr) return r;
  Record* fresh = static_cast<Record*>(ArenaAllocate(sizeof(Record) * kCapacity));
  Record* expected = nullptr;
  if (fresh == nullptr) return nullptr;
  if (!g_records.compare_exchange_strong(expected, fresh)) return expected;
  return fresh;
}


}  // namespace

void MarkLogStart() {
  g_start_ns = os::NowNs();
  if (GetStringOption(Option::kLearnLog) != nullptr) Records();  // mapped now, not mid-run
}

void LogRatings(uintptr_t site, int band, const TableEntry& e, int chosen) {
  // Mapped at start-up when HAKMEM_LEARN_LOG is set; nothing to record into otherwise.
  Record* recs = g_records.load(std::memory_order_acquire);
  if (recs == nullptr) return;
  const uint64_t i = g_next.fetch_add(1, std::memory_order_relaxed);
  if (i >= kCapacity) return;  // counted by g_next; reported when written
  Record& r = recs[i];
  r.t_ns = os::NowNs();
  r.site = site;
  r.band = static_cast<int8_t>(band);
  r.chosen = static_cast<int8_t>(chosen);
  for (int k = 0; k < kNumLearnedStrategies; ++k) {
    r.eligible[k] = e.eligible[k];
    r.rating[k] = static_cast<float>(e.rating[k]);
    r.samples[k] = e.samples[k];
  }
}

bool WriteLearnLog(const char* path) {
  callsite::ScopedNoProfiling no_profiling;  // the symbolizer allocates
  const int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) {
    char buf[600];
    Formatter f(buf, sizeof(buf));
    f.Str("hakmem: cannot write HAKMEM_LEARN_LOG='").Str(path).Str("': ").Str(strerror(errno)).Str("\n");
    os::WriteStderr(buf, f.size());
    return false;
  }
  bool ok = true;
  auto put = [&](const char* s, size_t n) {
    while (ok && n > 0) {
      const ssize_t w = write(fd, s, n);
      if (w < 0 && errno == EINTR) continue;
      if (w <= 0) ok = false; else s += w, n -= static_cast<size_t>(w);
    }
  };
  static const char kHeader[] =
      "t_ms,site,symbol,band,pool_rating,bigcache_rating,mmap_rating,"
      "pool_samples,bigcache_samples,mmap_samples,chosen\n";
  put(kHeader, sizeof(kHeader) - 1);
  Record* recs = g_records.load(std::memory_order_acquire);
  uint64_t n = g_next.load(std::memory_order_relaxed);
  if (n > kCapacity) n = kCapacity;
  // Sites repeat: name each once (the last one named is cached).
  uintptr_t named_site = 0;
  char site_text[600] = "";
  char symbol[512] = "";
  for (uint64_t i = 0; recs != nullptr && i < n && ok; ++i) {
    const Record& r = recs[i];
    if (r.site != named_site) {
      named_site = r.site;
      Formatter s(site_text, sizeof(site_text));
      const callsite::CodeKey key = callsite::ResolveAddress(r.site);
      const callsite::Module* m = callsite::GetModule(key.module);
      if (m != nullptr) {
        const char* base = strrchr(m->path, '/');
        s.Str(base != nullptr ? base + 1 : m->path).Str("+").Hex(key.offset);
      } else {
        s.Hex(r.site);
      }
      callsite::Symbol sym;
      callsite::Symbolize(r.site, &sym);
      // CSV: a symbol with a comma or quote is quoted.
      Formatter y(symbol, sizeof(symbol));
      const bool quote = strpbrk(sym.function, ",\"") != nullptr;
      if (quote) y.Str("\"");
      for (const char* c = sym.function; *c != '\0'; ++c) {
        const char one[3] = {*c, *c == '"' ? '"' : '\0', '\0'};
        y.Str(one);
      }
      if (quote) y.Str("\"");
    }
    char line[1400];
    Formatter f(line, sizeof(line));
    f.Fixed(static_cast<double>(r.t_ns - g_start_ns) / 1e6, 3).Str(",");
    f.Str(site_text).Str(",").Str(symbol).Str(",").Str(kBandNames[r.band]);
    for (int k = 0; k < kNumLearnedStrategies; ++k) {
      f.Str(",");
      if (r.eligible[k]) f.Fixed(r.rating[k], 1);
    }
    for (int k = 0; k < kNumLearnedStrategies; ++k) {
      f.Str(",");
      if (r.eligible[k]) f.Uint(r.samples[k]);
    }
    f.Str(",").Str(r.chosen >= 0 ? kStrategyNames[r.chosen] : "").Str("\n");
    put(line, f.size());
  }
  if (close(fd) != 0) ok = false;
  if (!ok) {
    char buf[600];
    Formatter f(buf, sizeof(buf));
    f.Str("hakmem: cannot write HAKMEM_LEARN_LOG='").Str(path).Str("': write failed\n");
    os::WriteStderr(buf, f.size());
  }
  return ok;
}

}  // namespace learner
}  // namespace hakmem
