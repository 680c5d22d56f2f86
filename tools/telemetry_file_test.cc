#include "tools/telemetry_file.h"

#include <math.h>
#include <stdlib.h>
#include <unistd.h>

#include <functional>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/util/message_differencer.h"
#include "gtest/gtest.h"
#include "learner/table_codec.h"
#include "tools/file_io.h"
#include "tools/testdata/telemetry_testdata.h"

namespace hakmem {
namespace tools {
namespace {

using google::protobuf::FieldDescriptor;
using google::protobuf::Message;
using google::protobuf::Reflection;
using telemetry::Telemetry;

std::string TestData(absl::string_view name) { return TestDataPath(name); }

// A Telemetry in which every field of every message type is set (and not to its
// default), so a round trip covers them all; FieldsCovered checks that it does.
Telemetry Full() {
  Telemetry t;
  for (const char* s : {"", "/usr/bin/app", "build-1", "HAKMEM_MODE", "mode", "/tmp/x",
                        "path", "/usr/lib/libx.so", "f", "f.cc", "site.name", "\xff\xfe"}) {
    t.add_string_table(s);
  }
  for (int r = 0; r < 2; ++r) {
    telemetry::Run* run = t.add_runs();
    run->set_program_str(1);
    run->set_program_build_id_hex("0123456789abcdef");
    run->set_pid(100 + r);
    run->set_host_str(2);
    run->set_start_unix_ns(1700000000000000000 + r);
    run->set_end_unix_ns(1700000001000000000 + r);
    run->set_complete(true);
    run->set_hakmem_version("0.1.0");
    run->set_mode(telemetry::MODE_SHADOW);
    telemetry::Setting* s = run->add_settings();
    s->set_name_str(3);
    s->set_value(-2);
    s->set_text_str(5);
    s->set_unit_str(4);
    s->set_from_environment(true);
    run->mutable_os_costs()->set_fault_ns(1.5);
    run->mutable_os_costs()->set_map_call_ns(2.5);
    run->mutable_os_costs()->set_unmap_call_ns(3.5);
    run->mutable_os_costs()->set_unmap_page_ns(4.5);
    run->mutable_os_costs()->set_huge_fault_ns(0.75);
    run->mutable_os_costs()->set_bigcache_hit_ns(250);
    run->mutable_os_costs()->set_pool_alloc_ns(40);
    table::LearnParams* p = run->mutable_learn_params();
    p->set_elo_initial_rating(1500);
    p->set_elo_k_factor(24);
    p->set_elo_scale_points(400);
    p->set_draw_margin_fraction(0.05);
    p->set_min_samples(8);
    p->set_commit_margin_points(50);
    p->set_explore_rate_fraction(1.0 / 64);
    p->set_weight_time(1);
    p->set_weight_faults(2);
    p->set_weight_idle_ns_per_mib_second(1e6);
    p->set_fault_cost_ns(1100);
    telemetry::Drops* d = run->mutable_drops();
    d->set_sites(1);
    d->set_contexts(2);
    d->set_learner_sites(3);
    d->set_matches(4);
    d->set_decisions(5);
    d->set_timeline_samples(6);
    d->set_failed_writes(7);
    d->set_names(8);
    run->set_context_depth(4);
    run->set_sample_bytes(1 << 20);
    run->set_writes(3);
  }
  telemetry::Module* m = t.add_modules();
  m->set_id(1);
  m->set_build_id_hex("aabb");
  m->set_path_str(7);
  for (int k = 0; k < 2; ++k) {
    telemetry::Location* l = t.add_locations();
    l->set_id(k + 1);
    l->set_module_id(1);
    l->set_offset_bytes(0x100 + k);
    l->set_function_str(8);
    l->set_file_str(9);
    l->set_line(40 + k);
  }
  telemetry::Site* s = t.add_sites();
  s->set_id(1);
  s->set_key(0x4000000000000123);
  s->add_location_ids(1);
  s->add_location_ids(2);
  s->set_wrapper_frames(1);
  s = t.add_sites();
  s->set_id(2);
  s->set_key(0x8000000000000456);
  s->set_name_str(10);
  s = t.add_sites();
  s->set_id(3);
  s->set_overflow(true);
  telemetry::SiteProfile* sp = t.add_site_profiles();
  sp->set_run(1);
  sp->set_site_id(1);
  sp->set_allocs(10);
  sp->set_allocs_estimated(true);
  sp->set_records(2);
  sp->set_frees(9);
  sp->set_cross_thread_frees(1);
  sp->set_allocated_bytes(1000);
  sp->set_live_bytes(-5);
  sp->set_peak_live_bytes(300);
  sp->add_sizes()->set_max_bytes(16);
  sp->mutable_sizes(0)->set_count(4);
  sp->add_lifetimes()->set_max_ns(1023);
  sp->mutable_lifetimes(0)->set_count(3);
  telemetry::BandChoice* c = t.add_choices();
  c->set_run(1);
  c->set_site_id(1);
  c->set_band(table::SIZE_BAND_LARGE);
  c->set_strategy(table::STRATEGY_MMAP);
  c->set_allocations(50);
  c->set_matches(2);
  telemetry::Outcome* o = t.add_outcomes();
  o->set_run(1);
  o->set_site_id(1);
  o->set_band(table::SIZE_BAND_LARGE);
  o->set_strategy(table::STRATEGY_MMAP);
  o->set_tries(11);
  o->set_samples(10);
  o->set_modelled(3);
  o->set_rating_elo(1520.5);
  o->set_cost_ns(1000.25);
  o->set_time_ns(500.5);
  o->set_fault_ns(400.5);
  o->set_idle_ns(99.25);
  o->set_faults(3);
  o->set_idle_mib_seconds(0.5);
  o->set_sample_bytes(4096);
  telemetry::Match* mt = t.add_matches();
  mt->set_run(1);
  mt->set_site_id(2);
  mt->set_band(table::SIZE_BAND_HUGE);
  mt->set_number(1);
  mt->set_allocations(8);
  mt->set_time_ns(12345);
  mt->set_chosen(table::STRATEGY_BIGCACHE);
  telemetry::MatchResult* mr = mt->add_results();
  mr->set_strategy(table::STRATEGY_BIGCACHE);
  mr->set_rating_elo(1512);
  mr->set_window_samples(8);
  mr->set_window_bytes(1 << 23);
  mr->set_cost_ns(10);
  mr->set_time_ns(6);
  mr->set_fault_ns(3);
  mr->set_idle_ns(1);
  mr->set_faults(2);
  mr->set_idle_mib_seconds(0.25);
  telemetry::Decision* dc = t.add_decisions();
  dc->set_run(1);
  dc->set_site_id(2);
  dc->set_band(table::SIZE_BAND_HUGE);
  dc->set_kind(telemetry::DECISION_SWITCH);
  dc->set_from(table::STRATEGY_MMAP);
  dc->set_to(table::STRATEGY_BIGCACHE);
  dc->set_time_ns(999);
  dc->set_allocations(77);
  telemetry::AllocatorSample* a = t.add_timeline();
  a->set_run(1);
  a->set_time_ns(1);
  a->set_mapped_bytes(2);
  a->set_resident_bytes(3);
  a->set_heap_span_bytes(4);
  a->set_heap_free_bytes(5);
  a->set_returned_bytes(6);
  a->set_large_live_bytes(7);
  a->set_large_allocs(8);
  a->set_bigcache_hits(9);
  a->set_bigcache_misses(10);
  a->set_bigcache_evictions(11);
  a->set_bigcache_held_bytes(12);
  telemetry::SizeClassSample* sc = a->add_size_classes();
  sc->set_object_bytes(16);
  sc->set_spans(1);
  sc->set_span_bytes(65536);
  sc->set_objects_out(100);
  a->set_mmap_calls(13);
  a->set_munmap_calls(14);
  a->set_madvise_calls(15);
  return t;
}

// Records, by full field name, every field set somewhere in `m`.
void CollectSet(const Message& m, std::set<std::string>* set) {
  std::vector<const FieldDescriptor*> fields;
  m.GetReflection()->ListFields(m, &fields);
  for (const FieldDescriptor* f : fields) {
    set->insert(f->full_name());
    if (f->cpp_type() != FieldDescriptor::CPPTYPE_MESSAGE) continue;
    if (f->is_repeated()) {
      for (int i = 0; i < m.GetReflection()->FieldSize(m, f); ++i) {
        CollectSet(m.GetReflection()->GetRepeatedMessage(m, f, i), set);
      }
    } else {
      CollectSet(m.GetReflection()->GetMessage(m, f), set);
    }
  }
}

// Every field of every message type reachable from `d`.
void AllFields(const google::protobuf::Descriptor* d, std::set<std::string>* all) {
  for (int i = 0; i < d->field_count(); ++i) {
    const FieldDescriptor* f = d->field(i);
    if (!all->insert(f->full_name()).second) continue;
    if (f->message_type() != nullptr) AllFields(f->message_type(), all);
  }
}

TEST(TelemetryFile, FullTelemetrySetsEveryField) {
  std::set<std::string> set, all;
  CollectSet(Full(), &set);
  AllFields(Telemetry::descriptor(), &all);
  for (const std::string& f : all) EXPECT_TRUE(set.count(f)) << f << " is never set by Full()";
}

TEST(TelemetryFile, RoundTripsEveryMessageType) {
  const Telemetry t = Full();
  ASSERT_TRUE(ValidateTelemetry(t).ok()) << ValidateTelemetry(t);
  const std::string bytes = EncodeTelemetryFile(t);
  ASSERT_EQ(bytes.substr(0, 5), std::string("\x0dHAKT", 5));
  const absl::StatusOr<Telemetry> back = DecodeTelemetryFile(bytes);
  ASSERT_TRUE(back.ok()) << back.status();
  std::string diff;
  google::protobuf::util::MessageDifferencer differ;
  differ.ReportDifferencesToString(&diff);
  EXPECT_TRUE(differ.Compare(t, *back)) << diff;
  EXPECT_EQ(EncodeTelemetryFile(*back), bytes);  // canonical: the same bytes again
}

TEST(TelemetryFile, WritesAtomicallyAndReadsBack) {
  const std::string path = absl::StrCat(getenv("TEST_TMPDIR"), "/full.hakt");
  ASSERT_TRUE(WriteTelemetryAtomically(path, Full()).ok());
  EXPECT_NE(access((path + ".tmp").c_str(), F_OK), 0);
  const absl::StatusOr<Telemetry> back = ReadTelemetryFile(path);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(Full(), *back));
  // Never an invalid file: the write is refused and the old file stays.
  Telemetry bad = Full();
  bad.mutable_sites(0)->add_location_ids(9);
  const absl::Status refused = WriteTelemetryAtomically(path, bad);
  EXPECT_EQ(refused.message(),
            "refusing to write invalid telemetry: site 0: location id 9 names no location (the "
            "file has 2)");
  EXPECT_TRUE(ReadTelemetryFile(path).ok());
  EXPECT_EQ(ReadTelemetryFile(absl::StrCat(getenv("TEST_TMPDIR"), "/none")).status().message(),
            "No such file or directory");
  EXPECT_EQ(ReadTelemetryFile(getenv("TEST_TMPDIR")).status().message(), "is a directory");
}

TEST(TelemetryFile, ReadsTheGeneratedFiles) {
  for (const char* name : {"a", "b", "c", "d", "changed", "drops", "small"}) {
    const absl::StatusOr<Telemetry> t = ReadTelemetryFile(TestData(name));
    ASSERT_TRUE(t.ok()) << name << ": " << t.status();
    EXPECT_GT(t->runs_size(), 0) << name;
    EXPECT_GT(t->sites_size(), 0) << name;
  }
}

std::string Envelope(std::initializer_list<std::string> fields) {
  std::string out;
  for (const std::string& f : fields) out += f;
  return out;
}

std::string Fixed64(uint64_t v) {
  std::string s(8, '\0');
  for (int i = 0; i < 8; ++i) s[i] = static_cast<char>(v >> (8 * i));
  return s;
}

TEST(TelemetryFile, RefusesBadEnvelopes) {
  const std::string magic("\x0dHAKT", 5), version("\x10\x01", 2);
  const std::string payload = Full().SerializeAsString();
  const std::string len = std::string(1, static_cast<char>(0x80 | (payload.size() & 0x7f))) +
                          std::string(1, static_cast<char>(payload.size() >> 7));
  ASSERT_LT(payload.size(), 1u << 14);
  const std::string body = "\x1a" + len + payload;
  const std::string sum =
      "\x21" + Fixed64(learner::Fnv1a64(reinterpret_cast<const uint8_t*>(payload.data()),
                                        payload.size()));
  ASSERT_TRUE(DecodeTelemetryFile(Envelope({magic, version, body, sum})).ok());
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"", "empty file"},
      {"\x0dHA", "truncated"},
      {"not telemetry", "bad magic (not a telemetry file)"},
      {std::string("\x0dHAKM\x10\x02", 7), "is a frozen table, not telemetry"},
      {magic, "no format version"},
      {Envelope({magic, version, body}), "truncated (no checksum)"},
      {Envelope({magic, version, body, sum, std::string(1, '\0')}),
       "trailing bytes after the checksum"},
      {Envelope({magic, version, body, sum.substr(0, 5)}), "truncated"},
      {Envelope({magic, "\x10\x02", body, sum}), "unsupported format version 2 (expected 1)"},
      {Envelope({magic, std::string("\x10\x00", 2), body, sum}),
       "unsupported format version 0 (expected 1)"},
      {Envelope({magic, version, body, "\x28\x01"}), "unknown envelope field 5"},
      {Envelope({magic, body, version, sum}), "envelope field 2 repeated or out of order"},
      {Envelope({magic, version, version}), "envelope field 2 repeated or out of order"},
      {Envelope({magic, "\x15\x01\x00\x00\x00"}), "envelope field 2 is fixed32, expected varint"},
      {Envelope({magic, version, body, "\x21" + Fixed64(1)}), "checksum mismatch (file corrupt)"},
      {Envelope({magic, version, body.substr(0, 20)}), "truncated"},
      {Envelope({magic, version, std::string("\x1a\xff\xff\xff\xff\xff\xff\xff\xff\xff\x7f", 11)}),
       "malformed varint (over 64 bits)"},
  };
  for (const auto& [bytes, want] : cases) {
    EXPECT_EQ(DecodeTelemetryFile(bytes).status().message(), want) << absl::CEscape(bytes);
  }
  // A payload that is not a Telemetry, with a good checksum.
  const std::string junk("\x0a\x05\x01", 3);  // string_table entry, 5 bytes long, 1 there
  const std::string junk_file = Envelope(
      {magic, version, "\x1a\x03" + junk,
       "\x21" + Fixed64(learner::Fnv1a64(reinterpret_cast<const uint8_t*>(junk.data()), 3))});
  EXPECT_EQ(DecodeTelemetryFile(junk_file).status().message(),
            "malformed telemetry (the payload does not parse)");
}

