#include "tools/telemetry_merge.h"

#include <time.h>

#include <algorithm>
#include <map>
#include <set>
#include <tuple>
#include <type_traits>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/io/zero_copy_stream_impl_lite.h"
#include "tools/site_view.h"

namespace hakmem {
namespace tools {
namespace {

using telemetry::Telemetry;

// A location as the merge identifies it: its module's identity and its offset.
using LocKey = std::pair<std::string, uint64_t>;

struct Symbol {
  std::string function, file;
  uint32_t line = 0;
};

// A strict total order, "a is the better description": more complete first, then the
// least. Keeping the best of any set gives the same pick in any order and grouping.
bool Better(const Symbol& a, const Symbol& b) {
  const auto rank = [](const Symbol& s) {
    return std::make_tuple(!s.function.empty(), !s.file.empty(), s.line != 0);
  };
  if (rank(a) != rank(b)) return rank(a) > rank(b);
  return std::tie(a.function, a.file, a.line) < std::tie(b.function, b.file, b.line);
}

// What a site is, in identities rather than one file's ids.
struct SiteContent {
  std::vector<LocKey> frames;
  std::string name;
  bool overflow = false;

  bool operator<(const SiteContent& o) const {
    return std::tie(frames, name, overflow) < std::tie(o.frames, o.name, o.overflow);
  }
  bool operator==(const SiteContent& o) const {
    return frames == o.frames && name == o.name && overflow == o.overflow;
  }
};

struct SiteAcc {
  SiteContent content;
  uint32_t wrapper_frames = 0;
};

// Applies `f` to every string index a Run holds, replacing it.
template <typename F>
void MapRunStrings(telemetry::Run* r, F f) {
  r->set_program_str(f(r->program_str()));
  r->set_host_str(f(r->host_str()));
  for (telemetry::Setting& s : *r->mutable_settings()) {
    s.set_name_str(f(s.name_str()));
    s.set_text_str(f(s.text_str()));
    s.set_unit_str(f(s.unit_str()));
  }
}

// One version of one run: the Run with its own little string table, and its records,
// sorted canonically, pointing at sites by key. Its serialization (`canonical`) depends on
// nothing but its content, so versions compare the same in every merge.
struct Bundle {
  Telemetry data;  // runs[0] and its records (run 0); site_id fields hold site keys
  std::string canonical;
  // (pid, host, start): the process.
  std::tuple<uint64_t, std::string, uint64_t> process;
  const Telemetry* input;
};

std::string Serialize(const Telemetry& t) {
  std::string out;
  google::protobuf::io::StringOutputStream stream(&out);
  google::protobuf::io::CodedOutputStream coded(&stream);
  coded.SetSerializationDeterministic(true);
  t.SerializeToCodedStream(&coded);
  return out;
}

// Sorts each kind of record of one run by its canonical key; ties keep their order.
void SortRecords(Telemetry* t) {
  auto& p = *t->mutable_site_profiles();
  std::stable_sort(p.begin(), p.end(), [](const auto& a, const auto& b) {
    return a.site_id() < b.site_id();
  });
  auto& c = *t->mutable_choices();
  std::stable_sort(c.begin(), c.end(), [](const auto& a, const auto& b) {
    return std::make_tuple(a.site_id(), a.band()) < std::make_tuple(b.site_id(), b.band());
  });
  auto& o = *t->mutable_outcomes();
  std::stable_sort(o.begin(), o.end(), [](const auto& a, const auto& b) {
    return std::make_tuple(a.site_id(), a.band(), a.strategy()) <
           std::make_tuple(b.site_id(), b.band(), b.strategy());
  });
  auto& m = *t->mutable_matches();
  std::stable_sort(m.begin(), m.end(), [](const auto& a, const auto& b) {
    return std::make_tuple(a.site_id(), a.band(), a.number(), a.time_ns()) <
           std::make_tuple(b.site_id(), b.band(), b.number(), b.time_ns());
  });
  auto& d = *t->mutable_decisions();
  std::stable_sort(d.begin(), d.end(), [](const auto& a, const auto& b) {
    return std::make_tuple(a.site_id(), a.band(), a.time_ns(), a.allocations()) <
           std::make_tuple(b.site_id(), b.band(), b.time_ns(), b.allocations());
  });
  auto& s = *t->mutable_timeline();
  std::stable_sort(s.begin(), s.end(),
                   [](const auto& a, const auto& b) { return a.time_ns() < b.time_ns(); });
}

// The records of run `run` of `in` with run 0 and site ids replaced by site keys.
template <typename Record>
void CopyRecords(const google::protobuf::RepeatedPtrField<Record>& from, uint32_t run,
                 const std::vector<uint64_t>& key_of_site,
                 google::protobuf::RepeatedPtrField<Record>* to) {
  for (const Record& r : from) {
    if (r.run() != run) continue;
    Record* copy = to->Add();
    *copy = r;
    copy->set_run(0);
    if constexpr (!std::is_same_v<Record, telemetry::AllocatorSample>) {
      copy->set_site_id(key_of_site[r.site_id() - 1]);
    }
  }
}

Bundle MakeBundle(const Telemetry& in, int run, const std::vector<uint64_t>& key_of_site) {
  Bundle b;
  b.input = &in;
  telemetry::Run* r = b.data.add_runs();
  *r = in.runs(run);
  // Its own string table, in order of first use.
  b.data.add_string_table("");
  absl::flat_hash_map<std::string, uint64_t> local;
  local[""] = 0;
  MapRunStrings(r, [&](uint64_t index) {
    const std::string& s = in.string_table(static_cast<int>(index));
    auto [it, added] = local.emplace(s, local.size());
    if (added) b.data.add_string_table(s);
    return it->second;
  });
  const uint32_t u = static_cast<uint32_t>(run);
  CopyRecords(in.site_profiles(), u, key_of_site, b.data.mutable_site_profiles());
  CopyRecords(in.choices(), u, key_of_site, b.data.mutable_choices());
  CopyRecords(in.outcomes(), u, key_of_site, b.data.mutable_outcomes());
  CopyRecords(in.matches(), u, key_of_site, b.data.mutable_matches());
  CopyRecords(in.decisions(), u, key_of_site, b.data.mutable_decisions());
  CopyRecords(in.timeline(), u, key_of_site, b.data.mutable_timeline());
  SortRecords(&b.data);
  b.canonical = Serialize(b.data);
  b.process = std::make_tuple(r->pid(), in.string_table(static_cast<int>(in.runs(run).host_str())),
                              r->start_unix_ns());
  return b;
}

// Which of two versions of a run is kept: the later end, then the complete one, then the
// greater canonical bytes. A strict weak order whose maximum is unique.
bool Newer(const Bundle& a, const Bundle& b) {
  const telemetry::Run& ra = a.data.runs(0);
  const telemetry::Run& rb = b.data.runs(0);
  return std::make_tuple(ra.end_unix_ns(), ra.complete(), std::cref(a.canonical)) >
         std::make_tuple(rb.end_unix_ns(), rb.complete(), std::cref(b.canonical));
}

std::string UtcTime(uint64_t unix_ns) {
  const time_t secs = static_cast<time_t>(unix_ns / 1000000000);
  struct tm tm;
  if (gmtime_r(&secs, &tm) == nullptr) return absl::StrCat(unix_ns, " ns");
  char buf[64];
  strftime(buf, sizeof(buf), "%Y-%m-%d %H:%M:%S", &tm);
  return absl::StrFormat("%s.%03d UTC", buf, (unix_ns / 1000000) % 1000);
}

std::string VersionLabel(const telemetry::Run& r) {
  return absl::StrCat("the write that ended ", UtcTime(r.end_unix_ns()),
                      r.complete() ? " (at exit)" : absl::StrCat(" (periodic, write ", r.writes(), ")"));
}

}  // namespace

Telemetry MergeTelemetry(const std::vector<const Telemetry*>& inputs,
                         std::vector<std::string>* notes) {
  // ---- entities: the union, by identity
  std::map<std::string, std::string> modules;  // identity -> path (least non-empty)
  std::map<std::string, std::string> module_build_id;
  std::map<LocKey, Symbol> locations;
  std::map<uint64_t, SiteAcc> sites;  // by key
  std::vector<std::vector<uint64_t>> key_of_site(inputs.size());
  for (size_t i = 0; i < inputs.size(); ++i) {
    const Telemetry& in = *inputs[i];
    auto str = [&](uint64_t index) -> const std::string& {
      return in.string_table(static_cast<int>(index));
    };
    std::vector<std::string> identity(static_cast<size_t>(in.modules_size()));
    for (int k = 0; k < in.modules_size(); ++k) {
      const telemetry::Module& m = in.modules(k);
      identity[k] = ModuleIdentity(m.build_id_hex(), str(m.path_str()));
      const std::string& path = str(m.path_str());
      auto [it, added] = modules.emplace(identity[k], path);
      if (!added && !path.empty() && (it->second.empty() || path < it->second)) it->second = path;
      module_build_id[identity[k]] = m.build_id_hex();
    }
    std::vector<LocKey> loc_key(static_cast<size_t>(in.locations_size()));
    for (int k = 0; k < in.locations_size(); ++k) {
      const telemetry::Location& l = in.locations(k);
      loc_key[k] = LocKey(l.module_id() == 0 ? "" : identity[l.module_id() - 1], l.offset_bytes());
      const Symbol sym{str(l.function_str()), str(l.file_str()), l.line()};
      auto [it, added] = locations.emplace(loc_key[k], sym);
      if (!added && Better(sym, it->second)) it->second = sym;
    }
    for (int k = 0; k < in.sites_size(); ++k) {
      const telemetry::Site& s = in.sites(k);
      key_of_site[i].push_back(s.key());
      SiteAcc acc;
      for (uint64_t id : s.location_ids()) acc.content.frames.push_back(loc_key[id - 1]);
      acc.content.name = str(s.name_str());
      acc.content.overflow = s.overflow();
      acc.wrapper_frames = s.wrapper_frames();
      auto [it, added] = sites.emplace(s.key(), acc);
      if (added) continue;
      if (acc.content < it->second.content) {
        it->second = acc;
      } else if (acc.content == it->second.content) {
        it->second.wrapper_frames = std::max(it->second.wrapper_frames, acc.wrapper_frames);
      }
    }
  }

  // ---- runs: one version of each process
  std::map<std::tuple<uint64_t, std::string, uint64_t>, Bundle> kept;
  std::vector<std::string> dropped;
  for (size_t i = 0; i < inputs.size(); ++i) {
    for (int r = 0; r < inputs[i]->runs_size(); ++r) {
      Bundle b = MakeBundle(*inputs[i], r, key_of_site[i]);
      auto it = kept.find(b.process);
      if (it == kept.end()) {
        kept.emplace(b.process, std::move(b));
        continue;
      }
      if (it->second.canonical == b.canonical) continue;  // the same data twice
      const bool newer = Newer(b, it->second);
      const Bundle& keep = newer ? b : it->second;
      const Bundle& drop = newer ? it->second : b;
      const telemetry::Run& run = keep.data.runs(0);
      dropped.push_back(absl::StrFormat(
          "run pid %d on %s started %s is in several inputs with different data: kept %s, "
          "dropped %s",
          run.pid(), Printable(std::get<1>(keep.process)), UtcTime(run.start_unix_ns()),
          VersionLabel(run), VersionLabel(drop.data.runs(0))));
      if (newer) it->second = std::move(b);
    }
  }
  if (notes != nullptr) notes->insert(notes->end(), dropped.begin(), dropped.end());
  std::vector<const Bundle*> runs;
  for (const auto& [process, b] : kept) runs.push_back(&b);
  auto program = [](const Bundle* b) -> const std::string& {
    return b->data.string_table(static_cast<int>(b->data.runs(0).program_str()));
  };
  std::sort(runs.begin(), runs.end(), [&](const Bundle* a, const Bundle* b) {
    const telemetry::Run& ra = a->data.runs(0);
    const telemetry::Run& rb = b->data.runs(0);
    return std::make_tuple(ra.start_unix_ns(), ra.pid(), std::cref(std::get<1>(a->process)),
                           std::cref(program(a))) <
           std::make_tuple(rb.start_unix_ns(), rb.pid(), std::cref(std::get<1>(b->process)),
                           std::cref(program(b)));
  });

  // ---- strings: every one the result names, sorted, "" first
  std::set<std::string> strings = {""};
  for (const auto& [identity, path] : modules) strings.insert(path);
  for (const auto& [key, sym] : locations) {
    strings.insert(sym.function);
    strings.insert(sym.file);
  }
  for (const auto& [key, site] : sites) strings.insert(site.content.name);
  for (const Bundle* b : runs) {
    telemetry::Run r = b->data.runs(0);
    MapRunStrings(&r, [&](uint64_t index) {
      strings.insert(b->data.string_table(static_cast<int>(index)));
      return index;
    });
  }
  Telemetry out;
  absl::flat_hash_map<std::string, uint64_t> string_index;
  for (const std::string& s : strings) {
    string_index.emplace(s, static_cast<uint64_t>(out.string_table_size()));
    out.add_string_table(s);
  }

  // ---- entities, renumbered in their canonical order
  std::map<std::string, uint64_t> module_id;
  for (const auto& [identity, path] : modules) {
    telemetry::Module* m = out.add_modules();
    m->set_id(static_cast<uint64_t>(out.modules_size()));
    m->set_build_id_hex(module_build_id[identity]);
    m->set_path_str(string_index.at(path));
    module_id[identity] = m->id();
  }
  std::map<LocKey, uint64_t> location_id;
  for (const auto& [key, sym] : locations) {
    telemetry::Location* l = out.add_locations();
    l->set_id(static_cast<uint64_t>(out.locations_size()));
    l->set_module_id(key.first.empty() ? 0 : module_id.at(key.first));  // "": in no module
    l->set_offset_bytes(key.second);
    l->set_function_str(string_index.at(sym.function));
    l->set_file_str(string_index.at(sym.file));
    l->set_line(sym.line);
    location_id[key] = l->id();
  }
  absl::flat_hash_map<uint64_t, uint64_t> site_id;  // key -> id
  for (const auto& [key, acc] : sites) {
    telemetry::Site* s = out.add_sites();
    s->set_id(static_cast<uint64_t>(out.sites_size()));
    s->set_key(key);
    for (const LocKey& f : acc.content.frames) s->add_location_ids(location_id.at(f));
    s->set_name_str(string_index.at(acc.content.name));
    s->set_wrapper_frames(acc.wrapper_frames);
    s->set_overflow(acc.content.overflow);
    site_id[key] = s->id();
  }

  // ---- runs and their records, re-pointed
  for (const Bundle* b : runs) {
    const uint32_t run = static_cast<uint32_t>(out.runs_size());
    telemetry::Run* r = out.add_runs();
    *r = b->data.runs(0);
    MapRunStrings(r, [&](uint64_t index) {
      return string_index.at(b->data.string_table(static_cast<int>(index)));
    });
    auto append = [&](const auto& from, auto* to) {
      for (const auto& x : from) {
        auto* copy = to->Add();
        *copy = x;
        copy->set_run(run);
        if constexpr (!std::is_same_v<std::decay_t<decltype(x)>, telemetry::AllocatorSample>) {
          copy->set_site_id(site_id.at(x.site_id()));
        }
      }
    };
    append(b->data.site_profiles(), out.mutable_site_profiles());
    append(b->data.choices(), out.mutable_choices());
    append(b->data.outcomes(), out.mutable_outcomes());
    append(b->data.matches(), out.mutable_matches());
    append(b->data.decisions(), out.mutable_decisions());
    append(b->data.timeline(), out.mutable_timeline());
  }
  return out;
}

}  // namespace tools
}  // namespace hakmem
