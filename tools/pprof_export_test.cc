#include "tools/pprof_export.h"

#include <string>

#include "google/protobuf/io/gzip_stream.h"
#include "google/protobuf/io/zero_copy_stream_impl_lite.h"
#include "google/protobuf/util/message_differencer.h"
#include "gtest/gtest.h"
#include "tools/testdata/telemetry_testdata.h"

namespace hakmem {
namespace tools {
namespace {

using perftools::profiles::Profile;

const std::string& S(const Profile& p, int64_t i) { return p.string_table(static_cast<int>(i)); }

TEST(PprofExport, Structure) {
  const telemetry::Telemetry t = ReadTestData("a");
  const Profile p = ToProfile(t);
  ASSERT_EQ(p.sample_type_size(), 4);
  const char* const kTypes[4][2] = {
      {"alloc_objects", "count"}, {"alloc_space", "bytes"}, {"inuse_objects", "count"},
      {"inuse_space", "bytes"}};
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ(S(p, p.sample_type(i).type()), kTypes[i][0]);
    EXPECT_EQ(S(p, p.sample_type(i).unit()), kTypes[i][1]);
  }
  EXPECT_EQ(S(p, p.default_sample_type()), "alloc_space");
  EXPECT_EQ(S(p, 0), "");
  // Mappings are the modules, ids positions + 1.
  ASSERT_EQ(p.mapping_size(), t.modules_size());
  for (int i = 0; i < p.mapping_size(); ++i) {
    EXPECT_EQ(p.mapping(i).id(), static_cast<uint64_t>(i) + 1);
    EXPECT_EQ(S(p, p.mapping(i).filename()), t.string_table(t.modules(i).path_str()));
    EXPECT_EQ(S(p, p.mapping(i).build_id()), t.modules(i).build_id_hex());
  }
  // Locations: the code locations, then one per explicit or overflow site.
  ASSERT_EQ(p.location_size(), t.locations_size() + 2);
  for (int i = 0; i < p.location_size(); ++i) EXPECT_EQ(p.location(i).id(), static_cast<uint64_t>(i) + 1);
  for (int i = 0; i < t.locations_size(); ++i) {
    EXPECT_EQ(p.location(i).address(), t.locations(i).offset_bytes());
    EXPECT_EQ(p.location(i).mapping_id(), t.locations(i).module_id());
  }
  ASSERT_EQ(p.sample_size(), 6);
  bool parse = false, named = false;
  for (const auto& s : p.sample()) {
    ASSERT_EQ(s.value_size(), 4);
    ASSERT_GE(s.location_id_size(), 1);
    const auto& leaf = p.location(static_cast<int>(s.location_id(0) - 1));
    if (leaf.line_size() == 0) continue;
    const auto& f = p.function(static_cast<int>(leaf.line(0).function_id() - 1));
    if (S(p, f.name()) == "xmalloc" && s.location_id_size() == 3) {
      const auto& caller = p.location(static_cast<int>(s.location_id(1) - 1));
      if (S(p, p.function(static_cast<int>(caller.line(0).function_id() - 1)).name()) != "parse_tokens") {
        continue;
      }
      parse = true;
      EXPECT_EQ(s.value(0), 600339);                 // allocations, both runs
      EXPECT_EQ(s.value(1), 60033900);               // bytes
      EXPECT_EQ(s.value(2), 600339 - 594336);        // allocations - frees
      EXPECT_EQ(s.value(3), 48600);                  // live bytes
      EXPECT_EQ(S(p, f.filename()), "src/mem.c");
      EXPECT_EQ(leaf.line(0).line(), 40);
      ASSERT_EQ(s.label_size(), 1);
      EXPECT_EQ(S(p, s.label(0).key()), "site");
      EXPECT_EQ(S(p, s.label(0).str()).substr(0, 2), "0x");
    }
    if (S(p, f.name()) == "decoder.frames") {
      named = true;
      EXPECT_EQ(leaf.mapping_id(), 0u);
      EXPECT_EQ(s.value(0), 120);
    }
  }
  EXPECT_TRUE(parse);
  EXPECT_TRUE(named);
  EXPECT_EQ(p.time_nanos(), static_cast<int64_t>(t.runs(0).start_unix_ns()));
  EXPECT_EQ(p.duration_nanos(),
            static_cast<int64_t>(t.runs(1).end_unix_ns() - t.runs(0).start_unix_ns()));
}

TEST(PprofExport, GzipRoundTripsAndIsDeterministic) {
  const Profile p = ToProfile(ReadTestData("b"));
  const std::string gz = GzipProfile(p);
  ASSERT_GE(gz.size(), 2u);
  EXPECT_EQ(static_cast<unsigned char>(gz[0]), 0x1f);  // the gzip magic
  EXPECT_EQ(static_cast<unsigned char>(gz[1]), 0x8b);
  EXPECT_EQ(GzipProfile(ToProfile(ReadTestData("b"))), gz);
  google::protobuf::io::ArrayInputStream raw(gz.data(), static_cast<int>(gz.size()));
  google::protobuf::io::GzipInputStream in(&raw);
  Profile back;
  ASSERT_TRUE(back.ParseFromZeroCopyStream(&in));
  EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(p, back));
}

}  // namespace
}  // namespace tools
}  // namespace hakmem