// Each mutation of a valid Telemetry, and the reason it is refused with.
struct Broken {
  std::function<void(Telemetry*)> mutate;
  std::string why;
};

TEST(TelemetryFile, RefusesWhatTheSchemaForbids) {
  const std::vector<Broken> cases = {
      {[](Telemetry* t) { t->clear_string_table(); },
       "string table is empty (entry 0 must be \"\")"},
      {[](Telemetry* t) { t->set_string_table(0, "x"); }, "string table: entry 0 is not \"\""},
      {[](Telemetry* t) { t->mutable_runs(1)->set_host_str(12); },
       "run 1: host_str 12 is past the string table (12 strings)"},
      {[](Telemetry* t) { t->mutable_runs(0)->mutable_settings(0)->set_unit_str(99); },
       "run 0: setting 0: unit_str 99 is past the string table (12 strings)"},
      {[](Telemetry* t) { t->mutable_runs(0)->set_mode(static_cast<telemetry::Mode>(7)); },
       "run 0: unknown mode 7"},
      {[](Telemetry* t) { t->mutable_runs(0)->set_program_build_id_hex("ABCD"); },
       "run 0: build-id is not lowercase hex of at most 64 digits"},
      {[](Telemetry* t) { t->mutable_runs(0)->mutable_os_costs()->set_fault_ns(NAN); },
       "run 0: os_costs.fault_ns is not finite"},
      {[](Telemetry* t) { t->mutable_runs(1)->mutable_learn_params()->set_weight_time(INFINITY); },
       "run 1: learn_params.weight_time is not finite"},
      {[](Telemetry* t) { t->mutable_runs(1)->set_pid(100); t->mutable_runs(1)->set_start_unix_ns(t->runs(0).start_unix_ns()); },
       "run 1: the same process (pid, host, start) as run 0"},
      {[](Telemetry* t) { t->mutable_modules(0)->set_id(2); },
       "module 0: id 2, expected 1 (ids are positions + 1)"},
      {[](Telemetry* t) { t->mutable_modules(0)->set_build_id_hex("a-b"); },
       "module 0: build-id is not lowercase hex of at most 64 digits"},
      {[](Telemetry* t) { t->mutable_locations(1)->set_id(1); },
       "location 1: id 1, expected 2 (ids are positions + 1)"},
      {[](Telemetry* t) { t->mutable_locations(1)->set_module_id(2); },
       "location 1: module id 2 names no module (the file has 1)"},
      {[](Telemetry* t) { t->mutable_locations(0)->set_file_str(40); },
       "location 0: file_str 40 is past the string table (12 strings)"},
      {[](Telemetry* t) { t->mutable_sites(2)->set_id(4); },
       "site 2: id 4, expected 3 (ids are positions + 1)"},
      {[](Telemetry* t) { t->mutable_sites(0)->add_location_ids(9); },
       "site 0: location id 9 names no location (the file has 2)"},
      {[](Telemetry* t) { t->mutable_sites(0)->add_location_ids(0); },
       "site 0: location id 0 names no location (the file has 2)"},
      {[](Telemetry* t) { for (int i = 0; i < 15; ++i) t->mutable_sites(0)->add_location_ids(1); },
       "site 0: 17 frames, more than 16"},
      {[](Telemetry* t) { t->mutable_sites(0)->set_wrapper_frames(2); },
       "site 0: wrapper_frames 2 leaves none of its 2 frames to name it"},
      {[](Telemetry* t) { t->mutable_sites(1)->set_wrapper_frames(1); },
       "site 1: wrapper_frames 1 leaves none of its 0 frames to name it"},
      {[](Telemetry* t) { t->mutable_sites(0)->set_name_str(10); }, "site 0: both frames and a name"},
      {[](Telemetry* t) { t->mutable_sites(1)->set_name_str(0); },
       "site 1: neither frames, a name nor overflow"},
      {[](Telemetry* t) { t->mutable_sites(2)->set_key(5); },
       "site 2: the overflow site has key 0 and no frames or name"},
      {[](Telemetry* t) { t->mutable_sites(1)->set_key(t->sites(0).key()); },
       "site 1: key 0x4000000000000123 repeats site 0's"},
      {[](Telemetry* t) { t->mutable_site_profiles(0)->set_run(2); },
       "site profile 0: run 2 names no run (the file has 2)"},
      {[](Telemetry* t) { t->mutable_site_profiles(0)->set_site_id(0); },
       "site profile 0: no site (site id 0)"},
      {[](Telemetry* t) { t->mutable_site_profiles(0)->set_site_id(4); },
       "site profile 0: site id 4 names no site (the file has 3)"},
      {[](Telemetry* t) { t->add_site_profiles()->CopyFrom(t->site_profiles(0)); },
       "site profile 1: a second profile of site id 1 in run 1"},
      {[](Telemetry* t) { t->mutable_site_profiles(0)->add_sizes()->set_max_bytes(16); },
       "site profile 0: size buckets not increasing (bucket 1)"},
      {[](Telemetry* t) { t->mutable_site_profiles(0)->add_lifetimes()->set_max_ns(511); },
       "site profile 0: lifetime buckets not increasing (bucket 1)"},
      {[](Telemetry* t) { t->mutable_choices(0)->set_band(static_cast<table::SizeBand>(3)); },
       "choice 0: unknown size band 3"},
      {[](Telemetry* t) { t->mutable_choices(0)->set_strategy(static_cast<table::Strategy>(4)); },
       "choice 0: unknown strategy 4"},
      {[](Telemetry* t) { t->add_choices()->CopyFrom(t->choices(0)); },
       "choice 1: a second choice for site id 1, band 1 in run 1"},
      {[](Telemetry* t) { t->mutable_outcomes(0)->set_strategy(table::STRATEGY_NONE); },
       "outcome 0: strategy is none"},
      {[](Telemetry* t) { t->mutable_outcomes(0)->set_cost_ns(-INFINITY); },
       "outcome 0: cost_ns is not finite"},
      {[](Telemetry* t) { t->mutable_outcomes(0)->set_idle_mib_seconds(NAN); },
       "outcome 0: idle_mib_seconds is not finite"},
      // Found by tools/telemetry_file_fuzz (corpus: bug_negative_outcome_cost): a negative
      // cost passed, and `hakmem freeze` made a table that the codec refuses.
      {[](Telemetry* t) { t->mutable_outcomes(0)->set_cost_ns(-1); },
       "outcome 0: cost_ns is negative"},
      {[](Telemetry* t) { t->mutable_matches(0)->mutable_results(0)->set_cost_ns(-3); },
       "match 0: result 0: cost_ns is negative"},
      {[](Telemetry* t) { t->add_outcomes()->CopyFrom(t->outcomes(0)); },
       "outcome 1: a second outcome for site id 1, band 1, strategy 3 in run 1"},
      {[](Telemetry* t) { t->mutable_matches(0)->set_chosen(static_cast<table::Strategy>(9)); },
       "match 0: unknown chosen strategy 9"},
      {[](Telemetry* t) { t->mutable_matches(0)->mutable_results(0)->set_rating_elo(NAN); },
       "match 0: result 0: rating_elo is not finite"},
      {[](Telemetry* t) { t->mutable_matches(0)->set_site_id(7); },
       "match 0: site id 7 names no site (the file has 3)"},
      {[](Telemetry* t) { t->mutable_decisions(0)->set_kind(static_cast<telemetry::DecisionKind>(5)); },
       "decision 0: unknown kind 5"},
      {[](Telemetry* t) { t->mutable_decisions(0)->set_from(static_cast<table::Strategy>(-1)); },
       "decision 0: unknown from strategy -1"},
      {[](Telemetry* t) { t->mutable_timeline(0)->set_run(5); },
       "timeline sample 0: run 5 names no run (the file has 2)"},
  };
  for (const Broken& b : cases) {
    Telemetry t = Full();
    b.mutate(&t);
    EXPECT_EQ(ValidateTelemetry(t).message(), b.why);
    // The same through a file, as every command reads one.
    EXPECT_EQ(DecodeTelemetryFile(EncodeTelemetryFile(t)).status().message(), b.why);
  }
}

