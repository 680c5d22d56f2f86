// The exceptions the bindings raise (hakmem.Error and its subclasses in Python), carrying
// the command line's one-line messages.
#ifndef HAKMEM_PY_ERRORS_H_
#define HAKMEM_PY_ERRORS_H_

#include <stdexcept>
#include <string>

#include "absl/status/status.h"

namespace hakmem {
namespace py {

// Any hakmem error (hakmem.Error).
struct Error : std::runtime_error {
  using std::runtime_error::runtime_error;
};
// A file that cannot be read, or is not a valid telemetry file or frozen table
// (hakmem.FileError).
struct FileError : Error {
  using Error::Error;
};

// Throws FileError with the status's message if it is not ok.
inline void ThrowIfError(const absl::Status& s) {
  if (!s.ok()) throw FileError(std::string(s.message()));
}

}  // namespace py
}  // namespace hakmem

#endif  // HAKMEM_PY_ERRORS_H_
