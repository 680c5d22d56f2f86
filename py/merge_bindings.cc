// Telemetry files in memory: merge_bytes([file bytes, ...]) -> file bytes is `hakmem
// merge` (associative and commutative), for hakmem.fleet's tree reductions; and
// telemetry_file(Telemetry bytes) -> file bytes wraps a serialized Telemetry in its
// envelope, for scripts that build files with the generated Python module.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "py/errors.h"
#include "tools/telemetry_file.h"
#include "tools/telemetry_merge.h"

namespace hakmem {
namespace py {
namespace {

namespace pb = pybind11;

pb::bytes MergeBytes(const std::vector<std::string>& files) {
  if (files.empty()) throw Error("merge_bytes: no telemetry to merge");
  std::string merged;
  {
    pb::gil_scoped_release unlocked;
    std::vector<telemetry::Telemetry> decoded;
    decoded.reserve(files.size());
    for (size_t i = 0; i < files.size(); ++i) {
      absl::StatusOr<telemetry::Telemetry> t = tools::DecodeTelemetryFile(files[i]);
      if (!t.ok()) throw FileError(absl::StrCat("input ", i, ": ", t.status().message()));
      decoded.push_back(*std::move(t));
    }
    std::vector<const telemetry::Telemetry*> inputs;
    for (const telemetry::Telemetry& t : decoded) inputs.push_back(&t);
    std::vector<std::string> notes;  // runs met twice: kept once, as `hakmem merge` does
    merged = tools::EncodeTelemetryFile(tools::MergeTelemetry(inputs, &notes));
  }
  return pb::bytes(merged);
}

pb::bytes TelemetryFile(const std::string& payload) {
  telemetry::Telemetry t;
  if (!t.ParseFromString(payload)) throw FileError("telemetry_file: not a serialized Telemetry");
  return pb::bytes(tools::EncodeTelemetryFile(t));
}

}  // namespace

void RegisterMerge(pb::module_& m) {
  m.def("telemetry_file", &TelemetryFile, pb::arg("telemetry"),
        "The file (envelope: magic, version, checksum) around a serialized Telemetry.");
  m.def("merge_bytes", &MergeBytes, pb::arg("files"),
        "Merges telemetry files given as bytes into one (bytes), as `hakmem merge` does.");
}

}  // namespace py
}  // namespace hakmem
