// hakmem._native: the C++ half of the Python module `hakmem` (py/hakmem/__init__.py).
// Each area registers itself from its own file; the logic lives in the C++ libraries.
#include <pybind11/pybind11.h>

namespace hakmem {
namespace py {
void RegisterErrors(pybind11::module_& m);
void RegisterLoad(pybind11::module_& m);
void RegisterMerge(pybind11::module_& m);
void RegisterReplay(pybind11::module_& m);
}  // namespace py
}  // namespace hakmem

PYBIND11_MODULE(_native, m) {
  m.doc() = "hakmem's telemetry and frozen tables, as numpy columns (see the hakmem package)";
  hakmem::py::RegisterErrors(m);
  hakmem::py::RegisterLoad(m);
  hakmem::py::RegisterMerge(m);
  hakmem::py::RegisterReplay(m);
}
