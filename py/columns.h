// Column tables (py/frames.h) handed to Python as numpy arrays without a Python object
// per row, for the bindings.
#ifndef HAKMEM_PY_COLUMNS_H_
#define HAKMEM_PY_COLUMNS_H_

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <utility>
#include <vector>

#include "py/frames.h"

namespace hakmem {
namespace py {

// The vector becomes the array's memory (moved, not copied); the capsule frees it.
template <typename T>
inline pybind11::array_t<T> ToArray(std::vector<T>&& v) {
  auto* owned = new std::vector<T>(std::move(v));
  pybind11::capsule free_when_done(owned, [](void* p) { delete static_cast<std::vector<T>*>(p); });
  return pybind11::array_t<T>({owned->size()}, {sizeof(T)}, owned->data(), free_when_done);
}

// {name: array} for numbers and flags; {name: (codes, categories)} for strings.
inline pybind11::dict ToDict(Frame&& f) {
  pybind11::dict out;
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
        out[c.name.c_str()] = pybind11::make_tuple(ToArray(std::move(c.ints)), pybind11::cast(c.categories));
        break;
    }
  }
  return out;
}

// {"kind": ..., table: {column: ...}} for every table.
inline pybind11::dict ToDict(Frames&& frames) {
  pybind11::dict out;
  out["kind"] = frames.kind;
  out["runs"] = ToDict(std::move(frames.runs));
  out["sites"] = ToDict(std::move(frames.sites));
  out["curves"] = ToDict(std::move(frames.curves));
  out["decisions"] = ToDict(std::move(frames.decisions));
  out["outcomes"] = ToDict(std::move(frames.outcomes));
  out["timeline"] = ToDict(std::move(frames.timeline));
  return out;
}

}  // namespace py
}  // namespace hakmem

#endif  // HAKMEM_PY_COLUMNS_H_
