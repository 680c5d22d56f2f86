#include "learner/learn_log.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "core/atomic_file.h"
#include "callsite/context.h"
#include "callsite/module_map.h"
#include "callsite/profiler.h"
#include "callsite/symbolizer.h"
#include "core/arena.h"
#include "core/format.h"
#include "core/options.h"
#include "core/os.h"
#include "learner/curves.h"

namespace hakmem {
namespace learner {
namespace {

// Appends `text` as one CSV field: quoted (quotes doubled) when it holds a comma, a quote
// or a line break.
void CsvField(Formatter* f, const char* text) {
  const bool quote = strpbrk(text, ",\"\r\n") != nullptr;
  if (quote) f->Str("\"");
  for (const char* c = text; *c != '\0'; ++c) {
    const char one[3] = {*c, *c == '"' ? '"' : '\0', '\0'};
    f->Str(one);
  }
  if (quote) f->Str("\"");
}

const char* Basename(const char* path) {
  const char* slash = strrchr(path, '/');
  return slash != nullptr ? slash + 1 : path;
}

// "libfoo.so+0x1234": a module's basename and an offset in it.
void CodeText(Formatter* f, const callsite::CodeKey& code, uintptr_t address) {
  const callsite::Module* m = callsite::GetModule(code.module);
  if (m != nullptr) {
    f->Str(Basename(m->path)).Str("+").Hex(code.offset);
  } else {
    f->Hex(address);  // outside every module (JIT)
  }
}

}  // namespace

bool WriteLearnLog(const char* pattern) {
  callsite::ScopedNoProfiling no_profiling;  // the symbolizer allocates
  // %p: the pid; without it the processes of one program share the file, each writing
  // it whole (atomically), and the last one wins.
  char path[4200];
  ExpandPid(pattern, path, sizeof(path));
  AtomicFile file(path);
  if (!file.ok()) {
    char buf[4400];
    Formatter f(buf, sizeof(buf));
    f.Str("hakmem: cannot write HAKMEM_LEARN_LOG='").Str(path).Str("': ").Str(file.why()).Str("\n");
    os::WriteStderr(buf, f.size());
    return false;
  }
  bool ok = true;
  auto put = [&](const char* s, size_t n) { ok = ok && file.Write(s, n); };
  static const char kHeader[] =
      "t_ms,site,symbol,band,pool_rating,bigcache_rating,mmap_rating,"
      "pool_samples,bigcache_samples,mmap_samples,chosen,context_key,context\n";
  put(kHeader, sizeof(kHeader) - 1);
  // A copy of the kept matches (the learner may still be adding to them), in memory of
  // our own: hakmem's metadata never comes from malloc.
  const size_t cap = MatchesKept();
  const size_t map_bytes = (cap == 0 ? 1 : cap) * sizeof(MatchRecord);
  MatchRecord* recs = static_cast<MatchRecord*>(os::Map(map_bytes));
  const size_t n = recs != nullptr ? ReadMatches(recs, cap, nullptr) : 0;
  // Sites repeat: name each once (the last one named is cached). A calling context is
  // named by its frame 0 (the allocation call) in `site` and `symbol`, and in full in
  // `context`; other keys (explicit sites, bare addresses) have an empty `context`.
  uintptr_t named_site = 0;
  char site_text[2 * 600 + 3] = "";
  char symbol[1100] = "";
  // Room for a field quoted whole with every character doubled: never cut mid-quote.
  char context_text[2 * 4200 + 3] = "";
  for (size_t i = 0; i < n && ok; ++i) {
    const MatchRecord& r = recs[i];
    if (r.site != named_site) {
      named_site = r.site;
      const callsite::Context* ctx = callsite::FindContext(r.site);
      const uintptr_t address = ctx != nullptr ? ctx->address[0] : r.site;
      const callsite::CodeKey code = ctx != nullptr ? ctx->code[0] : callsite::ResolveAddress(r.site);
      char text[600];
      Formatter t(text, sizeof(text));
      CodeText(&t, code, address);
      Formatter s(site_text, sizeof(site_text));
      CsvField(&s, text);
      Formatter c(context_text, sizeof(context_text));
      char frames[4200];
      Formatter fr(frames, sizeof(frames));
      for (int k = 0; ctx != nullptr && k < ctx->depth; ++k) {
        if (k > 0) fr.Str(";");
        CodeText(&fr, ctx->code[k], ctx->address[k]);
      }
      CsvField(&c, frames);
      callsite::Symbol sym;
      callsite::Symbolize(address, &sym);
      Formatter y(symbol, sizeof(symbol));
      CsvField(&y, sym.function);
    }
    char line[sizeof(site_text) + sizeof(symbol) + sizeof(context_text) + 400];
    Formatter f(line, sizeof(line));
    f.Fixed(static_cast<double>(r.time_ns) / 1e6, 3).Str(",");
    f.Str(site_text).Str(",").Str(symbol).Str(",").Str(kBandNames[r.band]);
    // Every eligible strategy plays in a match (none plays before all have windows).
    for (int k = 0; k < kNumLearnedStrategies; ++k) {
      f.Str(",");
      if (r.played & (1u << k)) f.Fixed(r.part[k].rating, 1);
    }
    for (int k = 0; k < kNumLearnedStrategies; ++k) {
      f.Str(",");
      if (r.played & (1u << k)) f.Uint(r.part[k].samples);
    }
    f.Str(",").Str(r.chosen >= 0 ? kStrategyNames[r.chosen] : "");
    f.Str(",").Hex(r.site).Str(",").Str(context_text).Str("\n");
    put(line, f.size());
  }
  if (recs != nullptr) os::Unmap(recs, map_bytes);
  ok = ok && file.Commit();
  if (!ok) {
    char buf[4400];
    Formatter f(buf, sizeof(buf));
    f.Str("hakmem: cannot write HAKMEM_LEARN_LOG='").Str(path).Str("': ")
        .Str(file.why() != nullptr ? file.why() : "write failed").Str("\n");
    os::WriteStderr(buf, f.size());
  }
  return ok;
}

}  // namespace learner
}  // namespace hakmem
