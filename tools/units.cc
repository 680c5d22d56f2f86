#include "tools/units.h"

#include <math.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace hakmem {
namespace tools {
namespace {

// `v` (at least 1 and below 1000 or 1024) with three significant digits and its unit.
std::string ThreeDigits(double v, const char* unit) {
  if (v < 9.995) return absl::StrFormat("%.2f %s", v, unit);
  if (v < 99.95) return absl::StrFormat("%.1f %s", v, unit);
  return absl::StrFormat("%.0f %s", v, unit);
}

}  // namespace

std::string HumanBytes(double bytes) {
  if (!isfinite(bytes)) return "? B";
  if (bytes < 0) return "-" + HumanBytes(-bytes);
  if (bytes < 1024) return absl::StrFormat("%.0f B", bytes);
  static const char* const kUnits[] = {"KiB", "MiB", "GiB", "TiB"};
  double v = bytes / 1024;
  int u = 0;
  // 1023.5 KiB would print as "1024 KiB": move up once the rounded value reaches 1000.
  while (v >= 999.5 && u < 3) {
    v /= 1024;
    ++u;
  }
  return ThreeDigits(v, kUnits[u]);
}

std::string HumanDuration(double ns) {
  if (!isfinite(ns)) return "? ns";
  if (ns < 0) return "-" + HumanDuration(-ns);
  if (ns < 999.5) return absl::StrFormat("%.0f ns", ns);
  if (ns < 999.5e3) return ThreeDigits(ns / 1e3, "µs");
  if (ns < 999.5e6) return ThreeDigits(ns / 1e6, "ms");
  return ThreeDigits(ns / 1e9, "s");
}

std::string Count(uint64_t n, const char* one, const char* many) {
  return absl::StrCat(n, " ", n == 1 ? one : many);
}

}  // namespace tools
}  // namespace hakmem
