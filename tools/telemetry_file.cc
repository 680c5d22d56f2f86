#include "tools/telemetry_file.h"

#include <math.h>

#include <algorithm>
#include <tuple>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/io/zero_copy_stream_impl_lite.h"
#include "google/protobuf/stubs/logging.h"
#include "learner/table_codec.h"
#include "tools/file_io.h"
#include "tools/file_kind.h"

namespace hakmem {
namespace tools {
namespace {

using telemetry::Telemetry;

#define HAK_RETURN_IF_ERROR(expr)        \
  do {                                   \
    const absl::Status _status = (expr); \
    if (!_status.ok()) return _status;   \
  } while (0)

absl::Status Invalid(absl::string_view why) { return absl::InvalidArgumentError(why); }

// ---- the envelope ------------------------------------------------------------------

// TelemetryFile's fields and the wire types they must have.
enum EnvelopeField : uint32_t { kMagic = 1, kFormatVersion = 2, kPayload = 3, kChecksum = 4 };
enum WireType { kVarint = 0, kFixed64 = 1, kLen = 2, kStartGroup = 3, kEndGroup = 4, kFixed32 = 5 };
const char* const kWireTypeNames[8] = {"varint", "fixed64", "length-delimited", "start-group",
                                       "end-group", "fixed32", "6", "7"};

// A bounded view of wire data; every read checks the bounds first.
struct Reader {
  absl::string_view data;

  bool done() const { return data.empty(); }

  absl::Status Varint(uint64_t* v) {
    uint64_t x = 0;
    for (int i = 0; i < 10; ++i) {
      if (data.empty()) return Invalid("truncated");
      const uint8_t b = static_cast<uint8_t>(data[0]);
      data.remove_prefix(1);
      if (i == 9 && b > 1) return Invalid("malformed varint (over 64 bits)");
      x |= uint64_t{b & 0x7fu} << (7 * i);
      if ((b & 0x80) == 0) {
        *v = x;
        return absl::OkStatus();
      }
    }
    return Invalid("malformed varint (over 10 bytes)");
  }
  absl::Status Fixed64(uint64_t* v) {
    if (data.size() < 8) return Invalid("truncated");
    uint64_t x = 0;
    for (int i = 0; i < 8; ++i) x |= uint64_t{static_cast<uint8_t>(data[i])} << (8 * i);
    data.remove_prefix(8);
    *v = x;
    return absl::OkStatus();
  }
  absl::Status Len(absl::string_view* out) {
    uint64_t len;
    HAK_RETURN_IF_ERROR(Varint(&len));
    if (len > data.size()) return Invalid("truncated");
    *out = data.substr(0, len);
    data.remove_prefix(len);
    return absl::OkStatus();
  }
};

// Checks the envelope and returns the payload (the serialized Telemetry) in *payload.
absl::Status DecodeEnvelope(absl::string_view bytes, absl::string_view* payload) {
  if (bytes.empty()) return Invalid("empty file");
  const absl::string_view prefix(kTelemetryPrefix, sizeof(kTelemetryPrefix));
  if (bytes.substr(0, prefix.size()) != prefix.substr(0, std::min(bytes.size(), prefix.size()))) {
    if (KindOf(bytes) == FileKind::kFrozenTable) return Invalid("is a frozen table, not telemetry");
    return Invalid("bad magic (not a telemetry file)");
  }
  if (bytes.size() < prefix.size()) return Invalid("truncated");
  Reader r{bytes.substr(prefix.size())};
  *payload = absl::string_view();  // proto3 leaves out an empty payload
  uint32_t last = kMagic;
  bool have_version = false, have_sum = false;
  uint64_t sum = 0;
  while (!r.done()) {
    if (have_sum) return Invalid("trailing bytes after the checksum");
    uint64_t tag;
    HAK_RETURN_IF_ERROR(r.Varint(&tag));
    if (tag > 0xffffffffu || (tag >> 3) == 0) {
      return Invalid(absl::StrCat("malformed field tag ", tag));
    }
    const uint32_t field = static_cast<uint32_t>(tag >> 3);
    const int wt = static_cast<int>(tag & 7);
    if (field > kChecksum) return Invalid(absl::StrCat("unknown envelope field ", field));
    if (field <= last) {
      return Invalid(absl::StrCat("envelope field ", field, " repeated or out of order"));
    }
    last = field;
    const int want = field == kFormatVersion ? kVarint : field == kPayload ? kLen : kFixed64;
    if (wt != want) {
      return Invalid(absl::StrCat("envelope field ", field, " is ", kWireTypeNames[wt], ", expected ",
                                  kWireTypeNames[want]));
    }
    switch (field) {
      case kFormatVersion: {
        uint64_t version;
        HAK_RETURN_IF_ERROR(r.Varint(&version));
        if (version != kTelemetryFormatVersion) {
          return Invalid(absl::StrCat("unsupported format version ", version, " (expected ",
                                      kTelemetryFormatVersion, ")"));
        }
        have_version = true;
        break;
      }
      case kPayload:
        HAK_RETURN_IF_ERROR(r.Len(payload));
        break;
      case kChecksum:
        HAK_RETURN_IF_ERROR(r.Fixed64(&sum));
        have_sum = true;
        break;
    }
  }
  if (!have_version) return Invalid("no format version");
  if (!have_sum) return Invalid("truncated (no checksum)");
  if (learner::Fnv1a64(reinterpret_cast<const uint8_t*>(payload->data()), payload->size()) != sum) {
    return Invalid("checksum mismatch (file corrupt)");
  }
  return absl::OkStatus();
}

// ---- what the payload means --------------------------------------------------------

class Checker {
 public:
  explicit Checker(const Telemetry& t) : t_(t) {}

