// load_frames(path): a telemetry file or frozen table as {table: {column: array}}, the
// arrays built in C++ (py/frames.h) and handed over without a Python object per row.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <utility>
#include <vector>

#include "py/errors.h"
#include "py/frames.h"

namespace hakmem {
namespace py {
namespace {

namespace pb = pybind11;

// The vector becomes the array's memory (moved, not copied); the capsule frees it.
template <typename T>
pb::array_t<T> ToArray(std::vector<T>&& v) {
  auto* owned = new std::vector<T>(std::move(v));
  pb::capsule free_when_done(owned, [](void* p) { delete static_cast<std::vector<T>*>(p); });
  return pb::array_t<T>({owned->size()}, {sizeof(T)}, owned->data(), free_when_done);
}

// {name: array} for numbers and flags; {name: (codes, categories)} for strings.
pb::dict ToDict(Frame&& f) {
  pb::dict out;
  for (Column& c : f.columns) {
    switch (c.kind) {
      case Column::Kind::kInt64:
        out[c.name.c_str()] = ToArray(std::move(c.ints));
        break;
      case Column::Kind::kUint64:
        out[c.name.c_str()] = ToArray(std::move(c.uints));
        break;
      case Column::Kind::kFloat64:
        out[c.name.c_str()] = ToArray(std::move(c.floats));
        break;
      case Column::Kind::kBool: {
        std::vector<uint8_t> b(c.ints.begin(), c.ints.end());
        out[c.name.c_str()] = ToArray(std::move(b)).attr("astype")("bool");
        break;
      }
      case Column::Kind::kCategory:
        out[c.name.c_str()] = pb::make_tuple(ToArray(std::move(c.ints)), pb::cast(c.categories));
        break;
    }
  }
  return out;
}

pb::dict LoadFramesPy(const std::string& path) {
  absl::StatusOr<Frames> frames;
  {
    pb::gil_scoped_release unlocked;  // reading and building columns needs no Python
    frames = LoadFrames(path);
  }
  ThrowIfError(frames.status());
  pb::dict out;
  out["kind"] = frames->kind;
  out["runs"] = ToDict(std::move(frames->runs));
  out["sites"] = ToDict(std::move(frames->sites));
  out["curves"] = ToDict(std::move(frames->curves));
  out["decisions"] = ToDict(std::move(frames->decisions));
  out["outcomes"] = ToDict(std::move(frames->outcomes));
  out["timeline"] = ToDict(std::move(frames->timeline));
  return out;
}

}  // namespace

void RegisterLoad(pb::module_& m) {
  m.def("load_frames", &LoadFramesPy, pb::arg("path"),
        "Reads a telemetry file or frozen table: {'kind': str, table: {column: array or "
        "(codes, categories)}}. Raises FileError with the command line's message.");
}

}  // namespace py
}  // namespace hakmem
