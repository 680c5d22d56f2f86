// hakmem.Error and hakmem.FileError.
#include <pybind11/pybind11.h>

#include "py/errors.h"

namespace hakmem {
namespace py {

void RegisterErrors(pybind11::module_& m) {
  static pybind11::exception<Error> error(m, "Error");
  static pybind11::exception<FileError> file_error(m, "FileError", error.ptr());
  pybind11::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const FileError& e) {
      file_error(e.what());
    } catch (const Error& e) {
      error(e.what());
    }
  });
}

}  // namespace py
}  // namespace hakmem
