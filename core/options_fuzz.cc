// Fuzzes every HAKMEM_* value: the first byte picks the option, the rest (up to a NUL, as
// the environment can hold no NUL) is the variable's text. What LoadOptions makes of it
// (ParseOptionText) must agree with a model of the rules written apart from it, with
// wide arithmetic (no wrapping); an accepted number must print and parse back to itself;
// and a refused value's complaint must be one printable line.
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <string>

#include "core/options.h"

namespace hakmem {
namespace {

[[noreturn]] void Fail(const char* what, Option o, const std::string& text) {
  fprintf(stderr, "options_fuzz: %s for %s='", what, GetOptionInfo(o).name);
  for (unsigned char c : text) fprintf(stderr, c >= 0x20 && c < 0x7f ? "%c" : "\\x%02x", c);
  fprintf(stderr, "'\n");
  abort();
}

// The README's rules: a path is any text shorter than 4096 bytes; a strategy or a mode
// is one of its names; anything else is decimal digits (for byte counts, then k, m or g
// and an optional b, either case) whose value lies in [min, max].
OptionText Model(Option o, const std::string& text, int64_t* value) {
  const OptionInfo& info = GetOptionInfo(o);
  const std::string unit = info.unit;
  if (text.empty()) return OptionText::kUnset;
  if (unit == "path") {
    return text.size() >= static_cast<size_t>(kMaxPathBytes) ? OptionText::kTooLong
                                                              : OptionText::kPath;
  }
  const char* const* names = nullptr;
  static const char* const kStrategies[] = {"pool", "bigcache", "mmap", nullptr};
  static const char* const kModes[] = {"off", "learn", "shadow", "frozen", nullptr};
  if (unit == "strategy") names = kStrategies;
  if (unit == "mode") names = kModes;
  if (names != nullptr) {
    for (int i = 0; names[i] != nullptr; ++i) {
      if (text == names[i]) {
        *value = unit == "strategy" ? i + 1 : i;  // Strategy codes start at 1 (kPool)
        return OptionText::kValue;
      }
    }
    return OptionText::kInvalid;
  }
  size_t i = 0;
  unsigned __int128 v = 0;
  for (; i < text.size() && text[i] >= '0' && text[i] <= '9'; ++i) {
    v = v * 10 + static_cast<unsigned>(text[i] - '0');
    // Saturated far above every maximum, and low enough that a suffix's shift cannot wrap.
    if (v > (static_cast<unsigned __int128>(1) << 90)) v = static_cast<unsigned __int128>(1) << 90;
  }
  if (i == 0) return OptionText::kInvalid;
  if (i < text.size() && unit == "bytes") {
    int shift = 0;
    switch (text[i]) {
      case 'k': case 'K': shift = 10; break;
      case 'm': case 'M': shift = 20; break;
      case 'g': case 'G': shift = 30; break;
      default: return OptionText::kInvalid;
    }
    ++i;
    if (i < text.size() && (text[i] == 'b' || text[i] == 'B')) ++i;
    v <<= shift;
  }
  if (i != text.size()) return OptionText::kInvalid;
  if (v < static_cast<unsigned __int128>(info.min_value) ||
      v > static_cast<unsigned __int128>(info.max_value)) {
    return OptionText::kInvalid;
  }
  *value = static_cast<int64_t>(v);
  return OptionText::kValue;
}

}  // namespace
}  // namespace hakmem

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace hakmem;
  if (size == 0) return 0;
  const Option o = static_cast<Option>(data[0] % static_cast<int>(Option::kCount));
  std::string text(reinterpret_cast<const char*>(data + 1), size - 1);
  text.resize(strlen(text.c_str()));  // the environment ends a value at its first NUL

  int64_t got = -1, want = -1;
  const OptionText parsed = ParseOptionText(o, text.c_str(), &got);
  const OptionText model = Model(o, text, &want);
  if (parsed != model) Fail("ParseOptionText disagrees with the rules", o, text);
  if (parsed == OptionText::kValue) {
    if (got != want) Fail("wrong value", o, text);
    const OptionInfo& info = GetOptionInfo(o);
    if (got < info.min_value || got > info.max_value) Fail("value out of range", o, text);
    const std::string unit = info.unit;
    if (unit != "strategy" && unit != "mode") {
      int64_t again = -1;
      if (!ParseOptionValue(o, std::to_string(got).c_str(), &again) || again != got) {
        Fail("an accepted value does not parse back from its digits", o, text);
      }
    }
  }
  if (parsed == OptionText::kInvalid || parsed == OptionText::kTooLong) {
    char line[512];
    const size_t n = FormatOptionComplaint(o, parsed, text.c_str(), line, sizeof(line));
    if (n == 0 || n >= sizeof(line) || line[n] != '\0' || line[n - 1] != '\n') {
      Fail("the complaint is not one whole line", o, text);
    }
    for (size_t i = 0; i + 1 < n; ++i) {
      const unsigned char c = static_cast<unsigned char>(line[i]);
      if (c < 0x20 || c >= 0x7f) Fail("the complaint holds an unprintable byte", o, text);
    }
    if (strstr(line, GetOptionInfo(o).name) == nullptr) Fail("the complaint names no variable", o, text);
  }
  return 0;
}
