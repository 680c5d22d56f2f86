#include "learner/table_codec.h"

#include "core/format.h"

#include <string.h>

namespace hakmem {
namespace learner {
namespace {

// ---- wire format -------------------------------------------------------------------

enum WireType : int {
  kVarint = 0,
  kFixed64 = 1,
  kLen = 2,
  kStartGroup = 3,
  kEndGroup = 4,
  kFixed32 = 5,
};

// Field numbers, from frozen_table.proto.
namespace file_field {
enum : uint32_t { kMagic = 1, kFormatVersion = 2, kTable = 3, kTableFnv1a64 = 4 };
}
namespace table_field {
enum : uint32_t {
  kHakmemVersion = 1,
  kCreatedUnixMs = 2,
  kParams = 3,
  kRuns = 4,
  kEntries = 5,
  kModules = 6,
};
}
namespace module_field {
enum : uint32_t { kId = 1, kBuildIdHex = 2, kPath = 3 };
}
namespace frame_field {
enum : uint32_t { kModuleId = 1, kOffsetBytes = 2 };
}
namespace entry_field {
// 1-3 were format version 1's module build-id, module path and offset: reserved.
enum : uint32_t { kSiteName = 4, kSizeBand = 5, kStrategy = 6, kStats = 7, kFrames = 8 };
}
namespace stats_field {
enum : uint32_t { kStrategy = 1, kRatingElo = 2, kSamples = 3, kMeanCostNs = 4 };
}
namespace params_field {
enum : uint32_t {
  kEloInitialRating = 1,
  kEloKFactor = 2,
  kEloScalePoints = 3,
  kDrawMarginFraction = 4,
  kMinSamples = 5,
  kCommitMarginPoints = 6,
  kExploreRateFraction = 7,
  kWeightTime = 8,
  kWeightFaults = 9,
  kWeightIdleNsPerMibSecond = 10,
  kFaultCostNs = 11,
};
}
namespace run_field {
enum : uint32_t { kProgramPath = 1, kPid = 2, kStartUnixMs = 3, kDurationMs = 4 };
}

inline constexpr int kNumBands = 3;  // core/strategy.h

// core/strategy.h Eligible(), by StrategyIndex.
bool EligibleForBand(int idx, int band) { return idx != kIdxPool || band == 0; }

// Every file starts with the magic field: tag (1 << 3 | fixed32), then "HAKM".
const uint8_t kFilePrefix[5] = {0x0d, 'H', 'A', 'K', 'M'};

uint64_t DoubleBits(double d) {
  uint64_t u;
  memcpy(&u, &d, sizeof(u));
  return u;
}

bool IsFinite(double d) { return (DoubleBits(d) & 0x7ff0000000000000ull) != 0x7ff0000000000000ull; }

size_t StrLen(const char* s, size_t buffer_size) { return strnlen(s, buffer_size - 1); }

// ---- encoding ----------------------------------------------------------------------

// Appends to buf[0, cap) and counts what it would have written past the end, so the
// same code both sizes (buf == nullptr) and writes. Fields at their proto3 default are
// left out, as libprotobuf does (a double is left out only when all its bits are zero).
class Writer {
 public:
  Writer(uint8_t* buf, size_t cap) : buf_(buf), cap_(cap) {}

  size_t pos() const { return pos_; }
  bool fits() const { return pos_ <= cap_; }
  const uint8_t* data() const { return buf_; }

  void Byte(uint8_t b) {
    if (buf_ != nullptr && pos_ < cap_) buf_[pos_] = b;
    ++pos_;
  }
  void Varint(uint64_t v) {
    while (v >= 0x80) {
      Byte(static_cast<uint8_t>(v | 0x80));
      v >>= 7;
    }
    Byte(static_cast<uint8_t>(v));
  }
  void Tag(uint32_t field, WireType wt) { Varint(uint64_t{field} << 3 | wt); }
  void Fixed(uint64_t v, int bytes) {
    for (int i = 0; i < bytes; ++i) Byte(static_cast<uint8_t>(v >> (8 * i)));
  }
  void Raw(const void* p, size_t len) {
    if (buf_ != nullptr && pos_ <= cap_ && len <= cap_ - pos_) memcpy(buf_ + pos_, p, len);
    pos_ += len;
  }