  absl::Status Check() {
    if (t_.string_table_size() == 0) return Invalid("string table is empty (entry 0 must be \"\")");
    if (!t_.string_table(0).empty()) return Invalid("string table: entry 0 is not \"\"");
    HAK_RETURN_IF_ERROR(Runs());
    HAK_RETURN_IF_ERROR(Modules());
    HAK_RETURN_IF_ERROR(Locations());
    HAK_RETURN_IF_ERROR(Sites());
    HAK_RETURN_IF_ERROR(Profiles());
    HAK_RETURN_IF_ERROR(Choices());
    HAK_RETURN_IF_ERROR(Outcomes());
    HAK_RETURN_IF_ERROR(Matches());
    HAK_RETURN_IF_ERROR(Decisions());
    for (int i = 0; i < t_.timeline_size(); ++i) {
      HAK_RETURN_IF_ERROR(RunRef("timeline sample", i, t_.timeline(i).run()));
    }
    return absl::OkStatus();
  }

 private:
  static absl::Status Bad(absl::string_view what, int64_t i, absl::string_view why) {
    return Invalid(absl::StrCat(what, " ", i, ": ", why));
  }

  absl::Status Str(absl::string_view what, int64_t i, absl::string_view field, uint64_t v) const {
    if (v < static_cast<uint64_t>(t_.string_table_size())) return absl::OkStatus();
    return Bad(what, i, absl::StrFormat("%s %d is past the string table (%d strings)", field, v,
                                        t_.string_table_size()));
  }
  static absl::Status Finite(absl::string_view what, int64_t i, absl::string_view field,
                             double v) {
    if (isfinite(v)) return absl::OkStatus();
    return Bad(what, i, absl::StrCat(field, " is not finite"));
  }
  // A whole cost: what was measured, added up, is never negative (a table frozen from a
  // negative one would be refused). Its parts are only required to be finite: files made
  // by hand split a cost as they like.
  static absl::Status Cost(absl::string_view what, int64_t i, absl::string_view field,
                           double v) {
    HAK_RETURN_IF_ERROR(Finite(what, i, field, v));
    if (v >= 0) return absl::OkStatus();
    return Bad(what, i, absl::StrCat(field, " is negative"));
  }
  absl::Status RunRef(absl::string_view what, int64_t i, uint32_t run) const {
    if (run < static_cast<uint32_t>(t_.runs_size())) return absl::OkStatus();
    return Bad(what, i, absl::StrFormat("run %d names no run (the file has %d)", run,
                                        t_.runs_size()));
  }
  absl::Status SiteRef(absl::string_view what, int64_t i, uint64_t id) const {
    if (id == 0) return Bad(what, i, "no site (site id 0)");
    if (id <= static_cast<uint64_t>(t_.sites_size())) return absl::OkStatus();
    return Bad(what, i, absl::StrFormat("site id %d names no site (the file has %d)", id,
                                        t_.sites_size()));
  }
  static absl::Status Band(absl::string_view what, int64_t i, int v) {
    if (table::SizeBand_IsValid(v)) return absl::OkStatus();
    return Bad(what, i, absl::StrCat("unknown size band ", v));
  }
  static absl::Status Strategy(absl::string_view what, int64_t i, absl::string_view field, int v,
                               bool none_ok) {
    if (!table::Strategy_IsValid(v)) return Bad(what, i, absl::StrCat("unknown ", field, " ", v));
    if (!none_ok && v == table::STRATEGY_NONE) return Bad(what, i, absl::StrCat(field, " is none"));
    return absl::OkStatus();
  }
  static absl::Status BuildId(absl::string_view what, int64_t i, const std::string& hex) {
    bool ok = hex.size() < learner::kMaxBuildIdHex;
    for (char c : hex) ok = ok && ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'));
    if (ok) return absl::OkStatus();
    return Bad(what, i, "build-id is not lowercase hex of at most 64 digits");
  }

