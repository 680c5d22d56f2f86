#include "callsite/report.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "callsite/context.h"
#include "callsite/module_map.h"
#include "callsite/profiler.h"
#include "callsite/symbolizer.h"
#include "core/atomic_file.h"
#include "core/format.h"
#include "core/learner_hooks.h"
#include "core/options.h"
#include "core/os.h"

namespace hakmem {
namespace callsite {
namespace {

// Buffered output to a file written atomically, in static storage: the report runs at
// exit and must not allocate.
class Out {
 public:
  explicit Out(AtomicFile* file) : file_(file) {}
  ~Out() { Flush(); }
  void Raw(const char* s, size_t n) {
    while (n > 0) {
      if (len_ == sizeof(buf_)) Flush();
      const size_t k = n < sizeof(buf_) - len_ ? n : sizeof(buf_) - len_;
      memcpy(buf_ + len_, s, k);
      len_ += k;
      s += k;
      n -= k;
    }
  }
  void Str(const char* s) { Raw(s, strlen(s)); }
  void Uint(uint64_t v) {
    char b[32];
    Formatter f(b, sizeof(b));
    f.Uint(v);
    Raw(b, f.size());
  }
  void Int(int64_t v) {
    char b[32];
    Formatter f(b, sizeof(b));
    f.Int(v);
    Raw(b, f.size());
  }
  // Estimates: whole numbers (rounded); the fractional part of an estimate means nothing.
  void Estimate(double v) { Uint(static_cast<uint64_t>(v < 0 ? 0 : v + 0.5)); }
  void Quoted(const char* s) {
    Raw("\"", 1);
    for (; *s != '\0'; ++s) {
      const unsigned char c = static_cast<unsigned char>(*s);
      if (c == '"' || c == '\\') {
        const char e[2] = {'\\', static_cast<char>(c)};
        Raw(e, 2);
      } else if (c < 0x20) {
        char e[8] = {'\\', 'u', '0', '0', "0123456789abcdef"[c >> 4], "0123456789abcdef"[c & 15]};
        Raw(e, 6);
      } else {
        Raw(s, 1);
      }
    }
    Raw("\"", 1);
  }
  void QuotedOrNull(const char* s) {
    if (s == nullptr || *s == '\0') {
      Str("null");
    } else {
      Quoted(s);
    }
  }
  bool ok() const { return ok_; }
  void Flush() {
    if (ok_ && len_ > 0) ok_ = file_->Write(buf_, len_);
    len_ = 0;
  }

