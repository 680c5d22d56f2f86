#include "tools/args.h"

#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace hakmem {
namespace tools {
namespace {

const CommandSpec kSpec = {
    "demo",
    "FILE... [-o OUT] [--json] [--top N]",
    "Does a demo.\n",
    {
        {"--out", "-o", "OUT", "where to write"},
        {"--json", nullptr, nullptr, "JSON instead of text"},
        {"--top", nullptr, "N", "rows to print\n(0: all)"},
    },
};

absl::StatusOr<ParsedArgs> Parse(std::vector<std::string> words, const CommandSpec& spec = kSpec) {
  std::vector<char*> argv;
  for (std::string& w : words) argv.push_back(w.data());
  return ParseArgs(spec, static_cast<int>(argv.size()), argv.data());
}

TEST(Args, ParsesOptionsAndArguments) {
  const absl::StatusOr<ParsedArgs> a = Parse({"x", "--top", "5", "-o", "out", "y", "--json"});
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(a->args, (std::vector<std::string>{"x", "y"}));
  EXPECT_EQ(a->Get("--top"), "5");
  EXPECT_EQ(a->Get("--out"), "out");  // the alias is stored under the name
  EXPECT_TRUE(a->Has("--json"));
  EXPECT_FALSE(a->help);
}

TEST(Args, InlineValuesRepeatsAndDashDash) {
  const absl::StatusOr<ParsedArgs> a = Parse({"--top=1", "--top=2", "--", "--json", "-"});
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(a->Get("--top"), "2");  // the last one counts
  EXPECT_FALSE(a->Has("--json"));
  EXPECT_EQ(a->args, (std::vector<std::string>{"--json", "-"}));
  EXPECT_EQ(a->Get("--out", "fallback"), "fallback");
}

TEST(Args, Help) {
  EXPECT_TRUE(Parse({"x", "--help"})->help);
  EXPECT_TRUE(Parse({"-h"})->help);
  EXPECT_FALSE(Parse({"--", "-h"})->help);
  EXPECT_EQ(HelpText(kSpec),
            "usage: hakmem demo FILE... [-o OUT] [--json] [--top N]\n"
            "\n"
            "Does a demo.\n"
            "\n"
            "Options:\n"
            "  -o, --out OUT  where to write\n"
            "  --json         JSON instead of text\n"
            "  --top N        rows to print\n"
            "                 (0: all)\n");
}

TEST(Args, UsageErrors) {
  EXPECT_EQ(Parse({"--bogus"}).status().message(), "unknown option '--bogus'");
  EXPECT_EQ(Parse({"--bogus=1"}).status().message(), "unknown option '--bogus'");
  EXPECT_EQ(Parse({"-x"}).status().message(), "unknown option '-x'");
  EXPECT_EQ(Parse({"--top"}).status().message(), "--top needs a value");
  EXPECT_EQ(Parse({"--top="}).status().message(), "--top needs a value");
  EXPECT_EQ(Parse({"-o"}).status().message(), "--out needs a value");
  EXPECT_EQ(Parse({"--json=yes"}).status().message(), "--json takes no value");
  EXPECT_EQ(Parse({"--top"}).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(Args, OptionsEndAtFirstArgument) {
  CommandSpec spec = kSpec;
  spec.options_end_at_first_arg = true;
  const absl::StatusOr<ParsedArgs> a = Parse({"--json", "prog", "--top", "-h"}, spec);
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_TRUE(a->Has("--json"));
  EXPECT_FALSE(a->Has("--top"));
  EXPECT_FALSE(a->help);
  EXPECT_EQ(a->args, (std::vector<std::string>{"prog", "--top", "-h"}));
}

TEST(Args, Numbers) {
  EXPECT_EQ(*ParseCount("--top", "42"), 42u);
  for (const char* bad : {"", "-1", " 1", "0x10", "1e3", "99999999999999999999999"}) {
    EXPECT_EQ(ParseCount("--top", bad).status().message(),
              std::string("--top: expected a non-negative integer, got '") + bad + "'");
  }
  EXPECT_DOUBLE_EQ(*ParseNonNegative("--threshold", "0.25"), 0.25);
  for (const char* bad : {"", "-5", " 1", "nan", "inf", "1x"}) {
    EXPECT_EQ(ParseNonNegative("--threshold", bad).status().message(),
              std::string("--threshold: expected a non-negative number, got '") + bad + "'");
  }
}

}  // namespace
}  // namespace tools
}  // namespace hakmem