  void VarintField(uint32_t field, uint64_t v) {
    if (v == 0) return;
    Tag(field, kVarint);
    Varint(v);
  }
  void DoubleField(uint32_t field, double d) {
    const uint64_t bits = DoubleBits(d);
    if (bits == 0) return;
    Tag(field, kFixed64);
    Fixed(bits, 8);
  }
  // A C string from a buffer of `buffer_size` bytes.
  void StringField(uint32_t field, const char* s, size_t buffer_size) {
    const size_t len = StrLen(s, buffer_size);
    if (len == 0) return;
    Tag(field, kLen);
    Varint(len);
    Raw(s, len);
  }
  // A submessage: its length, counted by a dry run of `body`, then the body.
  template <typename Body>
  void MessageField(uint32_t field, Body body) {
    Writer counter(nullptr, 0);
    body(&counter);
    Tag(field, kLen);
    Varint(counter.pos());
    body(this);
  }

 private:
  uint8_t* buf_;
  size_t cap_;
  size_t pos_ = 0;
};

void WriteParams(Writer* w, const LearnParams& p) {
  using namespace params_field;
  w->DoubleField(kEloInitialRating, p.elo_initial_rating);
  w->DoubleField(kEloKFactor, p.elo_k_factor);
  w->DoubleField(kEloScalePoints, p.elo_scale);
  w->DoubleField(kDrawMarginFraction, p.draw_margin);
  w->VarintField(kMinSamples, p.min_samples);
  w->DoubleField(kCommitMarginPoints, p.commit_margin);
  w->DoubleField(kExploreRateFraction, p.explore_rate);
  w->DoubleField(kWeightTime, p.weight_time);
  w->DoubleField(kWeightFaults, p.weight_faults);
  w->DoubleField(kWeightIdleNsPerMibSecond, p.weight_idle_ns_per_mib_second);
  w->DoubleField(kFaultCostNs, p.fault_ns);
}

void WriteRun(Writer* w, const RunInfo& r) {
  using namespace run_field;
  w->StringField(kProgramPath, r.program, sizeof(r.program));
  w->VarintField(kPid, r.pid);
  w->VarintField(kStartUnixMs, r.start_unix_ms);
  w->VarintField(kDurationMs, r.duration_ms);
}

void WriteStats(Writer* w, const TableEntry& e, int idx) {
  using namespace stats_field;
  w->VarintField(kStrategy, static_cast<uint64_t>(idx) + 1);
  w->DoubleField(kRatingElo, e.rating[idx]);
  w->VarintField(kSamples, e.samples[idx]);
  w->DoubleField(kMeanCostNs, e.mean_cost_ns[idx]);
}

void WriteModule(Writer* w, const TableModule& m, uint32_t index) {
  using namespace module_field;
  w->VarintField(kId, uint64_t{index} + 1);
  w->StringField(kBuildIdHex, m.build_id_hex, sizeof(m.build_id_hex));
  w->StringField(kPath, m.path, sizeof(m.path));
}

void WriteFrame(Writer* w, const TableFrame& f) {
  using namespace frame_field;
  w->VarintField(kModuleId, uint64_t{f.module} + 1);
  w->VarintField(kOffsetBytes, f.offset);
}

void WriteEntry(Writer* w, const TableEntry& e) {
  using namespace entry_field;
  w->StringField(kSiteName, e.site_name, sizeof(e.site_name));
  // Enums are int32 on the wire: a negative value is sign-extended to ten bytes.
  w->VarintField(kSizeBand, static_cast<uint64_t>(static_cast<int64_t>(e.band)));
  w->VarintField(kStrategy, static_cast<uint64_t>(static_cast<int64_t>(e.strategy) + 1));
  for (int i = 0; i < kNumLearnedStrategies; ++i) {
    if (e.eligible[i]) w->MessageField(kStats, [&](Writer* s) { WriteStats(s, e, i); });
  }
  const uint32_t frames = e.num_frames < kMaxTableFrames ? e.num_frames : kMaxTableFrames;
  for (uint32_t i = 0; i < frames; ++i) {
    w->MessageField(kFrames, [&](Writer* f) { WriteFrame(f, e.frames[i]); });
  }
}

void WriteTable(Writer* w, const TableMeta& meta, const TableEntry* entries, size_t n) {
  using namespace table_field;
  w->StringField(kHakmemVersion, meta.hakmem_version, sizeof(meta.hakmem_version));
  w->VarintField(kCreatedUnixMs, meta.created_unix_ms);
  w->MessageField(kParams, [&](Writer* p) { WriteParams(p, meta.params); });
  const uint32_t runs = meta.num_runs < kMaxRuns ? meta.num_runs : kMaxRuns;
  for (uint32_t i = 0; i < runs; ++i) {
    w->MessageField(kRuns, [&](Writer* r) { WriteRun(r, meta.runs[i]); });
  }
  for (size_t i = 0; i < n; ++i) {
    w->MessageField(kEntries, [&](Writer* e) { WriteEntry(e, entries[i]); });
  }
  const uint32_t modules = meta.num_modules < kMaxTableModules
                               ? meta.num_modules
                               : static_cast<uint32_t>(kMaxTableModules);
  for (uint32_t i = 0; i < modules; ++i) {
    w->MessageField(kModules, [&](Writer* m) { WriteModule(m, meta.modules[i], i); });
  }
}

size_t WriteFile(const TableMeta& meta, const TableEntry* entries, size_t n, uint8_t* buf,
                 size_t cap) {
  Writer w(buf, cap);
  w.Tag(file_field::kMagic, kFixed32);
  w.Fixed(kTableMagic, 4);
  w.VarintField(file_field::kFormatVersion, kTableFormatVersion);
  Writer counter(nullptr, 0);
  WriteTable(&counter, meta, entries, n);
  const size_t table_size = counter.pos();
  if (table_size > 0) {  // libprotobuf leaves out empty bytes; ours never is empty
    w.Tag(file_field::kTable, kLen);
    w.Varint(table_size);
  }
  const size_t table_start = w.pos();
  WriteTable(&w, meta, entries, n);
  uint64_t sum = kFnv1a64Basis;
  if (buf != nullptr && w.fits()) sum = Fnv1a64(buf + table_start, table_size);
  w.Tag(file_field::kTableFnv1a64, kFixed64);
  w.Fixed(sum, 8);
  return w.pos();
}

// ---- reasons -----------------------------------------------------------------------

// The last failure's reason. Not thread-safe (documented): decoding fails rarely, and
// only at load time.
char g_reason[256];

// Builds a reason into g_reason (core/format.h's Formatter: truncates, never fails).
class Reason {
 public:
  Reason() : f_(g_reason, sizeof(g_reason)) {}
  Reason& S(const char* s) {
    f_.Str(s);
    return *this;
  }
  Reason& U(uint64_t v) {
    f_.Uint(v);
    return *this;
  }
  Reason& I(int64_t v) {
    f_.Int(v);
    return *this;
  }
  const char* str() const { return f_.data(); }

