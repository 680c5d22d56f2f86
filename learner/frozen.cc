#include "learner/frozen.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "callsite/module_map.h"
#include "callsite/profiler.h"
#include "callsite/site_table.h"
#include "core/format.h"
#include "core/os.h"
#include "core/route_table.h"
#include "core/version.h"
#include "learner/elo.h"
#include "learner/learner.h"
#include "learner/table_codec.h"

namespace hakmem {
namespace learner {
namespace {

// A table bigger than this is not one hakmem wrote (4096 sites x 3 bands is ~2 MiB).
constexpr size_t kMaxFileBytes = size_t{64} << 20;

uint64_t UnixMs() {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000 + static_cast<uint64_t>(ts.tv_nsec) / 1000000;
}

// Realtime and monotonic clocks at start-up, for the run record (set by MarkRunStart;
// constant-initialized, see elo.h).
uint64_t g_start_unix_ms = 0;
uint64_t g_start_ns = 0;

void Say(const char* what, const char* path, const char* why, const char* then) {
  char buf[900];
  Formatter f(buf, sizeof(buf));
  f.Str("hakmem: ").Str(what).Str(" '").Str(path != nullptr ? path : "").Str("': ").Str(why);
  f.Str(then).Str("\n");
  os::WriteStderr(buf, f.size());
}

// Reads a whole file into a fresh mapping; nullptr (and *why) on failure.
uint8_t* ReadFile(const char* path, size_t* size, const char** why) {
  const int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    *why = strerror(errno);
    return nullptr;
  }
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    *why = "not a regular file";
    close(fd);
    return nullptr;
  }
  if (st.st_size == 0) {
    *why = "empty file";
    close(fd);
    return nullptr;
  }
  if (static_cast<size_t>(st.st_size) > kMaxFileBytes) {
    *why = "larger than 64 MiB: not a frozen table";
    close(fd);
    return nullptr;
  }
  const size_t n = static_cast<size_t>(st.st_size);
  auto* data = static_cast<uint8_t*>(os::Map(n));
  if (data == nullptr) {
    *why = "out of memory";
    close(fd);
    return nullptr;
  }
  size_t got = 0;
  while (got < n) {
    const ssize_t r = read(fd, data + got, n - got);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) break;
    got += static_cast<size_t>(r);
  }
  close(fd);
  if (got != n) {
    *why = "short read";
    os::Unmap(data, n);
    return nullptr;
  }
  *size = n;
  return data;
}

// The route key of an entry in this process, or 0 if its module is not loaded.
uintptr_t KeyOf(const TableEntry& e) {
  if (e.site_name[0] != '\0') return callsite::NamedSiteKey(e.site_name);
  uintptr_t base;
  if (!callsite::FindLoadedModule(e.build_id_hex, e.module_path, &base)) return 0;
  return base + e.offset;
}

struct Collect {
  TableEntry* entries;
  size_t cap, n;
};

void CollectSite(uintptr_t site, const BandView* bands, void* arg) {
  auto* c = static_cast<Collect*>(arg);
  const callsite::CodeKey key = (site & callsite::kNamedSiteBit) ? callsite::CodeKey{-1, 0}
                                                                 : callsite::ResolveAddress(site);
  const callsite::Module* m = callsite::GetModule(key.module);
  const char* name = nullptr;
  if (site & callsite::kNamedSiteBit) {
    callsite::SiteTable& t = callsite::Sites();
    const callsite::Site* s = t.Get(t.FindOrInsert(site));
    name = s != nullptr ? s->name : nullptr;
    if (name == nullptr) return;  // an explicit site whose name is unknown cannot be keyed
  } else if (m == nullptr) {
    return;  // code outside every module (JIT): no key survives a restart
  }
  for (int b = 0; b < kNumBands; ++b) {
    const BandView& v = bands[b];
    if (!v.seen || c->n == c->cap) continue;
    TableEntry& e = c->entries[c->n++];
    memset(&e, 0, sizeof(e));
    if (name != nullptr) {
      strncpy(e.site_name, name, sizeof(e.site_name) - 1);
    } else {
      strncpy(e.build_id_hex, m->build_id, sizeof(e.build_id_hex) - 1);
      strncpy(e.module_path, m->path, sizeof(e.module_path) - 1);
      e.offset = key.offset;
    }
    e.band = b;
    e.strategy = v.chosen;
    for (int k = 0; k < kNumLearnedStrategies; ++k) {
      e.eligible[k] = v.eligible[k];
      e.rating[k] = v.eligible[k] ? v.rating[k] : 0;
      e.samples[k] = v.eligible[k] ? v.samples[k] : 0;
      e.mean_cost_ns[k] = v.eligible[k] ? v.mean_cost_ns[k] : 0;
    }
  }
}

void CountSite(uintptr_t, const BandView* bands, void* arg) {
  for (int b = 0; b < kNumBands; ++b) *static_cast<size_t*>(arg) += bands[b].seen ? 1 : 0;
}

}  // namespace

void MarkRunStart() {
  g_start_unix_ms = UnixMs();
  g_start_ns = os::NowNs();
}

