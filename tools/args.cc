#include "tools/args.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <algorithm>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace hakmem {
namespace tools {
namespace {

const OptionSpec* Find(const CommandSpec& spec, absl::string_view word) {
  for (const OptionSpec& o : spec.options) {
    if (word == o.name || (o.alias != nullptr && word == o.alias)) return &o;
  }
  return nullptr;
}

bool IsHelp(absl::string_view word) { return word == "--help" || word == "-h"; }

// A word that is an option rather than an argument: "-" alone is an argument (by
// convention a stream), as is anything not starting with '-'.
bool LooksLikeOption(absl::string_view word) { return word.size() >= 2 && word[0] == '-'; }

}  // namespace

std::string ParsedArgs::Get(absl::string_view name, absl::string_view fallback) const {
  auto it = options.find(name);
  return it == options.end() ? std::string(fallback) : it->second;
}

absl::StatusOr<ParsedArgs> ParseArgs(const CommandSpec& spec, int argc, char** argv) {
  ParsedArgs out;
  bool options_done = false;
  for (int i = 0; i < argc; ++i) {
    const absl::string_view word = argv[i];
    if (options_done || !LooksLikeOption(word)) {
      out.args.emplace_back(word);
      if (spec.options_end_at_first_arg) options_done = true;
      continue;
    }
    if (word == "--") {
      options_done = true;
      continue;
    }
    if (IsHelp(word)) {
      out.help = true;
      continue;
    }
    // --name=VALUE (long names only), or --name / -x followed by VALUE.
    absl::string_view name = word;
    absl::string_view inline_value;
    bool has_inline = false;
    const size_t eq = word.find('=');
    if (word.substr(0, 2) == "--" && eq != absl::string_view::npos) {
      name = word.substr(0, eq);
      inline_value = word.substr(eq + 1);
      has_inline = true;
    }
    const OptionSpec* o = Find(spec, name);
    if (o == nullptr) return absl::InvalidArgumentError(absl::StrCat("unknown option '", name, "'"));
    if (o->value == nullptr) {
      if (has_inline) return absl::InvalidArgumentError(absl::StrCat(o->name, " takes no value"));
      out.options[o->name] = "";
      continue;
    }
    std::string value;
    if (has_inline) {
      value = std::string(inline_value);
    } else {
      if (i + 1 == argc) return absl::InvalidArgumentError(absl::StrCat(o->name, " needs a value"));
      value = argv[++i];
    }
    if (value.empty()) return absl::InvalidArgumentError(absl::StrCat(o->name, " needs a value"));
    out.options[o->name] = std::move(value);
  }
  return out;
}

std::string UsageLine(const CommandSpec& spec) {
  return absl::StrCat("usage: hakmem ", spec.name, spec.synopsis[0] != '\0' ? " " : "",
                      spec.synopsis, "\n");
}

std::string HelpText(const CommandSpec& spec) {
  std::string out = UsageLine(spec);
  if (spec.description[0] != '\0') absl::StrAppend(&out, "\n", spec.description);
  if (spec.options.empty()) return out;
  absl::StrAppend(&out, "\nOptions:\n");
  // Names padded to one column; help lines after the first are indented to it.
  std::vector<std::string> names;
  size_t width = 0;
  for (const OptionSpec& o : spec.options) {
    std::string n = o.alias != nullptr ? absl::StrCat(o.alias, ", ", o.name) : o.name;
    if (o.value != nullptr) absl::StrAppend(&n, " ", o.value);
    width = std::max(width, n.size());
    names.push_back(std::move(n));
  }
  width = std::min<size_t>(width, 24);
  const std::string indent(2 + width + 2, ' ');
  for (size_t i = 0; i < spec.options.size(); ++i) {
    const std::vector<absl::string_view> lines = absl::StrSplit(spec.options[i].help, '\n');
    size_t first = 0;
    if (names[i].size() > width) {
      absl::StrAppend(&out, "  ", names[i], "\n");  // too long: help starts below it
    } else {
      std::string name = names[i];
      name.resize(width, ' ');
      absl::StrAppend(&out, "  ", name, "  ", lines[0], "\n");
      first = 1;
    }
    for (size_t k = first; k < lines.size(); ++k) absl::StrAppend(&out, indent, lines[k], "\n");
  }
  return out;
}

absl::StatusOr<uint64_t> ParseCount(absl::string_view option, absl::string_view value) {
  const std::string s(value);
  // strtoull accepts "-1", " 1" and "0x10": only plain decimal digits here.
  bool digits = !s.empty();
  for (char c : s) digits = digits && c >= '0' && c <= '9';
  errno = 0;
  const uint64_t v = digits ? strtoull(s.c_str(), nullptr, 10) : 0;
  if (!digits || errno != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(option, ": expected a non-negative integer, got '", value, "'"));
  }
  return v;
}

absl::StatusOr<double> ParseNonNegative(absl::string_view option, absl::string_view value) {
  const std::string s(value);
  errno = 0;
  char* end = nullptr;
  const double v = s.empty() || s[0] == ' ' ? -1 : strtod(s.c_str(), &end);
  if (s.empty() || s[0] == ' ' || errno != 0 || *end != '\0' || !isfinite(v) || v < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(option, ": expected a non-negative number, got '", value, "'"));
  }
  return v;
}

}  // namespace tools
}  // namespace hakmem