  absl::Status Runs() {
    absl::flat_hash_map<std::tuple<uint64_t, uint64_t, uint64_t>, int> seen;
    for (int i = 0; i < t_.runs_size(); ++i) {
      const telemetry::Run& r = t_.runs(i);
      HAK_RETURN_IF_ERROR(Str("run", i, "program_str", r.program_str()));
      HAK_RETURN_IF_ERROR(Str("run", i, "host_str", r.host_str()));
      HAK_RETURN_IF_ERROR(BuildId("run", i, r.program_build_id_hex()));
      if (!telemetry::Mode_IsValid(r.mode())) {
        return Bad("run", i, absl::StrCat("unknown mode ", r.mode()));
      }
      for (int k = 0; k < r.settings_size(); ++k) {
        const telemetry::Setting& s = r.settings(k);
        const std::string what = absl::StrCat("run ", i, ": setting");
        HAK_RETURN_IF_ERROR(Str(what, k, "name_str", s.name_str()));
        HAK_RETURN_IF_ERROR(Str(what, k, "text_str", s.text_str()));
        HAK_RETURN_IF_ERROR(Str(what, k, "unit_str", s.unit_str()));
      }
      const telemetry::OsCosts& c = r.os_costs();
      for (const auto& [field, v] : {std::pair<const char*, double>{"fault_ns", c.fault_ns()},
                                     {"map_call_ns", c.map_call_ns()},
                                     {"unmap_call_ns", c.unmap_call_ns()},
                                     {"unmap_page_ns", c.unmap_page_ns()},
                                     {"huge_fault_ns", c.huge_fault_ns()},
                                     {"bigcache_hit_ns", c.bigcache_hit_ns()},
                                     {"pool_alloc_ns", c.pool_alloc_ns()}}) {
        HAK_RETURN_IF_ERROR(Finite("run", i, absl::StrCat("os_costs.", field), v));
      }
      const table::LearnParams& p = r.learn_params();
      for (const auto& [field, v] :
           {std::pair<const char*, double>{"elo_initial_rating", p.elo_initial_rating()},
            {"elo_k_factor", p.elo_k_factor()},
            {"elo_scale_points", p.elo_scale_points()},
            {"draw_margin_fraction", p.draw_margin_fraction()},
            {"commit_margin_points", p.commit_margin_points()},
            {"explore_rate_fraction", p.explore_rate_fraction()},
            {"weight_time", p.weight_time()},
            {"weight_faults", p.weight_faults()},
            {"weight_idle_ns_per_mib_second", p.weight_idle_ns_per_mib_second()},
            {"fault_cost_ns", p.fault_cost_ns()}}) {
        HAK_RETURN_IF_ERROR(Finite("run", i, absl::StrCat("learn_params.", field), v));
      }
      const auto [it, inserted] =
          seen.emplace(std::make_tuple(r.pid(), r.host_str(), r.start_unix_ns()), i);
      if (!inserted) {
        return Bad("run", i, absl::StrCat("the same process (pid, host, start) as run ", it->second));
      }
    }
    return absl::OkStatus();
  }

