// The frozen table codec on nanopb (learner/frozen_table.options): nanopb reads and
// writes every value, and the callbacks below stream strings and repeated fields into and
// out of the caller's TableMeta and TableEntry. What is still written by hand:
//  - the loop over a message's fields when decoding (DecodeMessage), because nanopb's own
//    loop cannot skip an unknown group (pb_skip_field: "invalid wire_type"), hands a
//    callback field of the wrong wire type to the callback as if it were right, skips an
//    unknown varint of any length and reads a 10-byte sign-extended tag (libprotobuf
//    refuses both), and names no field in its errors. The loop reads each tag, skips
//    unknown fields, and has pb_decode_ex decode each known field alone;
//  - the envelope's rules (magic first, field order, no unknown fields, nothing after
//    the checksum) and the checksum;
//  - the checks of the values, and the reasons.
#include "learner/table_codec.h"

#include <pb_common.h>
#include <pb_decode.h>
#include <pb_encode.h>
#include <string.h>

#include "core/format.h"
#include "learner/frozen_table.nanopb.h"

namespace hakmem {
namespace learner {
namespace {

inline constexpr int kNumBands = 3;  // core/strategy.h

// core/strategy.h Eligible(), by StrategyIndex.
bool EligibleForBand(int idx, int band) { return idx != kIdxPool || band == 0; }

// Every file starts with the magic field: tag (1 << 3 | fixed32), then "HAKM".
const uint8_t kFilePrefix[5] = {0x0d, 'H', 'A', 'K', 'M'};

bool IsFinite(double d) {
  uint64_t u;
  memcpy(&u, &d, sizeof(u));
  return (u & 0x7ff0000000000000ull) != 0x7ff0000000000000ull;
}

// A callback field's functions and argument, for the generated structs.
pb_callback_t DecodeWith(bool (*fn)(pb_istream_t*, const pb_field_t*, void**), void* arg) {
  pb_callback_t cb;
  cb.funcs.decode = fn;
  cb.arg = arg;
  return cb;
}

pb_callback_t EncodeWith(bool (*fn)(pb_ostream_t*, const pb_field_t*, void* const*),
                         const void* arg) {
  pb_callback_t cb;
  cb.funcs.encode = fn;
  cb.arg = const_cast<void*>(arg);
  return cb;
}

// ---- encoding ----------------------------------------------------------------------
// nanopb leaves out fields at their proto3 default as libprotobuf does (a double only
// when all its bits are zero, so -0.0 is written) and writes fields in number order, so
// its output is libprotobuf's byte for byte. The callbacks write repeated fields and
// strings; each submessage goes through pb_encode_submessage (which sizes it first).

// A C string in a buffer of `size` bytes: up to its NUL or size - 1 bytes.
struct StringIn {
  const char* s;
  size_t size;
};

bool WriteString(pb_ostream_t* out, const pb_field_t* field, void* const* arg) {
  const StringIn& in = *static_cast<const StringIn*>(*arg);
  const size_t len = strnlen(in.s, in.size - 1);
  if (len == 0) return true;  // proto3 leaves out an empty string
  return pb_encode_tag_for_field(out, field) &&
         pb_encode_string(out, reinterpret_cast<const pb_byte_t*>(in.s), len);
}

bool WriteParams(pb_ostream_t* out, const pb_field_t* field, void* const* arg) {
  const LearnParams& p = *static_cast<const LearnParams*>(*arg);
  hakmem_table_LearnParams q = hakmem_table_LearnParams_init_zero;
  q.elo_initial_rating = p.elo_initial_rating;
  q.elo_k_factor = p.elo_k_factor;
  q.elo_scale_points = p.elo_scale;
  q.draw_margin_fraction = p.draw_margin;
  q.min_samples = p.min_samples;
  q.commit_margin_points = p.commit_margin;
  q.explore_rate_fraction = p.explore_rate;
  q.weight_time = p.weight_time;
  q.weight_faults = p.weight_faults;
  q.weight_idle_ns_per_mib_second = p.weight_idle_ns_per_mib_second;
  q.fault_cost_ns = p.fault_ns;
  return pb_encode_tag_for_field(out, field) &&
         pb_encode_submessage(out, hakmem_table_LearnParams_fields, &q);
}

bool WriteRuns(pb_ostream_t* out, const pb_field_t* field, void* const* arg) {
  const TableMeta& meta = *static_cast<const TableMeta*>(*arg);
  const uint32_t runs = meta.num_runs < kMaxRuns ? meta.num_runs : kMaxRuns;
  for (uint32_t i = 0; i < runs; ++i) {
    const RunInfo& run = meta.runs[i];
    const StringIn program{run.program, sizeof(run.program)};
    hakmem_table_RunInfo r = hakmem_table_RunInfo_init_zero;
    r.program_path = EncodeWith(&WriteString, &program);
    r.pid = run.pid;
    r.start_unix_ms = run.start_unix_ms;
    r.duration_ms = run.duration_ms;
    if (!pb_encode_tag_for_field(out, field) ||
        !pb_encode_submessage(out, hakmem_table_RunInfo_fields, &r)) {
      return false;
    }
  }
  return true;
}

bool WriteStats(pb_ostream_t* out, const pb_field_t* field, void* const* arg) {
  const TableEntry& e = *static_cast<const TableEntry*>(*arg);
  for (int i = 0; i < kNumLearnedStrategies; ++i) {
    if (!e.eligible[i]) continue;
    hakmem_table_StrategyStats st = hakmem_table_StrategyStats_init_zero;
    st.strategy = i + 1;
    st.rating_elo = e.rating[i];
    st.samples = e.samples[i];
    st.mean_cost_ns = e.mean_cost_ns[i];
    if (!pb_encode_tag_for_field(out, field) ||
        !pb_encode_submessage(out, hakmem_table_StrategyStats_fields, &st)) {
      return false;
    }
  }
  return true;
}

bool WriteFrames(pb_ostream_t* out, const pb_field_t* field, void* const* arg) {
  const TableEntry& e = *static_cast<const TableEntry*>(*arg);
  const uint32_t frames = e.num_frames < kMaxTableFrames ? e.num_frames : kMaxTableFrames;
  for (uint32_t i = 0; i < frames; ++i) {
    hakmem_table_Frame f = hakmem_table_Frame_init_zero;
    f.module_id = uint64_t{e.frames[i].module} + 1;
    f.offset_bytes = e.frames[i].offset;
    if (!pb_encode_tag_for_field(out, field) ||
        !pb_encode_submessage(out, hakmem_table_Frame_fields, &f)) {
      return false;
    }
  }
  return true;
}

struct EntriesIn {
  const TableEntry* entries;
  size_t n;
};

bool WriteEntries(pb_ostream_t* out, const pb_field_t* field, void* const* arg) {
  const EntriesIn& in = *static_cast<const EntriesIn*>(*arg);
  for (size_t i = 0; i < in.n; ++i) {
    const TableEntry& e = in.entries[i];
    const StringIn name{e.site_name, sizeof(e.site_name)};
    hakmem_table_Entry pe = hakmem_table_Entry_init_zero;
    pe.site_name = EncodeWith(&WriteString, &name);
    pe.size_band = e.band;  // as int32 on the wire: a negative value takes ten bytes
    pe.strategy = int64_t{e.strategy} + 1;
    pe.stats = EncodeWith(&WriteStats, &e);
    pe.frames = EncodeWith(&WriteFrames, &e);
    if (!pb_encode_tag_for_field(out, field) ||
        !pb_encode_submessage(out, hakmem_table_Entry_fields, &pe)) {
      return false;
    }
  }
  return true;
}

bool WriteModules(pb_ostream_t* out, const pb_field_t* field, void* const* arg) {
  const TableMeta& meta = *static_cast<const TableMeta*>(*arg);
  const uint32_t modules = meta.num_modules < kMaxTableModules
                               ? meta.num_modules
                               : static_cast<uint32_t>(kMaxTableModules);
  for (uint32_t i = 0; i < modules; ++i) {
    const TableModule& m = meta.modules[i];
    const StringIn build_id{m.build_id_hex, sizeof(m.build_id_hex)};
    const StringIn path{m.path, sizeof(m.path)};
    hakmem_table_Module pm = hakmem_table_Module_init_zero;
    pm.id = uint64_t{i} + 1;
    pm.build_id_hex = EncodeWith(&WriteString, &build_id);
    pm.path = EncodeWith(&WriteString, &path);
    if (!pb_encode_tag_for_field(out, field) ||
        !pb_encode_submessage(out, hakmem_table_Module_fields, &pm)) {
      return false;
    }
  }
  return true;
}

// FrozenTableFile.table: the FrozenTable serialized as bytes, and its checksum.
struct TableIn {
  const TableMeta* meta;
  EntriesIn entries;
  const uint8_t* buf;  // where the stream writes from (null when only sizing)
  uint64_t sum;        // out: the checksum of what was written
};

bool WriteTable(pb_ostream_t* out, const pb_field_t* field, void* const* arg) {
  TableIn& in = *static_cast<TableIn*>(*arg);
  const TableMeta& meta = *in.meta;
  const StringIn version{meta.hakmem_version, sizeof(meta.hakmem_version)};
  hakmem_table_FrozenTable t = hakmem_table_FrozenTable_init_zero;
  t.hakmem_version = EncodeWith(&WriteString, &version);
  t.created_unix_ms = meta.created_unix_ms;
  t.params = EncodeWith(&WriteParams, &meta.params);
  t.runs = EncodeWith(&WriteRuns, &meta);
  t.entries = EncodeWith(&WriteEntries, &in.entries);
  t.modules = EncodeWith(&WriteModules, &meta);
  // pb_encode_submessage's steps, with the start of the bytes noted for the checksum.
  size_t size = 0;
  if (!pb_get_encoded_size(&size, hakmem_table_FrozenTable_fields, &t)) return false;
  if (size == 0) return true;  // proto3 leaves out empty bytes (ours never is: params)
  if (!pb_encode_tag_for_field(out, field) || !pb_encode_varint(out, size)) return false;
  const size_t start = out->bytes_written;
  if (!pb_encode(out, hakmem_table_FrozenTable_fields, &t)) return false;
  if (out->bytes_written - start != size) {
    out->errmsg = "table size changed";
    return false;
  }
  // Sizing: any nonzero value (a zero checksum would be left out, as proto3 does).
  in.sum = in.buf != nullptr ? Fnv1a64(in.buf + start, size) : kFnv1a64Basis;
  return true;
}

// The file: magic, version and table in one pb_encode, then the checksum of the table
// that wrote (libprotobuf's output for the whole FrozenTableFile is the same bytes).
bool WriteFile(pb_ostream_t* out, const TableMeta& meta, const TableEntry* entries, size_t n,
               const uint8_t* buf) {
  TableIn table{&meta, {entries, n}, buf, 0};
  hakmem_table_FrozenTableFile file = hakmem_table_FrozenTableFile_init_zero;
  file.magic = kTableMagic;
  file.format_version = kTableFormatVersion;
  file.table = EncodeWith(&WriteTable, &table);
  if (!pb_encode(out, hakmem_table_FrozenTableFile_fields, &file)) return false;
  hakmem_table_FrozenTableFile checksum = hakmem_table_FrozenTableFile_init_zero;
  checksum.table_fnv1a64 = table.sum;
  return pb_encode(out, hakmem_table_FrozenTableFile_fields, &checksum);
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

#define HAK_TRY(expr)                           \
  do {                                          \
    if (const char* err_ = (expr)) return err_; \
  } while (0)
// The same in a nanopb callback, which fails by returning false with the reason in `s`.
#define HAK_TRY_CB(s, expr)                             \
  do {                                                  \
    if (const char* err_ = (expr)) return Fail(s, err_); \
  } while (0)

// ---- decoding: the field loop ------------------------------------------------------
// Streams are nanopb's buffer streams: a copy of one is a cursor that reads on
// independently (as nanopb's own substreams are).

// Why a nanopb read failed, in this codec's words. Anything else is a reason a callback
// below put there.
const char* Why(const pb_istream_t& s) {
  const char* e = s.errmsg;
  if (e == nullptr) return "malformed";
  if (strcmp(e, "end-of-stream") == 0 || strcmp(e, "parent stream too short") == 0) {
    return kTruncated;
  }
  // Lengths are checked by SkipValue before nanopb reads them as 32-bit varints, so
  // this is a value's (or a tag's) varint.
  if (strcmp(e, "varint overflow") == 0) return "malformed varint (over 64 bits)";
  return e;
}

// A callback's failure: nanopb passes the reason up as the stream's error.
bool Fail(pb_istream_t* s, const char* reason) {
  s->errmsg = reason;
  return false;
}

enum : int { kStartGroup = 3, kEndGroup = 4 };  // nanopb names no group wire types

const char* const kWireTypeNames[8] = {"varint", "fixed64", "length-delimited", "start-group",
                                       "end-group", "fixed32", "6", "7"};

// A tag, read as a 64-bit varint so that one over 32 bits is malformed (pb_decode_tag
// reads 32 bits, and takes a sign-extended 10-byte tag, which libprotobuf refuses, for a
// valid one).
const char* ReadTag(pb_istream_t* s, uint32_t* field, int* wt) {
  uint64_t tag;
  if (!pb_decode_varint(s, &tag)) return Why(*s);
  if (tag > 0xffffffffu || (tag >> 3) == 0) {
    return Reason().S("malformed field tag ").U(tag).str();
  }
  *field = static_cast<uint32_t>(tag >> 3);
  *wt = static_cast<int>(tag & 7);
  return nullptr;
}

// Moves past one value of wire type 0, 1, 2 or 5. A varint is decoded (pb_skip_field
// would pass one of any length) and so is a length, as 64 bits, so that one past the end
// is "truncated" and nanopb never meets a length it cannot read.
const char* SkipValue(pb_istream_t* s, int wt) {
  uint64_t v;
  switch (wt) {
    case PB_WT_VARINT:
      return pb_decode_varint(s, &v) ? nullptr : Why(*s);
    case PB_WT_STRING:
      if (!pb_decode_varint(s, &v)) return Why(*s);
      if (v > s->bytes_left) return kTruncated;
      return pb_read(s, nullptr, static_cast<size_t>(v)) ? nullptr : Why(*s);
    default:
      return pb_skip_field(s, static_cast<pb_wire_type_t>(wt)) ? nullptr : Why(*s);
  }
}

// Skips the value of an unknown field (forward compatibility). Groups are skipped whole
// (nanopb cannot); wire types 6 and 7 do not exist. Not inlined: its group stack would
// sit in every nested DecodeMessage's frame.
__attribute__((noinline)) const char* SkipUnknown(pb_istream_t* s, uint32_t field, int wt) {
  constexpr int kMaxGroupDepth = 32;
  uint32_t groups[kMaxGroupDepth];
  int depth = 0;
  for (;;) {
    if (wt == kStartGroup) {
      if (depth == kMaxGroupDepth) return "malformed (groups nested too deep)";
      groups[depth++] = field;
    } else if (wt == kEndGroup) {
      if (depth == 0 || groups[depth - 1] != field) {
        return Reason().S("malformed (unmatched end of group ").U(field).S(")").str();
      }
      --depth;
    } else if (wt > PB_WT_32BIT) {
      return Reason().S("unknown wire type ").U(static_cast<uint64_t>(wt)).S(" (field ")
          .U(field).S(")").str();
    } else {
      HAK_TRY(SkipValue(s, wt));
    }
    if (depth == 0) return nullptr;
    HAK_TRY(ReadTag(s, &field, &wt));
  }
}

// The wire type of a field of this nanopb type (none here is packed).
int WireTypeOf(pb_type_t type) {
  switch (PB_LTYPE(type)) {
    case PB_LTYPE_BOOL:
    case PB_LTYPE_VARINT:
    case PB_LTYPE_UVARINT:
    case PB_LTYPE_SVARINT:
      return PB_WT_VARINT;
    case PB_LTYPE_FIXED32:
      return PB_WT_32BIT;
    case PB_LTYPE_FIXED64:
      return PB_WT_64BIT;
    default:  // strings, bytes, submessages
      return PB_WT_STRING;
  }
}

// Decodes the field `iter` whose tag *s has just read (at_tag: where the tag began): a
// known field with the wrong wire type is refused (the data is not what it claims to be),
// then nanopb decodes the field alone into iter's struct, callbacks included.
const char* DecodeField(pb_istream_t* s, const pb_istream_t& at_tag, const pb_field_iter_t& iter,
                        const char* message, int wt) {
  const int want = WireTypeOf(iter.type);
  if (wt != want) {
    return Reason().S(message).S(" field ").U(iter.tag).S(" is ").S(kWireTypeNames[wt])
        .S(", expected ").S(kWireTypeNames[want]).str();
  }
  HAK_TRY(SkipValue(s, wt));
  pb_istream_t field = at_tag;
  field.bytes_left -= s->bytes_left;
  if (!pb_decode_ex(&field, iter.descriptor, iter.message, PB_DECODE_NOINIT)) return Why(field);
  return nullptr;
}

// Decodes the rest of *s, one message, into `dest` (a struct of `desc`, initialized, with
// its callbacks set). `message` names it in reasons. Repeated singular fields follow
// protobuf: the last one wins.
const char* DecodeMessage(pb_istream_t* s, const pb_msgdesc_t* desc, void* dest,
                          const char* message) {
  pb_field_iter_t iter;
  if (!pb_field_iter_begin(&iter, desc, dest)) return "malformed";  // every message has fields
  while (s->bytes_left > 0) {
    const pb_istream_t at_tag = *s;
    uint32_t field;
    int wt;
    HAK_TRY(ReadTag(s, &field, &wt));
    if (pb_field_iter_find(&iter, field)) {
      HAK_TRY(DecodeField(s, at_tag, iter, message, wt));
    } else {
      HAK_TRY(SkipUnknown(s, field, wt));
    }
  }
  return nullptr;
}

// ---- decoding: the values ----------------------------------------------------------

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

// A string field's destination: a NUL-terminated buffer of `size` bytes, and an extra
// check of the text (or null) with the reason it fails with.
struct StringOut {
  char* dst;
  size_t size;
  const char* name;
  bool (*check)(const char*);
  const char* check_fails;
};

bool ReadString(pb_istream_t* s, const pb_field_t*, void** arg) {
  const StringOut& out = *static_cast<const StringOut*>(*arg);
  const size_t len = s->bytes_left;
  if (len >= out.size) {
    return Fail(s, Reason().S(out.name).S(" is ").U(len).S(" bytes, longer than ")
                       .U(out.size - 1).str());
  }
  if (!pb_read(s, reinterpret_cast<pb_byte_t*>(out.dst), len)) return false;
  out.dst[len] = '\0';
  if (memchr(out.dst, '\0', len) != nullptr) {
    return Fail(s, Reason().S(out.name).S(" contains a NUL byte").str());
  }
  if (out.check != nullptr && !out.check(out.dst)) return Fail(s, out.check_fails);
  return true;
}

// The largest module id that frames name, and where (the first frame that names it), so
// that the table can check it once it has counted its modules.
struct ModuleRef {
  uint64_t id = 0;
  uint64_t entry = 0;
  uint32_t frame = 0;
};

// One decode of a table: where its parts go. With meta == nullptr nothing is stored but
// everything is checked (in the scratch space); with entries == nullptr entries are only
// counted.
struct TableOut {
  TableMeta* meta;
  TableEntry* entries;
  size_t cap;
  size_t count = 0;
  uint32_t runs = 0;
  uint32_t modules = 0;
  ModuleRef largest;
  TableEntry* entry = nullptr;  // the entry being decoded
  hakmem_table_LearnParams params = hakmem_table_LearnParams_init_zero;  // params merge
  union {  // where a count-only pass decodes runs, modules and entries (one at a time)
    RunInfo run;
    TableModule module;
    TableEntry entry;
  } scratch;
  char scratch_version[sizeof(TableMeta::hakmem_version)];
};

bool ReadParams(pb_istream_t* s, const pb_field_t*, void** arg) {
  hakmem_table_LearnParams& p = *static_cast<hakmem_table_LearnParams*>(*arg);
  HAK_TRY_CB(s, DecodeMessage(s, hakmem_table_LearnParams_fields, &p, "params"));
  const struct {
    uint32_t field;
    double value;
  } doubles[] = {
      {hakmem_table_LearnParams_elo_initial_rating_tag, p.elo_initial_rating},
      {hakmem_table_LearnParams_elo_k_factor_tag, p.elo_k_factor},
      {hakmem_table_LearnParams_elo_scale_points_tag, p.elo_scale_points},
      {hakmem_table_LearnParams_draw_margin_fraction_tag, p.draw_margin_fraction},
      {hakmem_table_LearnParams_commit_margin_points_tag, p.commit_margin_points},
      {hakmem_table_LearnParams_explore_rate_fraction_tag, p.explore_rate_fraction},
      {hakmem_table_LearnParams_weight_time_tag, p.weight_time},
      {hakmem_table_LearnParams_weight_faults_tag, p.weight_faults},
      {hakmem_table_LearnParams_weight_idle_ns_per_mib_second_tag,
       p.weight_idle_ns_per_mib_second},
      {hakmem_table_LearnParams_fault_cost_ns_tag, p.fault_cost_ns},
  };
  for (const auto& d : doubles) {
    if (!IsFinite(d.value)) {
      return Fail(s, Reason().S("params field ").U(d.field).S(" is not finite").str());
    }
  }
  return true;
}

const char* DecodeRun(pb_istream_t* s, RunInfo* run) {
  StringOut program{run->program, sizeof(run->program), "program_path", nullptr, nullptr};
  hakmem_table_RunInfo r = hakmem_table_RunInfo_init_zero;
  r.program_path = DecodeWith(&ReadString, &program);
  HAK_TRY(DecodeMessage(s, hakmem_table_RunInfo_fields, &r, "run"));
  run->pid = r.pid;
  run->start_unix_ms = r.start_unix_ms;
  run->duration_ms = r.duration_ms;
  return nullptr;
}

bool ReadRun(pb_istream_t* s, const pb_field_t*, void** arg) {
  TableOut& t = *static_cast<TableOut*>(*arg);
  if (t.runs == kMaxRuns) return Fail(s, Reason().S("more than ").U(kMaxRuns).S(" runs").str());
  RunInfo* run = t.meta != nullptr ? &t.meta->runs[t.runs] : &t.scratch.run;
  memset(run, 0, sizeof(*run));
  if (const char* err = DecodeRun(s, run)) return Fail(s, InContext("run", t.runs, err));
  ++t.runs;
  return true;
}

bool ReadStats(pb_istream_t* s, const pb_field_t*, void** arg) {
  TableEntry* e = static_cast<TableEntry*>(*arg);
  hakmem_table_StrategyStats st = hakmem_table_StrategyStats_init_zero;
  HAK_TRY_CB(s, DecodeMessage(s, hakmem_table_StrategyStats_fields, &st, "stats"));
  if (st.strategy < 0 || st.strategy > kNumLearnedStrategies) {
    return Fail(s, Reason().S("unknown strategy ").I(st.strategy).str());
  }
  if (st.strategy == 0) return Fail(s, "stats without a strategy");
  const int idx = static_cast<int>(st.strategy) - 1;
  const char* name = kStrategyNames[idx];
  if (e->eligible[idx]) return Fail(s, Reason().S("two stats for strategy ").S(name).str());
  if (!IsFinite(st.rating_elo)) return Fail(s, Reason().S(name).S(" rating is not finite").str());
  if (!IsFinite(st.mean_cost_ns)) {
    return Fail(s, Reason().S(name).S(" mean cost is not finite").str());
  }
  if (st.mean_cost_ns < 0) return Fail(s, Reason().S(name).S(" mean cost is negative").str());
  e->eligible[idx] = true;
  e->rating[idx] = st.rating_elo;
  e->samples[idx] = st.samples;
  e->mean_cost_ns[idx] = st.mean_cost_ns;
  return true;
}

// A frame; *module_id is its module's id (checked against the module list by the table,
// which may not have seen the modules yet).
const char* DecodeFrame(pb_istream_t* s, TableFrame* f, uint64_t* module_id) {
  hakmem_table_Frame pf = hakmem_table_Frame_init_zero;
  HAK_TRY(DecodeMessage(s, hakmem_table_Frame_fields, &pf, "frame"));
  if (pf.module_id == 0) return "no module id";
  if (pf.module_id > kMaxTableModules) {
    return Reason().S("module id ").U(pf.module_id).S(" is past the ").U(kMaxTableModules)
        .S(" modules a table can have").str();
  }
  f->module = static_cast<uint32_t>(pf.module_id - 1);
  f->offset = pf.offset_bytes;
  *module_id = pf.module_id;
  return nullptr;
}

bool ReadFrame(pb_istream_t* s, const pb_field_t*, void** arg) {
  TableOut& t = *static_cast<TableOut*>(*arg);
  TableEntry* e = t.entry;
  if (e->num_frames == static_cast<uint32_t>(kMaxTableFrames)) {
    return Fail(s, Reason().S("more than ").U(kMaxTableFrames).S(" frames").str());
  }
  uint64_t id = 0;
  if (const char* err = DecodeFrame(s, &e->frames[e->num_frames], &id)) {
    return Fail(s, InContext("frame", e->num_frames, err));
  }
  if (id > t.largest.id) t.largest = ModuleRef{id, t.count, e->num_frames};
  ++e->num_frames;
  return true;
}

const char* DecodeEntry(pb_istream_t* s, TableOut* t, TableEntry* e) {
  StringOut name{e->site_name, sizeof(e->site_name), "site_name", nullptr, nullptr};
  hakmem_table_Entry pe = hakmem_table_Entry_init_zero;
  pe.site_name = DecodeWith(&ReadString, &name);
  pe.stats = DecodeWith(&ReadStats, e);
  pe.frames = DecodeWith(&ReadFrame, t);
  HAK_TRY(DecodeMessage(s, hakmem_table_Entry_fields, &pe, "entry"));
  if (pe.size_band < 0 || pe.size_band >= kNumBands) {
    return Reason().S("unknown size band ").I(pe.size_band).str();
  }
  if (pe.strategy < 0 || pe.strategy > kNumLearnedStrategies) {
    return Reason().S("unknown strategy ").I(pe.strategy).str();
  }
  e->band = static_cast<int>(pe.size_band);
  e->strategy = static_cast<int>(pe.strategy) - 1;
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

bool ReadEntry(pb_istream_t* s, const pb_field_t*, void** arg) {
  TableOut& t = *static_cast<TableOut*>(*arg);
  if (t.entries != nullptr && t.count == t.cap) {
    return Fail(s, Reason().S("more entries than the ").U(t.cap).S(" there is room for").str());
  }
  TableEntry* e = t.entries != nullptr ? &t.entries[t.count] : &t.scratch.entry;
  memset(e, 0, sizeof(*e));
  t.entry = e;
  if (const char* err = DecodeEntry(s, &t, e)) return Fail(s, InContext("entry", t.count, err));
  ++t.count;
  return true;
}

// A module, whose id must be `index` + 1 (ids number the modules in order).
const char* DecodeModule(pb_istream_t* s, TableModule* m, uint32_t index) {
  StringOut build_id{m->build_id_hex, sizeof(m->build_id_hex), "build_id_hex", &IsLowerHex,
                     "build_id_hex is not lowercase hex"};
  StringOut path{m->path, sizeof(m->path), "path", nullptr, nullptr};
  hakmem_table_Module pm = hakmem_table_Module_init_zero;
  pm.build_id_hex = DecodeWith(&ReadString, &build_id);
  pm.path = DecodeWith(&ReadString, &path);
  HAK_TRY(DecodeMessage(s, hakmem_table_Module_fields, &pm, "module"));
  if (pm.id != uint64_t{index} + 1) {
    return Reason().S("id ").U(pm.id).S(", expected ").U(uint64_t{index} + 1)
        .S(" (ids number the modules 1, 2, ... in order)").str();
  }
  if (m->build_id_hex[0] == '\0' && m->path[0] == '\0') return "neither a build-id nor a path";
  return nullptr;
}

bool ReadModule(pb_istream_t* s, const pb_field_t*, void** arg) {
  TableOut& t = *static_cast<TableOut*>(*arg);
  if (t.modules == kMaxTableModules) {
    return Fail(s, Reason().S("more than ").U(kMaxTableModules).S(" modules").str());
  }
  TableModule* m = t.meta != nullptr ? &t.meta->modules[t.modules] : &t.scratch.module;
  memset(m, 0, sizeof(*m));
  if (const char* err = DecodeModule(s, m, t.modules)) {
    return Fail(s, InContext("module", t.modules, err));
  }
  ++t.modules;
  return true;
}

// Decodes a FrozenTable into *t.
const char* DecodeTable(pb_istream_t* s, TableOut* t) {
  TableMeta* meta = t->meta;
  if (meta != nullptr) memset(meta, 0, sizeof(*meta));
  StringOut version{meta != nullptr ? meta->hakmem_version : t->scratch_version,
                    sizeof(t->scratch_version), "hakmem_version", &IsPrintableAscii,
                    // A proto3 string must be UTF-8 or libprotobuf will not parse the table.
                    "hakmem_version is not printable ASCII"};
  hakmem_table_FrozenTable pt = hakmem_table_FrozenTable_init_zero;
  pt.hakmem_version = DecodeWith(&ReadString, &version);
  pt.params = DecodeWith(&ReadParams, &t->params);
  pt.runs = DecodeWith(&ReadRun, t);
  pt.entries = DecodeWith(&ReadEntry, t);
  pt.modules = DecodeWith(&ReadModule, t);
  HAK_TRY(DecodeMessage(s, hakmem_table_FrozenTable_fields, &pt, "table"));
  // Entries come before modules in field order: their frames are checked now.
  if (t->largest.id > t->modules) {
    Reason why;
    why.S("frame ").U(t->largest.frame).S(" names module ").U(t->largest.id)
        .S(", but the table has ").U(t->modules).S(t->modules == 1 ? " module" : " modules");
    return InContext("entry", t->largest.entry, why.str());
  }
  if (meta != nullptr) {
    meta->created_unix_ms = pt.created_unix_ms;
    const hakmem_table_LearnParams& p = t->params;
    meta->params.elo_initial_rating = p.elo_initial_rating;
    meta->params.elo_k_factor = p.elo_k_factor;
    meta->params.elo_scale = p.elo_scale_points;
    meta->params.draw_margin = p.draw_margin_fraction;
    meta->params.min_samples = p.min_samples;
    meta->params.commit_margin = p.commit_margin_points;
    meta->params.explore_rate = p.explore_rate_fraction;
    meta->params.weight_time = p.weight_time;
    meta->params.weight_faults = p.weight_faults;
    meta->params.weight_idle_ns_per_mib_second = p.weight_idle_ns_per_mib_second;
    meta->params.fault_ns = p.fault_cost_ns;
    meta->num_runs = t->runs;
    meta->num_modules = t->modules;
  }
  return nullptr;
}

// FrozenTableFile.table: its length (its bytes end where the field does).
bool ReadTableLength(pb_istream_t* s, const pb_field_t*, void** arg) {
  *static_cast<size_t*>(*arg) = s->bytes_left;
  return pb_read(s, nullptr, s->bytes_left);
}

// Checks the envelope and returns the table's bytes in [*table, *table + *table_size).
// Its fields are nanopb's to read; the rules are not nanopb's, so they are checked here.
// Not inlined, so that its locals are gone while the table is decoded.
__attribute__((noinline)) const char* DecodeEnvelope(const uint8_t* data, size_t size,
                                                     const uint8_t** table, size_t* table_size) {
  if (size == 0) return "empty file";
  const size_t prefix = size < sizeof(kFilePrefix) ? size : sizeof(kFilePrefix);
  if (memcmp(data, kFilePrefix, prefix) != 0) return "bad magic (not a frozen table)";
  if (size < sizeof(kFilePrefix)) return kTruncated;
  *table = data;
  *table_size = 0;  // proto3 leaves out an empty table
  size_t length = 0;
  hakmem_table_FrozenTableFile file = hakmem_table_FrozenTableFile_init_zero;
  file.table = DecodeWith(&ReadTableLength, &length);
  pb_field_iter_t iter;
  if (!pb_field_iter_begin(&iter, hakmem_table_FrozenTableFile_fields, &file)) return "malformed";
  pb_istream_t s = pb_istream_from_buffer(data, size);  // the magic field first, as checked
  uint32_t last = 0;
  bool have_version = false;
  bool have_sum = false;
  while (s.bytes_left > 0) {
    if (have_sum) return "trailing bytes after the checksum";
    const pb_istream_t at_tag = s;
    uint32_t field;
    int wt;
    HAK_TRY(ReadTag(&s, &field, &wt));
    if (!pb_field_iter_find(&iter, field)) {
      return Reason().S("unknown envelope field ").U(field).str();
    }
    if (field <= last) {
      return Reason().S("envelope field ").U(field).S(" repeated or out of order").str();
    }
    last = field;
    HAK_TRY(DecodeField(&s, at_tag, iter, "envelope", wt));
    switch (field) {
      case hakmem_table_FrozenTableFile_format_version_tag: {
        const uint64_t version = file.format_version;
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
      case hakmem_table_FrozenTableFile_table_tag:
        *table_size = length;
        *table = data + (size - s.bytes_left) - length;
        break;
      case hakmem_table_FrozenTableFile_table_fnv1a64_tag:
        have_sum = true;
        break;
    }
  }
  if (!have_version) return "no format version";
  if (!have_sum) return "truncated (no checksum)";
  if (Fnv1a64(*table, *table_size) != file.table_fnv1a64) {
    return "checksum mismatch (file corrupt)";
  }
  return nullptr;
}

const char* Decode(const uint8_t* data, size_t size, TableMeta* meta, TableEntry* entries,
                   size_t cap, size_t* n) {
  *n = 0;
  const uint8_t* table = nullptr;
  size_t table_size = 0;
  HAK_TRY(DecodeEnvelope(data, size, &table, &table_size));
  TableOut t{meta, entries, cap};
  pb_istream_t s = pb_istream_from_buffer(table, table_size);
  HAK_TRY(DecodeTable(&s, &t));
  *n = t.count;
  return nullptr;
}

#undef HAK_TRY
#undef HAK_TRY_CB

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
  pb_ostream_t out = PB_OSTREAM_SIZING;
  return WriteFile(&out, meta, entries, n, nullptr) ? out.bytes_written : 0;
}

size_t EncodeTableFile(const TableMeta& meta, const TableEntry* entries, size_t n,
                       uint8_t* buf, size_t cap) {
  pb_ostream_t out = pb_ostream_from_buffer(buf, cap);
  return WriteFile(&out, meta, entries, n, buf) ? out.bytes_written : 0;
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
