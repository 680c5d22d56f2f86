// Quantities for people: bytes in binary units, durations in the unit that fits, three
// significant digits ("19.1 MiB", "2.05 ms"). One place, so every command spells them
// alike.
#ifndef HAKMEM_TOOLS_UNITS_H_
#define HAKMEM_TOOLS_UNITS_H_

#include <stdint.h>

#include <string>

namespace hakmem {
namespace tools {

// "0 B", "512 B", "1.50 KiB", "19.1 MiB", "3.00 GiB", up to TiB; negative values keep
// their sign.
std::string HumanBytes(double bytes);

// "850 ns", "2.05 µs", "1.50 ms", "2.50 s" (and seconds from there on: "1500 s").
std::string HumanDuration(double ns);

// "1 run", "2 runs".
std::string Count(uint64_t n, const char* one, const char* many);

}  // namespace tools
}  // namespace hakmem

#endif  // HAKMEM_TOOLS_UNITS_H_