  absl::Status Modules() {
    for (int i = 0; i < t_.modules_size(); ++i) {
      const telemetry::Module& m = t_.modules(i);
      if (m.id() != static_cast<uint64_t>(i) + 1) {
        return Bad("module", i, absl::StrFormat("id %d, expected %d (ids are positions + 1)",
                                                m.id(), i + 1));
      }
      HAK_RETURN_IF_ERROR(BuildId("module", i, m.build_id_hex()));
      HAK_RETURN_IF_ERROR(Str("module", i, "path_str", m.path_str()));
    }
    return absl::OkStatus();
  }

  absl::Status Locations() {
    for (int i = 0; i < t_.locations_size(); ++i) {
      const telemetry::Location& l = t_.locations(i);
      if (l.id() != static_cast<uint64_t>(i) + 1) {
        return Bad("location", i, absl::StrFormat("id %d, expected %d (ids are positions + 1)",
                                                  l.id(), i + 1));
      }
      if (l.module_id() > static_cast<uint64_t>(t_.modules_size())) {
        return Bad("location", i, absl::StrFormat("module id %d names no module (the file has %d)",
                                                  l.module_id(), t_.modules_size()));
      }
      HAK_RETURN_IF_ERROR(Str("location", i, "function_str", l.function_str()));
      HAK_RETURN_IF_ERROR(Str("location", i, "file_str", l.file_str()));
    }
    return absl::OkStatus();
  }

  absl::Status Sites() {
    absl::flat_hash_map<uint64_t, int> keys;
    for (int i = 0; i < t_.sites_size(); ++i) {
      const telemetry::Site& s = t_.sites(i);
      if (s.id() != static_cast<uint64_t>(i) + 1) {
        return Bad("site", i, absl::StrFormat("id %d, expected %d (ids are positions + 1)", s.id(),
                                              i + 1));
      }
      HAK_RETURN_IF_ERROR(Str("site", i, "name_str", s.name_str()));
      for (uint64_t id : s.location_ids()) {
        if (id == 0 || id > static_cast<uint64_t>(t_.locations_size())) {
          return Bad("site", i, absl::StrFormat("location id %d names no location (the file has %d)",
                                                id, t_.locations_size()));
        }
      }
      const int frames = s.location_ids_size();
      if (frames > kMaxTelemetryFrames) {
        return Bad("site", i, absl::StrFormat("%d frames, more than %d", frames,
                                              kMaxTelemetryFrames));
      }
      const bool named = s.name_str() != 0;
      if (s.overflow()) {
        if (frames > 0 || named || s.key() != 0) {
          return Bad("site", i, "the overflow site has key 0 and no frames or name");
        }
      } else if ((frames > 0) == named) {
        return Bad("site", i, frames > 0 ? "both frames and a name"
                                         : "neither frames, a name nor overflow");
      }
      if (s.wrapper_frames() > 0 && static_cast<int64_t>(s.wrapper_frames()) >= frames) {
        return Bad("site", i, absl::StrFormat("wrapper_frames %d leaves none of its %d frames to "
                                              "name it", s.wrapper_frames(), frames));
      }
      const auto [it, inserted] = keys.emplace(s.key(), i);
      if (!inserted) {
        return Bad("site", i, absl::StrFormat("key 0x%x repeats site %d's", s.key(), it->second));
      }
    }
    return absl::OkStatus();
  }