 private:
  Formatter f_;
};

// "<what> <index>: <reason>". `reason` may be g_reason itself.
const char* InContext(const char* what, uint64_t index, const char* reason) {
  char inner[sizeof(g_reason)];
  strncpy(inner, reason, sizeof(inner) - 1);
  inner[sizeof(inner) - 1] = '\0';
  return Reason().S(what).S(" ").U(index).S(": ").S(inner).str();
}

const char kTruncated[] = "truncated";

// ---- decoding ----------------------------------------------------------------------

// A bounded view of wire data. Every read checks the bounds first.
struct Reader {
  const uint8_t* p;
  const uint8_t* end;

  bool done() const { return p >= end; }
  size_t left() const { return static_cast<size_t>(end - p); }

  const char* Varint(uint64_t* v) {
    uint64_t x = 0;
    for (int i = 0; i < 10; ++i) {
      if (p >= end) return kTruncated;
      const uint8_t b = *p++;
      if (i == 9 && b > 1) return "malformed varint (over 64 bits)";
      x |= uint64_t{b & 0x7fu} << (7 * i);
      if ((b & 0x80) == 0) {
        *v = x;
        return nullptr;
      }
    }
    return "malformed varint (over 10 bytes)";
  }
  const char* Fixed(int bytes, uint64_t* v) {
    if (left() < static_cast<size_t>(bytes)) return kTruncated;
    uint64_t x = 0;
    for (int i = 0; i < bytes; ++i) x |= uint64_t{p[i]} << (8 * i);
    p += bytes;
    *v = x;
    return nullptr;
  }
  const char* Double(double* d) {
    uint64_t bits;
    if (const char* err = Fixed(8, &bits)) return err;
    memcpy(d, &bits, sizeof(*d));
    return nullptr;
  }
  const char* Len(Reader* sub) {
    uint64_t len;
    if (const char* err = Varint(&len)) return err;
    if (len > left()) return kTruncated;
    sub->p = p;
    sub->end = p + len;
    p += len;
    return nullptr;
  }
  const char* Tag(uint32_t* field, int* wt) {
    uint64_t tag;
    if (const char* err = Varint(&tag)) return err;
    if (tag > 0xffffffffu || (tag >> 3) == 0) {
      return Reason().S("malformed field tag ").U(tag).str();
    }
    *field = static_cast<uint32_t>(tag >> 3);
    *wt = static_cast<int>(tag & 7);
    return nullptr;
  }

