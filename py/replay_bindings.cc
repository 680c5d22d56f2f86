// Replay: the replay engine (py/replay.h) for hakmem.Engine, stepped in chunks so that
// Python can show progress and stop it between them; and trace_header(path).
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <memory>
#include <optional>
#include <string>

#include "absl/strings/str_cat.h"
#include "core/strategy.h"
#include "py/columns.h"
#include "py/errors.h"
#include "py/frames.h"
#include "py/replay.h"
#include "tools/trace_file.h"

namespace hakmem {
namespace py {
namespace {

namespace pb = pybind11;

ReplayConfig Config(const std::string& mode, const std::string& strategy,
                    std::optional<double> k_factor, std::optional<double> commit_margin,
                    std::optional<uint64_t> explore_every, std::optional<uint64_t> min_samples,
                    std::optional<double> idle_weight, std::optional<uint64_t> bigcache_bytes,
                    std::optional<uint64_t> decay_ms, uint64_t seed) {
  ReplayConfig c;
  if (mode == "learn") c.mode = ReplayConfig::Mode::kLearn;
  else if (mode == "shadow") c.mode = ReplayConfig::Mode::kShadow;
  else if (mode == "fixed") c.mode = ReplayConfig::Mode::kFixed;
  else throw Error(absl::StrCat("mode: '", mode, "' is not learn, shadow or fixed"));
  if (!strategy.empty()) {
    c.fixed = ParseStrategy(strategy.c_str());
    if (c.fixed == Strategy::kNone) {
      throw Error(absl::StrCat("strategy: '", strategy, "' is not pool, bigcache or mmap"));
    }
    if (c.mode != ReplayConfig::Mode::kFixed) throw Error("strategy: only with mode='fixed'");
  }
  c.k_factor = k_factor;
  c.commit_margin = commit_margin;
  c.explore_every = explore_every;
  c.min_samples = min_samples;
  c.idle_weight = idle_weight;
  c.bigcache_bytes = bigcache_bytes;
  c.decay_ms = decay_ms;
  c.seed = seed;
  if (absl::Status s = CheckReplayConfig(c); !s.ok()) throw Error(std::string(s.message()));
  return c;
}

std::unique_ptr<Replay> MakeReplay(const std::string& trace, const std::string& telemetry,
                                   const ReplayConfig& config) {
  absl::StatusOr<std::unique_ptr<Replay>> r;
  {
    pb::gil_scoped_release unlocked;
    r = Replay::Create(trace, telemetry, config);
  }
  ThrowIfError(r.status());
  return *std::move(r);
}

pb::dict TraceHeader(const std::string& path) {
  absl::StatusOr<tools::TraceFile> t = tools::ReadTrace(path);
  if (!t.ok()) throw FileError(absl::StrCat(path, ": ", t.status().message()));
  pb::dict d;
  d["records"] = t->header().records;
  d["dropped"] = t->header().dropped;
  d["start_unix_ns"] = t->header().start_unix_ns;
  d["pid"] = t->header().pid;
  d["record_bytes"] = t->header().record_bytes;
  d["header_bytes"] = sizeof(learner::TraceHeader);
  return d;
}

}  // namespace

void RegisterReplay(pb::module_& m) {
  m.def("trace_header", &TraceHeader, pb::arg("path"),
        "Checks a HAKMEM_TRACE file whole and returns its header (records, dropped, "
        "start_unix_ns, pid, record_bytes, header_bytes); FileError if it is not a whole "
        "trace.");
  pb::class_<Replay>(m, "Replay", "A trace replayed through the learner's tournament (py/replay.h).")
      .def(pb::init([](const std::string& trace, const std::string& telemetry,
                       const std::string& mode, const std::string& strategy,
                       std::optional<double> k_factor, std::optional<double> commit_margin,
                       std::optional<uint64_t> explore_every, std::optional<uint64_t> min_samples,
                       std::optional<double> idle_weight, std::optional<uint64_t> bigcache_bytes,
                       std::optional<uint64_t> decay_ms, uint64_t seed) {
             return MakeReplay(trace, telemetry,
                               Config(mode, strategy, k_factor, commit_margin, explore_every,
                                      min_samples, idle_weight, bigcache_bytes, decay_ms, seed));
           }),
           pb::arg("trace"), pb::arg("telemetry"), pb::arg("mode"), pb::arg("strategy"),
           pb::arg("k_factor"), pb::arg("commit_margin"), pb::arg("explore_every"),
           pb::arg("min_samples"), pb::arg("idle_weight"), pb::arg("bigcache_bytes"),
           pb::arg("decay_ms"), pb::arg("seed"))
      .def_property_readonly("events", &Replay::events)
      .def_property_readonly("position", &Replay::position)
      .def("step", &Replay::Step, pb::arg("n"), pb::call_guard<pb::gil_scoped_release>(),
           "Plays up to n more records; True once all are played.")
      .def("frames",
           [](const Replay& r) {
             Frames f;
             {
               pb::gil_scoped_release unlocked;
               f = TelemetryFrames(r.Result());
             }
             return ToDict(std::move(f));
           },
           "The tables hakmem.load gives for telemetry, of what the replay learned.")
      .def("summary", [](const Replay& r) { return ToDict(r.Summary()); },
           "Per (site, band): the modelled cost of every request and the first commit.")
      .def("freeze",
           [](const Replay& r, const std::string& path) {
             absl::Status s;
             {
               pb::gil_scoped_release unlocked;
               s = r.Freeze(path);
             }
             if (s.code() == absl::StatusCode::kFailedPrecondition) {
               throw Error(std::string(s.message()));
             }
             ThrowIfError(s);
           },
           pb::arg("path"), "Writes what the replay learned as a frozen table (atomically).");
}

}  // namespace py
}  // namespace hakmem