size_t StartFrozen(const char* path) {
  SetFrozenMode();
  static const char kThen[] = "; using the default strategies (as HAKMEM_MODE=off)";
  if (path == nullptr) {
    char buf[200];
    Formatter f(buf, sizeof(buf));
    f.Str("hakmem: HAKMEM_MODE=frozen but HAKMEM_FROZEN_TABLE is not set").Str(kThen).Str("\n");
    os::WriteStderr(buf, f.size());
    return 0;
  }
  size_t size = 0;
  const char* why = nullptr;
  uint8_t* data = ReadFile(path, &size, &why);
  if (data == nullptr) {
    Say("cannot read frozen table", path, why, kThen);
    return 0;
  }
  size_t n = 0;
  why = CountTableEntries(data, size, &n);
  TableEntry* entries = nullptr;
  const size_t entries_bytes = (n == 0 ? 1 : n) * sizeof(TableEntry);
  if (why == nullptr) {
    entries = static_cast<TableEntry*>(os::Map(entries_bytes));
    if (entries == nullptr) why = "out of memory";
  }
  TableMeta meta;
  if (why == nullptr) why = DecodeTableFile(data, size, &meta, entries, n, &n);
  os::Unmap(data, size);
  if (why != nullptr) {
    Say("invalid frozen table", path, why, kThen);
    if (entries != nullptr) os::Unmap(entries, entries_bytes);
    return 0;
  }
  size_t published = 0, matched = 0;
  for (size_t i = 0; i < n; ++i) {
    const TableEntry& e = entries[i];
    const uintptr_t key = KeyOf(e);
    if (key == 0) continue;
    ++matched;
    if (e.strategy < 0) continue;
    published += PublishRouteDecision(key, e.band, static_cast<Strategy>(e.strategy + 1)) ? 1 : 0;
  }
  os::Unmap(entries, entries_bytes);
  if (n > 0 && matched == 0) {
    char why_buf[700];
    Formatter f(why_buf, sizeof(why_buf));
    f.Str("none of its ").Uint(n).Str(" entries names a module of this program (made for ");
    f.Str(meta.num_runs > 0 ? meta.runs[0].program : "an unknown program").Str(")");
    Say("frozen table", path, why_buf, kThen);
  }
  return published;
}

bool FreezeTo(const char* path) {
  size_t n = 0;
  ForEachSite(CountSite, &n);
  const size_t entries_bytes = (n == 0 ? 1 : n) * sizeof(TableEntry);
  auto* entries = static_cast<TableEntry*>(os::Map(entries_bytes));
  if (entries == nullptr) {
    Say("cannot write HAKMEM_FREEZE_TO", path, "out of memory", "");
    return false;
  }
  Collect c{entries, n, 0};
  ForEachSite(CollectSite, &c);
  TableMeta meta;
  memset(&meta, 0, sizeof(meta));
  strncpy(meta.hakmem_version, kVersion, sizeof(meta.hakmem_version) - 1);
  meta.created_unix_ms = UnixMs();
  meta.params = Params();
  meta.num_runs = 1;
  RunInfo& run = meta.runs[0];
  const ssize_t len = readlink("/proc/self/exe", run.program, sizeof(run.program) - 1);
  run.program[len > 0 ? len : 0] = '\0';
  run.pid = static_cast<uint64_t>(getpid());
  run.start_unix_ms = g_start_unix_ms;
  run.duration_ms = (os::NowNs() - g_start_ns) / 1000000;

  const size_t bytes = EncodedSize(meta, entries, c.n);
  auto* buf = static_cast<uint8_t*>(os::Map(bytes == 0 ? 1 : bytes));
  const size_t written = buf != nullptr ? EncodeTableFile(meta, entries, c.n, buf, bytes) : 0;
  os::Unmap(entries, entries_bytes);
  if (written == 0) {
    if (buf != nullptr) os::Unmap(buf, bytes == 0 ? 1 : bytes);
    Say("cannot write HAKMEM_FREEZE_TO", path, "encoding failed", "");
    return false;
  }
  // Atomically: a reader sees the old table or the new one, never half of one.
  char tmp[4200];
  Formatter f(tmp, sizeof(tmp));
  f.Str(path).Str(".tmp.").Int(getpid());
  bool ok = false;
  const char* why = "write failed";
  const int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) {
    why = strerror(errno);
  } else {
    size_t off = 0;
    while (off < written) {
      const ssize_t w = write(fd, buf + off, written - off);
      if (w < 0 && errno == EINTR) continue;
      if (w <= 0) break;
      off += static_cast<size_t>(w);
    }
    ok = off == written && fsync(fd) == 0;
    if (close(fd) != 0) ok = false;
    if (ok && rename(tmp, path) != 0) {
      ok = false;
      why = strerror(errno);
    }
    if (!ok) unlink(tmp);
  }
  os::Unmap(buf, bytes);
  if (!ok) Say("cannot write HAKMEM_FREEZE_TO", path, why, "");
  return ok;
}

}  // namespace learner
}  // namespace hakmem
