#include "learner/frozen.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "callsite/context.h"
#include "callsite/module_map.h"
#include "callsite/profiler.h"
#include "callsite/site_table.h"
#include "core/format.h"
#include "core/os.h"
#include "core/route_table.h"
#include "core/version.h"
#include "core/atomic_file.h"
#include "learner/elo.h"
#include "learner/learner.h"
#include "learner/table_codec.h"

namespace hakmem {
namespace learner {

namespace {

// A table bigger than this is not one hakmem wrote (4096 sites x 3 bands is ~2 MiB).
constexpr size_t kMaxFileBytes = size_t{64} << 20;

uint64_t UnixMs() { return os::UnixNs() / 1000000; }

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

static_assert(kMaxTableFrames == callsite::kMaxContextDepth,
              "a table entry holds a whole calling context");
static_assert(sizeof(TableModule::build_id_hex) == sizeof(callsite::Module::build_id) &&
                  sizeof(TableModule::path) == sizeof(callsite::Module::path),
              "a table module holds a loaded module's key");

// The route key of an entry in any process: its context's key (callsite::ContextKeyOf
// over the frames' module identities and offsets, nothing looked up), or its name's.
uintptr_t KeyOf(const TableMeta& meta, const TableEntry& e) {
  if (e.site_name[0] != '\0') return callsite::NamedSiteKey(e.site_name);
  callsite::FrameKey frames[kMaxTableFrames];
  for (uint32_t i = 0; i < e.num_frames; ++i) {
    const TableModule& m = meta.modules[e.frames[i].module];
    frames[i] = callsite::FrameKey{m.build_id_hex, m.path, e.frames[i].offset};
  }
  return callsite::ContextKeyOf(frames, static_cast<int>(e.num_frames));
}

struct Collect {
  TableMeta* meta;
  TableEntry* entries;
  size_t cap, n;
  size_t no_room_for_modules;  // sites left out: the table's module list was full
  size_t names_too_long;       // explicit sites left out: the name does not fit an entry
  // The table's index of each loaded module (callsite::GetModule's), plus one; 0: not
  // interned yet.
  uint16_t table_module[callsite::kMaxModules];
};

// The table's index for loaded module `index`, interned by (build-id, path); -1 when the
// module has no key that survives a restart, or the table has no room for it.
int InternModule(Collect* c, int index) {
  const callsite::Module* m = callsite::GetModule(index);
  if (m == nullptr || index < 0 || index >= callsite::kMaxModules) return -1;
  if (m->build_id[0] == '\0' && m->path[0] == '\0') return -1;
  if (c->table_module[index] != 0) return c->table_module[index] - 1;
  TableMeta& meta = *c->meta;
  uint32_t i = 0;
  while (i < meta.num_modules && (strcmp(meta.modules[i].build_id_hex, m->build_id) != 0 ||
                                  strcmp(meta.modules[i].path, m->path) != 0)) {
    ++i;
  }
  if (i == meta.num_modules) {
    if (i == kMaxTableModules) return -1;
    memcpy(meta.modules[i].build_id_hex, m->build_id, sizeof(meta.modules[i].build_id_hex));
    memcpy(meta.modules[i].path, m->path, sizeof(meta.modules[i].path));
    meta.modules[i].build_id_hex[sizeof(meta.modules[i].build_id_hex) - 1] = '\0';
    meta.modules[i].path[sizeof(meta.modules[i].path) - 1] = '\0';
    ++meta.num_modules;
  }
  c->table_module[index] = static_cast<uint16_t>(i + 1);
  return static_cast<int>(i);
}

void CollectSite(uintptr_t site, const BandView* bands, void* arg) {
  auto* c = static_cast<Collect*>(arg);
  bool seen = false;
  for (int b = 0; b < kNumBands; ++b) seen = seen || bands[b].seen;
  if (!seen || c->n == c->cap) return;
  const char* name = nullptr;
  TableFrame frames[kMaxTableFrames];
  int depth = 0;
  if (site & callsite::kNamedSiteBit) {
    callsite::SiteTable& t = callsite::Sites();
    const callsite::Site* s = t.Get(t.FindOrInsert(site));
    name = s != nullptr ? s->name : nullptr;
    if (name == nullptr) return;  // an explicit site whose name is unknown cannot be keyed
    // An entry's key is its name: cut short, it would be another site's key (two long
    // names sharing their first 63 bytes would be one), and the frozen run would apply
    // the decisions to neither, or to a site of that shorter name.
    if (strlen(name) >= sizeof(TableEntry::site_name)) {
      ++c->names_too_long;
      return;
    }
  } else {
    // A bare return address (no context was interned for it) or the overflow bucket has
    // no frames to key it by.
    const callsite::Context* ctx = callsite::FindContext(site);
    if (ctx == nullptr) return;
    depth = ctx->depth < kMaxTableFrames ? ctx->depth : kMaxTableFrames;
    for (int i = 0; i < depth; ++i) {
      // A frame in code outside every module (JIT): no key survives a restart.
      const callsite::Module* m = callsite::GetModule(ctx->code[i].module);
      if (m == nullptr || (m->build_id[0] == '\0' && m->path[0] == '\0')) return;
    }
    for (int i = 0; i < depth; ++i) {
      const int module = InternModule(c, ctx->code[i].module);
      if (module < 0) {
        ++c->no_room_for_modules;
        return;
      }
      frames[i] = TableFrame{static_cast<uint32_t>(module), ctx->code[i].offset};
    }
  }
  for (int b = 0; b < kNumBands; ++b) {
    const BandView& v = bands[b];
    if (!v.seen || c->n == c->cap) continue;
    TableEntry& e = c->entries[c->n++];
    memset(&e, 0, sizeof(e));
    if (name != nullptr) {
      strncpy(e.site_name, name, sizeof(e.site_name) - 1);
    } else {
      memcpy(e.frames, frames, sizeof(TableFrame) * static_cast<size_t>(depth));
      e.num_frames = static_cast<uint32_t>(depth);
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
  // ~150 KiB (the module list): mapped, not on the stack of whatever thread starts us.
  auto* meta = why == nullptr ? static_cast<TableMeta*>(os::Map(sizeof(TableMeta))) : nullptr;
  if (why == nullptr && meta == nullptr) why = "out of memory";
  if (why == nullptr) why = DecodeTableFile(data, size, meta, entries, n, &n);
  os::Unmap(data, size);
  if (why != nullptr) {
    Say("invalid frozen table", path, why, kThen);
    if (entries != nullptr) os::Unmap(entries, entries_bytes);
    if (meta != nullptr) os::Unmap(meta, sizeof(TableMeta));
    return 0;
  }
  // An entry is this program's when it is an explicit site or its allocation call
  // (frame 0) is in a loaded module. Keys need no module to be loaded, so entries of
  // other modules are published too (a module dlopen()ed later then finds its decisions),
  // after this program's, which thus win any contested route slot. A table none of whose
  // entries is this program's publishes nothing.
  enum : uint8_t { kUnknown = 0, kLoaded = 1, kAbsent = 2 };
  uint8_t loaded[kMaxTableModules] = {};
  auto ours = [&](const TableEntry& e) {
    if (e.site_name[0] != '\0') return true;
    uint8_t& state = loaded[e.frames[0].module];
    if (state == kUnknown) {
      const TableModule& m = meta->modules[e.frames[0].module];
      uintptr_t base;
      state = callsite::FindLoadedModule(m.build_id_hex, m.path, &base) ? kLoaded : kAbsent;
    }
    return state == kLoaded;
  };
  size_t published = 0, matched = 0;
  for (size_t i = 0; i < n; ++i) matched += ours(entries[i]) ? 1 : 0;
  for (int pass = 0; pass < 2 && matched > 0; ++pass) {
    for (size_t i = 0; i < n; ++i) {
      const TableEntry& e = entries[i];
      if (e.strategy < 0 || ours(e) != (pass == 0)) continue;
      published += PublishRouteDecision(KeyOf(*meta, e), e.band,
                                        static_cast<Strategy>(e.strategy + 1)) ? 1 : 0;
    }
  }
  os::Unmap(entries, entries_bytes);
  if (n > 0 && matched == 0) {
    char why_buf[700];
    Formatter f(why_buf, sizeof(why_buf));
    f.Str("none of its ").Uint(n).Str(" entries names a module of this program (made for ");
    f.Str(meta->num_runs > 0 ? meta->runs[0].program : "an unknown program").Str(")");
    Say("frozen table", path, why_buf, kThen);
  }
  os::Unmap(meta, sizeof(TableMeta));
  return published;
}

bool FreezeTo(const char* pattern) {
  // %p: the pid, so that each process of a program (a forked child) keeps its own table.
  char path[4200];
  ExpandPid(pattern, path, sizeof(path));
  size_t n = 0;
  ForEachSite(CountSite, &n);
  const size_t entries_bytes = (n == 0 ? 1 : n) * sizeof(TableEntry);
  auto* entries = static_cast<TableEntry*>(os::Map(entries_bytes));
  if (entries == nullptr) {
    Say("cannot write HAKMEM_FREEZE_TO", path, "out of memory", "");
    return false;
  }
  // Mapped (zeroed), not on the stack: the module list makes these ~150 KiB each.
  auto* meta_ptr = static_cast<TableMeta*>(os::Map(sizeof(TableMeta)));
  auto* c_ptr = static_cast<Collect*>(os::Map(sizeof(Collect)));
  if (meta_ptr == nullptr || c_ptr == nullptr) {
    if (meta_ptr != nullptr) os::Unmap(meta_ptr, sizeof(TableMeta));
    if (c_ptr != nullptr) os::Unmap(c_ptr, sizeof(Collect));
    os::Unmap(entries, entries_bytes);
    Say("cannot write HAKMEM_FREEZE_TO", path, "out of memory", "");
    return false;
  }
  TableMeta& meta = *meta_ptr;
  Collect& c = *c_ptr;
  c.meta = &meta;
  c.entries = entries;
  c.cap = n;
  ForEachSite(CollectSite, &c);
  if (c.names_too_long > 0) {
    char why[200];
    Formatter f(why, sizeof(why));
    f.Uint(c.names_too_long).Str(" explicit sites left out: their names are longer than ")
        .Uint(sizeof(TableEntry::site_name) - 1).Str(" bytes");
    Say("HAKMEM_FREEZE_TO", path, why, "");
  }
  if (c.no_room_for_modules > 0) {
    char why[200];
    Formatter f(why, sizeof(why));
    f.Uint(c.no_room_for_modules).Str(" sites left out: their contexts name more than ")
        .Uint(kMaxTableModules).Str(" modules in all");
    Say("HAKMEM_FREEZE_TO", path, why, "");
  }
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
  os::Unmap(c_ptr, sizeof(Collect));
  os::Unmap(meta_ptr, sizeof(TableMeta));
  if (written == 0) {
    if (buf != nullptr) os::Unmap(buf, bytes == 0 ? 1 : bytes);
    Say("cannot write HAKMEM_FREEZE_TO", path, "encoding failed", "");
    return false;
  }
  // Atomically: a reader sees the old table or the new one, never half of one.
  AtomicFile file(path);
  file.Write(buf, written);
  const bool ok = file.Commit();
  const char* why = file.why();
  os::Unmap(buf, bytes);
  if (!ok) Say("cannot write HAKMEM_FREEZE_TO", path, why, "");
  return ok;
}

}  // namespace learner
}  // namespace hakmem
