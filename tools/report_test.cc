#include "tools/report.h"

#include <string>
#include <vector>

#include "absl/strings/str_split.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tools/testdata/telemetry_testdata.h"

namespace hakmem {
namespace tools {
namespace {

bool HasLine(const std::string& text, const std::string& line) {
  for (absl::string_view l : absl::StrSplit(text, '\n')) {
    if (l == line) return true;
  }
  return false;
}

TEST(Report, Text) {
  const std::string r = TextReport(ReadTestData("a"), ReportOptions());
  const std::vector<std::string> lines = {
      "telemetry: 2 runs, 6 sites, 8 locations in 2 modules",
      "  0  /usr/bin/app  pid 4242 on build-1  started 2023-11-14 22:13:20 UTC  ran 1.50 s  learn  "
      "complete  hakmem 0.1.0",
      "sites: 6 (all shown), by bytes; ~: estimated from samples",
      "   1  decode_frame                           2400    2.34 GiB    4.00 MiB    12.0 MiB  "
      "4.19 ms / 4.19 ms / 4.19 ms",
      "        context: decode_frame <- libdecoder.so+0x910",
      "        large band: chose mmap; bigcache 1450.0 (192 samples, mean 7.00 µs), mmap 1550.0 "
      "(192 samples, mean 6.00 µs); 2400 allocations, 6 matches",
      "   3  parse_tokens (src/parse.cc:88)      ~600339    57.3 MiB    47.5 KiB     159 KiB  "
      "2.05 µs / 16.4 µs / 16.4 µs",
      "        context: xmalloc (src/mem.c:40) <- parse_tokens (src/parse.cc:88) <- main "
      "(src/main.cc:31)",
      "   6  (overflow)                             ~900    87.9 KiB    1.00 KiB    2.00 KiB  -",
      "  run 1 at 2.50 s: mapped 32.0 MiB, resident 60.0 MiB (the whole process)",
      "      bigcache: 240 hits, 27 misses, 4 evictions, 6.00 MiB held",
      "drops: none",
  };
  for (const std::string& l : lines) EXPECT_TRUE(HasLine(r, l)) << "no line\n" << l << "\nin\n" << r;
  EXPECT_EQ(r.find("DROPPED"), std::string::npos);
}

TEST(Report, DropsAreProminent) {
  const std::string r = TextReport(ReadTestData("drops"), ReportOptions());
  const std::string drops =
      "  run 0: 12 sites found the site table full (their records are in (overflow)); 3 calling "
      "contexts found the context table full (their records are in (overflow)); 40 matches not "
      "kept; 1 telemetry write failed";
  // Flagged before the sites, and listed again at the end.
  const size_t flag = r.find("!! DROPPED");
  ASSERT_NE(flag, std::string::npos) << r;
  EXPECT_LT(flag, r.find("sites:"));
  EXPECT_EQ(r.find(drops), r.find('\n', flag) + 1) << r;
  EXPECT_NE(r.rfind(drops), r.find(drops));
}

TEST(Report, TopAndSort) {
  ReportOptions o;
  o.top = 2;
  o.sort = SortKey::kName;
  const std::string r = TextReport(ReadTestData("a"), o);
  EXPECT_NE(r.find("sites: 6 (top 2 shown), by name"), std::string::npos) << r;
  EXPECT_NE(r.find("   1  (overflow) "), std::string::npos) << r;
  EXPECT_NE(r.find("   2  app+0x4c00 "), std::string::npos) << r;
  EXPECT_EQ(r.find("   3  "), std::string::npos) << r;
  o.sort = SortKey::kAllocs;
  o.top = 1;
  EXPECT_NE(TextReport(ReadTestData("a"), o).find("   1  parse_tokens"), std::string::npos);
  EXPECT_EQ(ParseSortKey("peak").value(), SortKey::kPeak);
  EXPECT_EQ(ParseSortKey("size").status().message(),
            "--sort: expected allocs, bytes, live, peak, frees or name, got 'size'");
}

// The keys, in order, of the site report a process writes (callsite/report.cc), with the
// learner's (learner/describe.cc) where a site has bands.
const std::vector<std::string> kSiteKeys = {
    "key", "name", "name_frame", "context", "module", "build_id", "offset", "symbol", "file",
    "line", "allocs", "allocs_estimated", "records", "frees", "cross_thread_frees", "bytes",
    "live_bytes", "peak_live_bytes"};
const std::vector<std::string> kLearnedKeys = {"strategy", "ratings", "samples", "bands"};
const std::vector<std::string> kHistogramKeys = {"size_histogram", "lifetime_histogram"};

TEST(Report, JsonHasTheSiteReportsShape) {
  const nlohmann::ordered_json doc =
      nlohmann::ordered_json::parse(JsonReport(ReadTestData("a"), ReportOptions{SortKey::kBytes, 0}));
  std::vector<std::string> top;
  for (const auto& [k, v] : doc.items()) top.push_back(k);
  EXPECT_EQ(top, (std::vector<std::string>{"sample_bytes", "sites", "dropped_sites",
                                           "context_depth", "dropped_contexts"}));
  EXPECT_EQ(doc["sample_bytes"], 1048576);
  EXPECT_EQ(doc["context_depth"], 4);
  ASSERT_EQ(doc["sites"].size(), 6u);
  for (const auto& site : doc["sites"]) {
    std::vector<std::string> keys, want = kSiteKeys;
    for (const auto& [k, v] : site.items()) keys.push_back(k);
    if (site.contains("strategy")) want.insert(want.end(), kLearnedKeys.begin(), kLearnedKeys.end());
    want.insert(want.end(), kHistogramKeys.begin(), kHistogramKeys.end());
    EXPECT_EQ(keys, want) << site.dump();
    for (const auto& frame : site["context"]) {
      std::vector<std::string> fk;
      for (const auto& [k, v] : frame.items()) fk.push_back(k);
      EXPECT_EQ(fk, (std::vector<std::string>{"module", "build_id", "offset", "symbol", "file",
                                              "line"}));
    }
  }
  const auto& decode = doc["sites"][0];  // the most bytes
  EXPECT_EQ(decode["name"], "decode_frame");
  EXPECT_EQ(decode["name_frame"], 0);
  EXPECT_EQ(decode["module"], "/opt/app/lib/libdecoder.so");
  EXPECT_TRUE(decode["build_id"].is_null());
  EXPECT_EQ(decode["offset"], 0x5f0);
  EXPECT_TRUE(decode["file"].is_null());
  EXPECT_EQ(decode["allocs"], 2400);
  EXPECT_EQ(decode["allocs_estimated"], false);
  EXPECT_EQ(decode["strategy"], "mmap");
  EXPECT_EQ(decode["ratings"]["mmap"], 1550.0);
  EXPECT_EQ(decode["samples"]["bigcache"], 192);
  EXPECT_EQ(decode["bands"]["large"], "mmap");
  EXPECT_EQ(decode["size_histogram"]["1048576"], 2400);
  for (const auto& site : doc["sites"]) {
    if (site["name"] == "decoder.frames") {
      EXPECT_EQ(site["module"], "(named)");
      EXPECT_EQ(site["symbol"], "decoder.frames");
      EXPECT_TRUE(site["context"].empty());
    }
    if (site["name"] == "(overflow)") {
      EXPECT_EQ(site["key"], "0x0");
      EXPECT_EQ(site["module"], "(overflow)");
      EXPECT_TRUE(site["symbol"].is_null());
    }
    if (site["name"] == "parse_tokens") {
      EXPECT_EQ(site["name_frame"], 1);
      EXPECT_EQ(site["symbol"], "xmalloc");  // the allocation call, context[0]
      EXPECT_EQ(site["line"], 40);
      EXPECT_EQ(site["lifetime_histogram"]["2047"], 360000);
    }
  }
}

TEST(Report, JsonReplacesBytesThatAreNotUtf8) {
  telemetry::Telemetry t = ReadTestData("a");
  for (int i = 0; i < t.string_table_size(); ++i) {
    if (t.string_table(i) == "decoder.frames") t.set_string_table(i, "dec\xff");
  }
  const std::string json = JsonReport(t, ReportOptions());
  EXPECT_NE(json.find("dec\xef\xbf\xbd"), std::string::npos);  // U+FFFD
  EXPECT_NO_THROW(nlohmann::json::parse(json));
  EXPECT_NE(TextReport(t, ReportOptions()).find("site 'dec\\xff'"), std::string::npos);
}

}  // namespace
}  // namespace tools
}  // namespace hakmem