  absl::Status Profiles() {
    absl::flat_hash_set<std::pair<uint32_t, uint64_t>> seen;
    for (int i = 0; i < t_.site_profiles_size(); ++i) {
      const telemetry::SiteProfile& p = t_.site_profiles(i);
      HAK_RETURN_IF_ERROR(RunRef("site profile", i, p.run()));
      HAK_RETURN_IF_ERROR(SiteRef("site profile", i, p.site_id()));
      if (!seen.emplace(p.run(), p.site_id()).second) {
        return Bad("site profile", i, absl::StrFormat("a second profile of site id %d in run %d",
                                                      p.site_id(), p.run()));
      }
      for (int k = 1; k < p.sizes_size(); ++k) {
        if (p.sizes(k).max_bytes() <= p.sizes(k - 1).max_bytes()) {
          return Bad("site profile", i, absl::StrCat("size buckets not increasing (bucket ", k, ")"));
        }
      }
      for (int k = 1; k < p.lifetimes_size(); ++k) {
        if (p.lifetimes(k).max_ns() <= p.lifetimes(k - 1).max_ns()) {
          return Bad("site profile", i,
                     absl::StrCat("lifetime buckets not increasing (bucket ", k, ")"));
        }
      }
    }
    return absl::OkStatus();
  }

  absl::Status Choices() {
    absl::flat_hash_set<std::tuple<uint32_t, uint64_t, int>> seen;
    for (int i = 0; i < t_.choices_size(); ++i) {
      const telemetry::BandChoice& c = t_.choices(i);
      HAK_RETURN_IF_ERROR(RunRef("choice", i, c.run()));
      HAK_RETURN_IF_ERROR(SiteRef("choice", i, c.site_id()));
      HAK_RETURN_IF_ERROR(Band("choice", i, c.band()));
      HAK_RETURN_IF_ERROR(Strategy("choice", i, "strategy", c.strategy(), true));
      if (!seen.emplace(c.run(), c.site_id(), c.band()).second) {
        return Bad("choice", i, absl::StrFormat("a second choice for site id %d, band %d in run %d",
                                                c.site_id(), c.band(), c.run()));
      }
    }
    return absl::OkStatus();
  }

  absl::Status Outcomes() {
    absl::flat_hash_set<std::tuple<uint32_t, uint64_t, int, int>> seen;
    for (int i = 0; i < t_.outcomes_size(); ++i) {
      const telemetry::Outcome& o = t_.outcomes(i);
      HAK_RETURN_IF_ERROR(RunRef("outcome", i, o.run()));
      HAK_RETURN_IF_ERROR(SiteRef("outcome", i, o.site_id()));
      HAK_RETURN_IF_ERROR(Band("outcome", i, o.band()));
      HAK_RETURN_IF_ERROR(Strategy("outcome", i, "strategy", o.strategy(), false));
      for (const auto& [field, v] :
           {std::pair<const char*, double>{"rating_elo", o.rating_elo()}, {"cost_ns", o.cost_ns()},
            {"time_ns", o.time_ns()}, {"fault_ns", o.fault_ns()}, {"idle_ns", o.idle_ns()},
            {"idle_mib_seconds", o.idle_mib_seconds()}}) {
        HAK_RETURN_IF_ERROR(Finite("outcome", i, field, v));
      }
      HAK_RETURN_IF_ERROR(Cost("outcome", i, "cost_ns", o.cost_ns()));
      if (!seen.emplace(o.run(), o.site_id(), o.band(), o.strategy()).second) {
        return Bad("outcome", i,
                   absl::StrFormat("a second outcome for site id %d, band %d, strategy %d in run %d",
                                   o.site_id(), o.band(), o.strategy(), o.run()));
      }
    }
    return absl::OkStatus();
  }