// Every prefix and every single-bit flip of a real file is refused with one line, and the
// decoder never crashes (under ASan/UBSan too, where the suite is run with them).
TEST(TelemetryFile, RefusesEveryTruncationAndBitFlip) {
  std::string bytes;
  ASSERT_TRUE(ReadFile(TestData("a"), &bytes).ok());
  ASSERT_TRUE(DecodeTelemetryFile(bytes).ok());
  for (size_t n = 0; n < bytes.size(); ++n) {
    const absl::Status s = DecodeTelemetryFile(bytes.substr(0, n)).status();
    ASSERT_FALSE(s.ok()) << "a prefix of " << n << " bytes decoded";
    ASSERT_FALSE(s.message().empty());
    ASSERT_EQ(s.message().find('\n'), absl::string_view::npos) << s.message();
  }
  for (size_t bit = 0; bit < bytes.size() * 8; ++bit) {
    std::string flipped = bytes;
    flipped[bit / 8] ^= static_cast<char>(1 << (bit % 8));
    const absl::Status s = DecodeTelemetryFile(flipped).status();
    ASSERT_FALSE(s.ok()) << "decoded with bit " << bit << " flipped";
    ASSERT_EQ(s.message().find('\n'), absl::string_view::npos) << s.message();
  }
}

}  // namespace
}  // namespace tools
}  // namespace hakmem
