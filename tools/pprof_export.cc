#include "tools/pprof_export.h"

#include <algorithm>
#include <map>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_format.h"
#include "google/protobuf/io/gzip_stream.h"
#include "google/protobuf/io/zero_copy_stream_impl_lite.h"
#include "tools/site_view.h"

namespace hakmem {
namespace tools {
namespace {

using perftools::profiles::Profile;
using telemetry::Telemetry;

// pprof's string table: interned, "" first.
class Strings {
 public:
  explicit Strings(Profile* p) : p_(p) { Id(""); }
  int64_t Id(const std::string& s) {
    auto [it, added] = ids_.emplace(s, p_->string_table_size());
    if (added) p_->add_string_table(s);
    return it->second;
  }

 private:
  Profile* p_;
  absl::flat_hash_map<std::string, int64_t> ids_;
};

}  // namespace

Profile ToProfile(const Telemetry& t) {
  Profile p;
  Strings str(&p);
  for (const auto& [type, unit] : {std::pair<const char*, const char*>{"alloc_objects", "count"},
                                   {"alloc_space", "bytes"},
                                   {"inuse_objects", "count"},
                                   {"inuse_space", "bytes"}}) {
    perftools::profiles::ValueType* v = p.add_sample_type();
    v->set_type(str.Id(type));
    v->set_unit(str.Id(unit));
  }
  p.set_default_sample_type(str.Id("alloc_space"));
  p.mutable_period_type()->set_type(str.Id("space"));
  p.mutable_period_type()->set_unit(str.Id("bytes"));
  if (t.runs_size() > 0) p.set_period(static_cast<int64_t>(t.runs(0).sample_bytes()));

  // Mappings: one per module, same ids. Their extent covers their locations' offsets.
  std::vector<uint64_t> limit(static_cast<size_t>(t.modules_size()), 0);
  std::vector<bool> files(limit.size(), false), lines(limit.size(), false);
  for (const telemetry::Location& l : t.locations()) {
    if (l.module_id() == 0) continue;
    const size_t m = l.module_id() - 1;
    limit[m] = std::max(limit[m], l.offset_bytes() + 1);
    files[m] = files[m] || l.file_str() != 0;
    lines[m] = lines[m] || l.line() != 0;
  }
  for (int i = 0; i < t.modules_size(); ++i) {
    const telemetry::Module& m = t.modules(i);
    perftools::profiles::Mapping* out = p.add_mapping();
    out->set_id(m.id());
    out->set_memory_start(0);
    out->set_memory_limit(limit[i]);
    out->set_file_offset(0);
    out->set_filename(str.Id(t.string_table(static_cast<int>(m.path_str()))));
    out->set_build_id(str.Id(m.build_id_hex()));
    // Symbolized when recorded, by the process that knew its own modules: pprof should
    // not try again with whatever binary has that path here.
    out->set_has_functions(true);
    out->set_has_filenames(files[i]);
    out->set_has_line_numbers(lines[i]);
  }

  // Functions by (name, file), made on first use.
  std::map<std::pair<std::string, std::string>, uint64_t> functions;
  auto function = [&](const std::string& name, const std::string& file) {
    auto [it, added] = functions.emplace(std::make_pair(name, file), p.function_size() + 1);
    if (added) {
      perftools::profiles::Function* f = p.add_function();
      f->set_id(it->second);
      f->set_name(str.Id(name));
      f->set_system_name(str.Id(name));
      f->set_filename(str.Id(file));
    }
    return it->second;
  };
  for (const telemetry::Location& l : t.locations()) {
    perftools::profiles::Location* out = p.add_location();
    out->set_id(l.id());
    out->set_mapping_id(l.module_id());
    out->set_address(l.offset_bytes());
    const std::string& name = t.string_table(static_cast<int>(l.function_str()));
    if (!name.empty()) {
      perftools::profiles::Line* line = out->add_line();
      line->set_function_id(function(name, t.string_table(static_cast<int>(l.file_str()))));
      line->set_line(l.line());
    }
  }

  // One sample per profiled site.
  const std::vector<SiteTotals> sites = AggregateSites(t);
  for (const SiteTotals& s : sites) {
    if (!s.profiled) continue;
    const telemetry::Site& site = t.sites(s.site);
    perftools::profiles::Sample* sample = p.add_sample();
    if (site.location_ids_size() > 0) {
      for (uint64_t id : site.location_ids()) sample->add_location_id(id);
    } else {
      // A location of its own, named after the site.
      perftools::profiles::Location* l = p.add_location();
      l->set_id(static_cast<uint64_t>(p.location_size()));
      const std::string name =
          site.overflow() ? "(overflow)" : t.string_table(static_cast<int>(site.name_str()));
      l->add_line()->set_function_id(function(name, ""));
      sample->add_location_id(l->id());
    }
    sample->add_value(static_cast<int64_t>(s.allocs));
    sample->add_value(static_cast<int64_t>(s.bytes));
    sample->add_value(static_cast<int64_t>(s.allocs) - static_cast<int64_t>(s.frees));
    sample->add_value(s.live_bytes);
    perftools::profiles::Label* label = sample->add_label();
    label->set_key(str.Id("site"));
    label->set_str(str.Id(absl::StrFormat("0x%x", site.key())));
  }

  uint64_t start = UINT64_MAX, end = 0;
  for (const telemetry::Run& r : t.runs()) {
    start = std::min(start, r.start_unix_ns());
    end = std::max(end, r.end_unix_ns());
    p.add_comment(str.Id(absl::StrFormat(
        "hakmem %s: %s pid %d on %s", r.hakmem_version(),
        Printable(t.string_table(static_cast<int>(r.program_str()))), r.pid(),
        Printable(t.string_table(static_cast<int>(r.host_str()))))));
  }
  if (t.runs_size() > 0) {
    p.set_time_nanos(static_cast<int64_t>(start));
    p.set_duration_nanos(end > start ? static_cast<int64_t>(end - start) : 0);
  }
  return p;
}

std::string GzipProfile(const Profile& p) {
  std::string out;
  {
    google::protobuf::io::StringOutputStream raw(&out);
    google::protobuf::io::GzipOutputStream::Options options;
    options.format = google::protobuf::io::GzipOutputStream::GZIP;
    google::protobuf::io::GzipOutputStream gzip(&raw, options);
    p.SerializeToZeroCopyStream(&gzip);
    gzip.Close();
  }
  return out;
}

}  // namespace tools
}  // namespace hakmem