  absl::Status Matches() {
    for (int i = 0; i < t_.matches_size(); ++i) {
      const telemetry::Match& m = t_.matches(i);
      HAK_RETURN_IF_ERROR(RunRef("match", i, m.run()));
      HAK_RETURN_IF_ERROR(SiteRef("match", i, m.site_id()));
      HAK_RETURN_IF_ERROR(Band("match", i, m.band()));
      HAK_RETURN_IF_ERROR(Strategy("match", i, "chosen strategy", m.chosen(), true));
      for (int k = 0; k < m.results_size(); ++k) {
        const telemetry::MatchResult& r = m.results(k);
        const std::string what = absl::StrCat("match ", i, ": result");
        HAK_RETURN_IF_ERROR(Strategy(what, k, "strategy", r.strategy(), false));
        for (const auto& [field, v] :
             {std::pair<const char*, double>{"rating_elo", r.rating_elo()}, {"cost_ns", r.cost_ns()},
              {"time_ns", r.time_ns()}, {"fault_ns", r.fault_ns()}, {"idle_ns", r.idle_ns()},
              {"idle_mib_seconds", r.idle_mib_seconds()}}) {
          HAK_RETURN_IF_ERROR(Finite(what, k, field, v));
        }
        HAK_RETURN_IF_ERROR(Cost(what, k, "cost_ns", r.cost_ns()));
      }
    }
    return absl::OkStatus();
  }

  absl::Status Decisions() {
    for (int i = 0; i < t_.decisions_size(); ++i) {
      const telemetry::Decision& d = t_.decisions(i);
      HAK_RETURN_IF_ERROR(RunRef("decision", i, d.run()));
      HAK_RETURN_IF_ERROR(SiteRef("decision", i, d.site_id()));
      HAK_RETURN_IF_ERROR(Band("decision", i, d.band()));
      if (!telemetry::DecisionKind_IsValid(d.kind())) {
        return Bad("decision", i, absl::StrCat("unknown kind ", d.kind()));
      }
      HAK_RETURN_IF_ERROR(Strategy("decision", i, "from strategy", d.from(), true));
      HAK_RETURN_IF_ERROR(Strategy("decision", i, "to strategy", d.to(), true));
    }
    return absl::OkStatus();
  }

  const Telemetry& t_;
};

}  // namespace

absl::Status ValidateTelemetry(const Telemetry& t) { return Checker(t).Check(); }

absl::StatusOr<Telemetry> DecodeTelemetryFile(absl::string_view bytes) {
  absl::string_view payload;
  HAK_RETURN_IF_ERROR(DecodeEnvelope(bytes, &payload));
  Telemetry t;
  {
    // libprotobuf logs why a parse failed (invalid UTF-8 in a proto3 string, say) on
    // stderr; the one line a command prints is the reason here.
    google::protobuf::LogSilencer quiet;
    if (!t.ParseFromArray(payload.data(), static_cast<int>(payload.size()))) {
      return Invalid("malformed telemetry (the payload does not parse)");
    }
  }
  HAK_RETURN_IF_ERROR(ValidateTelemetry(t));
  return t;
}

absl::StatusOr<Telemetry> ReadTelemetryFile(const std::string& path) {
  std::string bytes;
  HAK_RETURN_IF_ERROR(ReadFile(path, &bytes));
  return DecodeTelemetryFile(bytes);
}

std::string EncodeTelemetryFile(const Telemetry& t) {
  std::string payload;
  {
    google::protobuf::io::StringOutputStream stream(&payload);
    google::protobuf::io::CodedOutputStream out(&stream);
    out.SetSerializationDeterministic(true);
    t.SerializeToCodedStream(&out);
  }
  telemetry::TelemetryFile file;
  file.set_magic(kTelemetryMagic);
  file.set_format_version(kTelemetryFormatVersion);
  file.set_telemetry_fnv1a64(
      learner::Fnv1a64(reinterpret_cast<const uint8_t*>(payload.data()), payload.size()));
  file.set_telemetry(std::move(payload));
  // libprotobuf writes fields in field-number order: the magic first, as readers require.
  std::string bytes;
  file.SerializeToString(&bytes);
  return bytes;
}

absl::Status WriteTelemetryAtomically(const std::string& path, const Telemetry& t) {
  if (const absl::Status valid = ValidateTelemetry(t); !valid.ok()) {
    return Invalid(absl::StrCat("refusing to write invalid telemetry: ", valid.message()));
  }
  return WriteFileAtomically(path, EncodeTelemetryFile(t));
}

}  // namespace tools
}  // namespace hakmem
