// The generated telemetry files (tools/testdata/make_telemetry.py) for C++ tests: their
// BUILD rule passes a.hakt's path in TELEMETRY_TESTDATA_A; the others are beside it.
#ifndef HAKMEM_TOOLS_TESTDATA_TELEMETRY_TESTDATA_H_
#define HAKMEM_TOOLS_TESTDATA_TELEMETRY_TESTDATA_H_

#include <stdlib.h>

#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "gtest/gtest.h"
#include "learner/telemetry.pb.h"
#include "tools/telemetry_file.h"

namespace hakmem {
namespace tools {

inline std::string TestDataPath(absl::string_view name) {
  const char* a = getenv("TELEMETRY_TESTDATA_A");
  const std::string dir = a == nullptr ? "." : std::string(a).substr(0, std::string(a).rfind('/'));
  return absl::StrCat(dir, "/", name, ".hakt");
}

// The decoded file, or an empty Telemetry after a test failure.
inline telemetry::Telemetry ReadTestData(absl::string_view name) {
  absl::StatusOr<telemetry::Telemetry> t = ReadTelemetryFile(TestDataPath(name));
  EXPECT_TRUE(t.ok()) << name << ": " << t.status();
  return t.ok() ? *std::move(t) : telemetry::Telemetry();
}

}  // namespace tools
}  // namespace hakmem

#endif  // HAKMEM_TOOLS_TESTDATA_TELEMETRY_TESTDATA_H_
