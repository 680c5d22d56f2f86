// load_frames(path): a telemetry file or frozen table as {table: {column: array}}, the
// arrays built in C++ (py/frames.h) and handed over without a Python object per row.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <utility>
#include <vector>

#include "py/columns.h"
#include "py/errors.h"
#include "py/frames.h"

namespace hakmem {
namespace py {
namespace {

namespace pb = pybind11;

pb::dict LoadFramesPy(const std::string& path) {
  absl::StatusOr<Frames> frames;
  {
    pb::gil_scoped_release unlocked;  // reading and building columns needs no Python
    frames = LoadFrames(path);
  }
  ThrowIfError(frames.status());
  return ToDict(std::move(*frames));
}

}  // namespace

void RegisterLoad(pb::module_& m) {
  m.def("load_frames", &LoadFramesPy, pb::arg("path"),
        "Reads a telemetry file or frozen table: {'kind': str, table: {column: array or "
        "(codes, categories)}}. Raises FileError with the command line's message.");
}

}  // namespace py
}  // namespace hakmem