 private:
  AtomicFile* file_;
  char buf_[16384];
  size_t len_ = 0;
  bool ok_ = true;
};

void Histogram(Out& o, const double* h, int n, bool sizes) {
  o.Str("{");
  bool first = true;
  for (int b = 0; b < n; ++b) {
    if (h[b] < 0.5) continue;
    if (!first) o.Str(", ");
    first = false;
    // Keys: the bucket's upper bound (bytes, or nanoseconds for lifetimes).
    char key[32];
    Formatter f(key, sizeof(key));
    if (sizes) {
      f.Uint(SizeBucketLimit(b));
    } else {
      f.Uint((uint64_t{2} << b) - 1);
    }
    o.Quoted(key);
    o.Str(": ");
    o.Estimate(h[b]);
  }
  o.Str("}");
}

void KeyHex(Out& o, uintptr_t key) {
  char b[24];
  Formatter f(b, sizeof(b));
  f.Str("\"").Hex(key).Str("\"");
  o.Raw(b, f.size());
}

// One frame of a context: where it is (module, build-id, offset) and what it is.
void Frame(Out& o, const Context& ctx, int i) {
  const Module* m = GetModule(ctx.code[i].module);
  Symbol sym;
  Symbolize(ctx.address[i], &sym);
  o.Str("{\"module\": ");
  o.QuotedOrNull(m != nullptr ? m->path : nullptr);
  o.Str(", \"build_id\": ");
  o.QuotedOrNull(m != nullptr ? m->build_id : nullptr);
  o.Str(", \"offset\": ");
  o.Uint(ctx.code[i].offset);
  o.Str(", \"symbol\": ");
  o.QuotedOrNull(sym.function);
  o.Str(", \"file\": ");
  o.QuotedOrNull(sym.file);
  o.Str(", \"line\": ");
  o.Uint(static_cast<uint64_t>(sym.line));
  o.Str("}");
}

void Complain(const char* path, const char* what) {
  char buf[700];
  Formatter f(buf, sizeof(buf));
  f.Str("hakmem: cannot write HAKMEM_SITE_REPORT='").Str(path).Str("': ").Str(what).Str("\n");
  os::WriteStderr(buf, f.size());
}

}  // namespace

bool WriteSiteReport(const char* pattern) {
  ScopedNoProfiling no_profiling;  // libdw allocates; those are not the program's sites
  // %p: the pid, so that the processes of one program keep their reports apart. Without
  // it they share one file, and each writes it whole (atomically): the last one wins.
  char path[4200];
  ExpandPid(pattern, path, sizeof(path));
  AtomicFile file(path);
  if (!file.ok()) {
    Complain(path, file.why());
    return false;
  }
  bool ok;
  {
    Out o(&file);
    o.Str("{\"sample_bytes\": ");
    o.Uint(static_cast<uint64_t>(GetOption(Option::kSampleBytes)));
    o.Str(",\n \"sites\": [");
    bool first = true;
    ForEachSite([&](const SiteSnapshot& s) {
      o.Str(first ? "\n  {" : ",\n  {");
      first = false;
      o.Str("\"key\": ");
      KeyHex(o, s.key);
      if (s.context != nullptr) {
        // The site's name: the innermost frame outside the wrappers (context.h).
        const int named = WrapperFrames(*s.context);
        Symbol name_sym;
        Symbolize(s.context->address[named], &name_sym);
        o.Str(", \"name\": ");
        o.QuotedOrNull(name_sym.function);
        o.Str(", \"name_frame\": ");
        o.Uint(static_cast<uint64_t>(named));
        o.Str(",\n   \"context\": [");
        for (int i = 0; i < s.context->depth; ++i) {
          if (i > 0) o.Str(", ");
          Frame(o, *s.context, i);
        }
        o.Str("],\n   ");
      } else {
        o.Str(", \"name\": ");
        o.QuotedOrNull(s.overflow ? "(overflow)" : s.name);
        o.Str(", \"name_frame\": 0, \"context\": [],\n   ");
      }
      o.Str("\"module\": ");
      if (s.overflow) {
        o.Quoted("(overflow)");
      } else if (s.name != nullptr) {
        o.Quoted("(named)");
      } else {
        o.QuotedOrNull(s.module);
      }
      o.Str(", \"build_id\": ");
      o.QuotedOrNull(s.build_id);
      o.Str(", \"offset\": ");
      o.Uint(s.offset);
      Symbol sym;
      Symbolize(s.address, &sym);
      o.Str(", \"symbol\": ");
      o.QuotedOrNull(s.name != nullptr ? s.name : sym.function);
      o.Str(", \"file\": ");
      o.QuotedOrNull(sym.file);
      o.Str(", \"line\": ");
      o.Uint(static_cast<uint64_t>(sym.line));
      o.Str(",\n   \"allocs\": ");
      o.Estimate(s.allocs);
      o.Str(", \"allocs_estimated\": ");
      o.Str(s.estimated ? "true" : "false");
      o.Str(", \"records\": ");
      o.Uint(s.records);
      o.Str(", \"frees\": ");
      o.Estimate(s.frees);
      o.Str(", \"cross_thread_frees\": ");
      o.Estimate(s.cross_thread_frees);
      o.Str(", \"bytes\": ");
      o.Uint(s.bytes);
      o.Str(", \"live_bytes\": ");
      o.Int(s.live_bytes);
      o.Str(", \"peak_live_bytes\": ");
      o.Int(s.peak_live_bytes);
      if (&LearnerDescribeSite != nullptr && s.key != 0) {
        char learned[512];
        const size_t n = LearnerDescribeSite(s.key, learned, sizeof(learned));
        if (n > 0) {
          o.Str(",\n   ");
          o.Raw(learned, n);
        }
      }
      o.Str(",\n   \"size_histogram\": ");
      Histogram(o, s.size_histogram, kSizeBuckets, true);
      o.Str(",\n   \"lifetime_histogram\": ");
      Histogram(o, s.lifetime_histogram, kLifetimeBuckets, false);
      o.Str("}");
    });
    o.Str("\n ],\n \"dropped_sites\": ");
    o.Uint(DroppedSites());
    o.Str(",\n \"context_depth\": ");
    o.Uint(static_cast<uint64_t>(GetOption(Option::kContextDepth)));
    o.Str(", \"dropped_contexts\": ");
    o.Uint(DroppedContexts());
    o.Str("\n}\n");
    o.Flush();
    ok = o.ok() && file.Commit();
  }
  if (!ok) Complain(path, file.why() != nullptr ? file.why() : "write failed");
  return ok;
}

namespace {

// At exit (after the program's own exit handlers registered before us). Allocation
// keeps working afterwards; the report only reads the table.
__attribute__((destructor)) void WriteReportAtExit() {
  const char* path = GetStringOption(Option::kSiteReport);
  if (path != nullptr) WriteSiteReport(path);
}

}  // namespace

}  // namespace callsite
}  // namespace hakmem