  // Skips the value of an unknown field (forward compatibility). Groups are skipped
  // whole; wire types 6 and 7 do not exist.
  const char* Skip(uint32_t field, int wt) {
    constexpr int kMaxGroupDepth = 32;
    uint32_t groups[kMaxGroupDepth];
    int depth = 0;
    for (;;) {
      uint64_t ignored;
      Reader sub;
      const char* err = nullptr;
      switch (wt) {
        case kVarint: err = Varint(&ignored); break;
        case kFixed64: err = Fixed(8, &ignored); break;
        case kLen: err = Len(&sub); break;
        case kFixed32: err = Fixed(4, &ignored); break;
        case kStartGroup:
          if (depth == kMaxGroupDepth) return "malformed (groups nested too deep)";
          groups[depth++] = field;
          break;
        case kEndGroup:
          if (depth == 0 || groups[depth - 1] != field) {
            return Reason().S("malformed (unmatched end of group ").U(field).S(")").str();
          }
          --depth;
          break;
        default:
          return Reason().S("unknown wire type ").U(static_cast<uint64_t>(wt)).S(" (field ")
              .U(field).S(")").str();
      }
      if (err != nullptr) return err;
      if (depth == 0) return nullptr;
      if (const char* e = Tag(&field, &wt)) return e;
    }
  }
};

const char* const kWireTypeNames[8] = {"varint", "fixed64", "length-delimited", "start-group",
                                       "end-group", "fixed32", "6", "7"};

// A known field with the wrong wire type: the data is not what it claims to be.
const char* CheckWireType(const char* message, uint32_t field, int wt, int want) {
  if (wt == want) return nullptr;
  return Reason().S(message).S(" field ").U(field).S(" is ").S(kWireTypeNames[wt & 7])
      .S(", expected ").S(kWireTypeNames[want]).str();
}

// Copies a string field into a NUL-terminated buffer of `buffer_size` bytes.
const char* CopyString(const Reader& value, char* dst, size_t buffer_size, const char* name) {
  const size_t len = value.left();
  if (len >= buffer_size) {
    return Reason().S(name).S(" is ").U(len).S(" bytes, longer than ").U(buffer_size - 1).str();
  }
  if (len > 0 && memchr(value.p, '\0', len) != nullptr) {
    return Reason().S(name).S(" contains a NUL byte").str();
  }
  memcpy(dst, value.p, len);
  dst[len] = '\0';
  return nullptr;
}

// Reads one field's value of the expected wire type, by kind.
#define HAK_EXPECT(message, want)                                                   \
  do {                                                                              \
    if (const char* err_ = CheckWireType(message, field, wt, want)) return err_;   \
  } while (0)
#define HAK_TRY(expr)                          \
  do {                                         \
    if (const char* err_ = (expr)) return err_; \
  } while (0)

const char* DecodeParams(Reader r, LearnParams* p) {
  static const char kMsg[] = "params";
  while (!r.done()) {
    uint32_t field;
    int wt;
    HAK_TRY(r.Tag(&field, &wt));
    double* d = nullptr;
    switch (field) {
      case params_field::kEloInitialRating: d = &p->elo_initial_rating; break;
      case params_field::kEloKFactor: d = &p->elo_k_factor; break;
      case params_field::kEloScalePoints: d = &p->elo_scale; break;
      case params_field::kDrawMarginFraction: d = &p->draw_margin; break;
      case params_field::kCommitMarginPoints: d = &p->commit_margin; break;
      case params_field::kExploreRateFraction: d = &p->explore_rate; break;
      case params_field::kWeightTime: d = &p->weight_time; break;
      case params_field::kWeightFaults: d = &p->weight_faults; break;
      case params_field::kWeightIdleNsPerMibSecond: d = &p->weight_idle_ns_per_mib_second; break;
      case params_field::kFaultCostNs: d = &p->fault_ns; break;
      case params_field::kMinSamples:
        HAK_EXPECT(kMsg, kVarint);
        HAK_TRY(r.Varint(&p->min_samples));
        continue;
      default:
        HAK_TRY(r.Skip(field, wt));
        continue;
    }
    HAK_EXPECT(kMsg, kFixed64);
    HAK_TRY(r.Double(d));
    if (!IsFinite(*d)) return Reason().S("params field ").U(field).S(" is not finite").str();
  }
  return nullptr;
}

const char* DecodeRun(Reader r, RunInfo* run) {
  static const char kMsg[] = "run";
  while (!r.done()) {
    uint32_t field;
    int wt;
    HAK_TRY(r.Tag(&field, &wt));
    Reader value;
    switch (field) {
      case run_field::kProgramPath:
        HAK_EXPECT(kMsg, kLen);
        HAK_TRY(r.Len(&value));
        HAK_TRY(CopyString(value, run->program, sizeof(run->program), "program_path"));
        break;
      case run_field::kPid:
        HAK_EXPECT(kMsg, kVarint);
        HAK_TRY(r.Varint(&run->pid));
        break;
      case run_field::kStartUnixMs:
        HAK_EXPECT(kMsg, kVarint);
        HAK_TRY(r.Varint(&run->start_unix_ms));
        break;
      case run_field::kDurationMs:
        HAK_EXPECT(kMsg, kVarint);
        HAK_TRY(r.Varint(&run->duration_ms));
        break;
      default:
        HAK_TRY(r.Skip(field, wt));
    }
  }
  return nullptr;
}

const char* StrategyValue(Reader* r, uint64_t* v) {
  HAK_TRY(r->Varint(v));
  if (*v > kNumLearnedStrategies) {
    return Reason().S("unknown strategy ").I(static_cast<int64_t>(*v)).str();
  }
  return nullptr;
}

const char* DecodeStats(Reader r, TableEntry* e) {
  static const char kMsg[] = "stats";
  uint64_t strategy = 0;
  double rating = 0, cost = 0;
  uint64_t samples = 0;
  while (!r.done()) {
    uint32_t field;
    int wt;
    HAK_TRY(r.Tag(&field, &wt));
    switch (field) {
      case stats_field::kStrategy:
        HAK_EXPECT(kMsg, kVarint);
        HAK_TRY(StrategyValue(&r, &strategy));
        break;
      case stats_field::kRatingElo:
        HAK_EXPECT(kMsg, kFixed64);
        HAK_TRY(r.Double(&rating));
        break;
      case stats_field::kSamples:
        HAK_EXPECT(kMsg, kVarint);
        HAK_TRY(r.Varint(&samples));
        break;
      case stats_field::kMeanCostNs:
        HAK_EXPECT(kMsg, kFixed64);
        HAK_TRY(r.Double(&cost));
        break;
      default:
        HAK_TRY(r.Skip(field, wt));
    }
  }
  if (strategy == 0) return "stats without a strategy";
  const int idx = static_cast<int>(strategy) - 1;
  const char* name = kStrategyNames[idx];
  if (e->eligible[idx]) return Reason().S("two stats for strategy ").S(name).str();
  if (!IsFinite(rating)) return Reason().S(name).S(" rating is not finite").str();
  if (!IsFinite(cost)) return Reason().S(name).S(" mean cost is not finite").str();
  if (cost < 0) return Reason().S(name).S(" mean cost is negative").str();
  e->eligible[idx] = true;
  e->rating[idx] = rating;
  e->samples[idx] = samples;
  e->mean_cost_ns[idx] = cost;
  return nullptr;
}

bool IsPrintableAscii(const char* s) {
  for (; *s != '\0'; ++s) {
    if (*s < 0x20 || *s > 0x7e) return false;
  }
  return true;
}

bool IsLowerHex(const char* s) {
  for (; *s != '\0'; ++s) {
    if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f'))) return false;
  }
  return true;
}

// A module, whose id must be `index` + 1 (ids number the modules in order).
const char* DecodeModule(Reader r, TableModule* m, uint32_t index) {
  static const char kMsg[] = "module";
  memset(m, 0, sizeof(*m));
  uint64_t id = 0;
  while (!r.done()) {
    uint32_t field;
    int wt;
    HAK_TRY(r.Tag(&field, &wt));
    Reader value;
    switch (field) {
      case module_field::kId:
        HAK_EXPECT(kMsg, kVarint);
        HAK_TRY(r.Varint(&id));
        break;
      case module_field::kBuildIdHex:
        HAK_EXPECT(kMsg, kLen);
        HAK_TRY(r.Len(&value));
        HAK_TRY(CopyString(value, m->build_id_hex, sizeof(m->build_id_hex), "build_id_hex"));
        if (!IsLowerHex(m->build_id_hex)) return "build_id_hex is not lowercase hex";
        break;
      case module_field::kPath:
        HAK_EXPECT(kMsg, kLen);
        HAK_TRY(r.Len(&value));
        HAK_TRY(CopyString(value, m->path, sizeof(m->path), "path"));
        break;
      default:
        HAK_TRY(r.Skip(field, wt));
    }
  }
  if (id != uint64_t{index} + 1) {
    return Reason().S("id ").U(id).S(", expected ").U(uint64_t{index} + 1)
        .S(" (ids number the modules 1, 2, ... in order)").str();
  }
  if (m->build_id_hex[0] == '\0' && m->path[0] == '\0') return "neither a build-id nor a path";
  return nullptr;
}

// A frame; *module_id is its module's id (checked against the module list by the caller,
// which may not have seen the modules yet).
const char* DecodeFrame(Reader r, TableFrame* f, uint64_t* module_id) {
  static const char kMsg[] = "frame";
  uint64_t id = 0, offset = 0;
  while (!r.done()) {
    uint32_t field;
    int wt;
    HAK_TRY(r.Tag(&field, &wt));
    switch (field) {
      case frame_field::kModuleId:
        HAK_EXPECT(kMsg, kVarint);
        HAK_TRY(r.Varint(&id));
        break;
      case frame_field::kOffsetBytes:
        HAK_EXPECT(kMsg, kVarint);
        HAK_TRY(r.Varint(&offset));
        break;
      default:
        HAK_TRY(r.Skip(field, wt));
    }
  }
  if (id == 0) return "no module id";
  if (id > kMaxTableModules) {
    return Reason().S("module id ").U(id).S(" is past the ").U(kMaxTableModules)
        .S(" modules a table can have").str();
  }
  f->module = static_cast<uint32_t>(id - 1);
  f->offset = offset;
  *module_id = id;
  return nullptr;
}

// The largest module id that frames name, and where (the first frame that names it), so
// that the table can check it once it has counted its modules.
struct ModuleRef {
  uint64_t id = 0;
  uint64_t entry = 0;
  uint32_t frame = 0;
};

const char* DecodeEntry(Reader r, TableEntry* e, uint64_t index, ModuleRef* largest) {
  static const char kMsg[] = "entry";
  memset(e, 0, sizeof(*e));
  uint64_t band = 0, strategy = 0;
  while (!r.done()) {
    uint32_t field;
    int wt;
    HAK_TRY(r.Tag(&field, &wt));
    Reader value;
    switch (field) {
      case entry_field::kFrames: {
        HAK_EXPECT(kMsg, kLen);
        HAK_TRY(r.Len(&value));
        if (e->num_frames == static_cast<uint32_t>(kMaxTableFrames)) {
          return Reason().S("more than ").U(kMaxTableFrames).S(" frames").str();
        }
        uint64_t id = 0;
        if (const char* err = DecodeFrame(value, &e->frames[e->num_frames], &id)) {
          return InContext("frame", e->num_frames, err);
        }
        if (id > largest->id) *largest = ModuleRef{id, index, e->num_frames};
        ++e->num_frames;
        break;
      }
      case entry_field::kSiteName:
        HAK_EXPECT(kMsg, kLen);
        HAK_TRY(r.Len(&value));
        HAK_TRY(CopyString(value, e->site_name, sizeof(e->site_name), "site_name"));
        break;
      case entry_field::kSizeBand:
        HAK_EXPECT(kMsg, kVarint);
        HAK_TRY(r.Varint(&band));
        if (band >= kNumBands) {
          return Reason().S("unknown size band ").I(static_cast<int64_t>(band)).str();
        }
        break;
      case entry_field::kStrategy:
        HAK_EXPECT(kMsg, kVarint);
        HAK_TRY(StrategyValue(&r, &strategy));
        break;
      case entry_field::kStats:
        HAK_EXPECT(kMsg, kLen);
        HAK_TRY(r.Len(&value));
        HAK_TRY(DecodeStats(value, e));
        break;
      default:
        HAK_TRY(r.Skip(field, wt));
    }
  }
  e->band = static_cast<int>(band);
  e->strategy = static_cast<int>(strategy) - 1;
  if (e->site_name[0] != '\0') {
    if (e->num_frames > 0) return "both a site name and frames";
  } else if (e->num_frames == 0) {
    return "no site key (frames or a site name)";
  }
  if (e->strategy >= 0 && !EligibleForBand(e->strategy, e->band)) {
    return Reason().S("strategy ").S(kStrategyNames[e->strategy]).S(" not eligible for band ")
        .S(kBandNames[e->band]).str();
  }
  for (int i = 0; i < kNumLearnedStrategies; ++i) {
    if (e->eligible[i] && !EligibleForBand(i, e->band)) {
      return Reason().S("stats for strategy ").S(kStrategyNames[i])
          .S(", which is not eligible for band ").S(kBandNames[e->band]).str();
    }
  }
  if (e->strategy >= 0 && !e->eligible[e->strategy]) {
    return Reason().S("strategy ").S(kStrategyNames[e->strategy]).S(" has no stats").str();
  }
  return nullptr;
}

// Decodes a FrozenTable. With meta == nullptr nothing is stored but everything is
// checked (scratch space on the stack); with entries == nullptr entries are only counted.
const char* DecodeTable(Reader r, TableMeta* meta, TableEntry* entries, size_t cap, size_t* n) {
  static const char kMsg[] = "table";
  size_t count = 0;
  uint32_t runs = 0, modules = 0;
  ModuleRef largest;
  LearnParams scratch_params;
  union {  // where a count-only pass decodes runs, modules and entries (one at a time)
    RunInfo run;
    TableModule module;
    TableEntry entry;
  } scratch;
  if (meta != nullptr) memset(meta, 0, sizeof(*meta));
  memset(&scratch_params, 0, sizeof(scratch_params));
  while (!r.done()) {
    uint32_t field;
    int wt;
    HAK_TRY(r.Tag(&field, &wt));
    Reader value;
    switch (field) {
      case table_field::kHakmemVersion: {
        HAK_EXPECT(kMsg, kLen);
        HAK_TRY(r.Len(&value));
        char scratch[sizeof(meta->hakmem_version)];
        char* dst = meta != nullptr ? meta->hakmem_version : scratch;
        HAK_TRY(CopyString(value, dst, sizeof(scratch), "hakmem_version"));
        // A proto3 string must be UTF-8 or libprotobuf will not parse the table.
        if (!IsPrintableAscii(dst)) return "hakmem_version is not printable ASCII";
        break;
      }
      case table_field::kCreatedUnixMs: {
        HAK_EXPECT(kMsg, kVarint);
        uint64_t ms;
        HAK_TRY(r.Varint(&ms));
        if (meta != nullptr) meta->created_unix_ms = ms;
        break;
      }
      case table_field::kParams:
        HAK_EXPECT(kMsg, kLen);
        HAK_TRY(r.Len(&value));
        HAK_TRY(DecodeParams(value, meta != nullptr ? &meta->params : &scratch_params));
        break;
      case table_field::kRuns: {
        HAK_EXPECT(kMsg, kLen);
        HAK_TRY(r.Len(&value));
        if (runs == kMaxRuns) return Reason().S("more than ").U(kMaxRuns).S(" runs").str();
        RunInfo* run = meta != nullptr ? &meta->runs[runs] : &scratch.run;
        memset(run, 0, sizeof(*run));
        if (const char* err = DecodeRun(value, run)) return InContext("run", runs, err);
        ++runs;
        break;
      }
      case table_field::kEntries: {
        HAK_EXPECT(kMsg, kLen);
        HAK_TRY(r.Len(&value));
        if (entries != nullptr && count == cap) {
          return Reason().S("more entries than the ").U(cap).S(" there is room for").str();
        }
        TableEntry* e = entries != nullptr ? &entries[count] : &scratch.entry;
        if (const char* err = DecodeEntry(value, e, count, &largest)) {
          return InContext("entry", count, err);
        }
        ++count;
        break;
      }
      case table_field::kModules: {
        HAK_EXPECT(kMsg, kLen);
        HAK_TRY(r.Len(&value));
        if (modules == kMaxTableModules) {
          return Reason().S("more than ").U(kMaxTableModules).S(" modules").str();
        }
        TableModule* m = meta != nullptr ? &meta->modules[modules] : &scratch.module;
        if (const char* err = DecodeModule(value, m, modules)) {
          return InContext("module", modules, err);
        }
        ++modules;
        break;
      }
      default:
        HAK_TRY(r.Skip(field, wt));
    }
  }
  // Entries come before modules in field order: their frames are checked now.
  if (largest.id > modules) {
    Reason why;
    why.S("frame ").U(largest.frame).S(" names module ").U(largest.id).S(", but the table has ")
        .U(modules).S(modules == 1 ? " module" : " modules");
    return InContext("entry", largest.entry, why.str());
  }
  if (meta != nullptr) {
    meta->num_runs = runs;
    meta->num_modules = modules;
  }
  *n = count;
  return nullptr;
}

// Checks the envelope and returns the table's bytes in *table.
const char* DecodeEnvelope(const uint8_t* data, size_t size, Reader* table) {
  static const char kMsg[] = "envelope";
  if (size == 0) return "empty file";
  const size_t prefix = size < sizeof(kFilePrefix) ? size : sizeof(kFilePrefix);
  if (memcmp(data, kFilePrefix, prefix) != 0) return "bad magic (not a frozen table)";
  if (size < sizeof(kFilePrefix)) return kTruncated;
  Reader r{data + sizeof(kFilePrefix), data + size};
  *table = Reader{r.p, r.p};  // proto3 leaves out an empty table
  uint32_t last = file_field::kMagic;
  bool have_version = false;
  uint64_t sum = 0;
  bool have_sum = false;
  while (!r.done()) {
    if (have_sum) return "trailing bytes after the checksum";
    uint32_t field;
    int wt;
    HAK_TRY(r.Tag(&field, &wt));
    if (field > file_field::kTableFnv1a64) {
      return Reason().S("unknown envelope field ").U(field).str();
    }
    if (field <= last) {
      return Reason().S("envelope field ").U(field).S(" repeated or out of order").str();
    }
    last = field;
    switch (field) {
      case file_field::kFormatVersion: {
        HAK_EXPECT(kMsg, kVarint);
        uint64_t version;
        HAK_TRY(r.Varint(&version));
        if (version != 0 && version < kTableFormatVersion) {
          // Older formats are refused, with what changed since (frozen_table.proto).
          static const char* const kChanged[kTableFormatVersion] = {
              "", "made before call sites were calling contexts"};
          return Reason().S("format version ").U(version).S(" is older than this hakmem's ")
              .U(kTableFormatVersion).S(" (").S(kChanged[version])
              .S("); relearn and freeze again").str();
        }
        if (version != kTableFormatVersion) {
          return Reason().S("unsupported format version ").U(version).S(" (expected ")
              .U(kTableFormatVersion).S(")").str();
        }
        have_version = true;
        break;
      }
      case file_field::kTable:
        HAK_EXPECT(kMsg, kLen);
        HAK_TRY(r.Len(table));
        break;
      case file_field::kTableFnv1a64:
        HAK_EXPECT(kMsg, kFixed64);
        HAK_TRY(r.Fixed(8, &sum));
        have_sum = true;
        break;
    }
  }
  if (!have_version) return "no format version";
  if (!have_sum) return "truncated (no checksum)";
  if (Fnv1a64(table->p, table->left()) != sum) return "checksum mismatch (file corrupt)";
  return nullptr;
}

#undef HAK_EXPECT
#undef HAK_TRY

const char* Decode(const uint8_t* data, size_t size, TableMeta* meta, TableEntry* entries,
                   size_t cap, size_t* n) {
  *n = 0;
  Reader table;
  if (const char* err = DecodeEnvelope(data, size, &table)) return err;
  size_t count = 0;
  if (const char* err = DecodeTable(table, meta, entries, cap, &count)) return err;
  *n = count;
  return nullptr;
}

}  // namespace

uint64_t Fnv1a64(const uint8_t* data, size_t size) {
  uint64_t h = kFnv1a64Basis;
  for (size_t i = 0; i < size; ++i) {
    h ^= data[i];
    h *= kFnv1a64Prime;
  }
  return h;
}

size_t EncodedSize(const TableMeta& meta, const TableEntry* entries, size_t n) {
  return WriteFile(meta, entries, n, nullptr, 0);
}

size_t EncodeTableFile(const TableMeta& meta, const TableEntry* entries, size_t n,
                       uint8_t* buf, size_t cap) {
  const size_t size = WriteFile(meta, entries, n, buf, cap);
  return size <= cap ? size : 0;
}

const char* DecodeTableFile(const uint8_t* data, size_t size, TableMeta* meta,
                            TableEntry* entries, size_t cap, size_t* n) {
  return Decode(data, size, meta, entries, cap, n);
}

const char* CountTableEntries(const uint8_t* data, size_t size, size_t* n) {
  return Decode(data, size, nullptr, nullptr, 0, n);
}

}  // namespace learner
}  // namespace hakmem
