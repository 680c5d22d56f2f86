// The learner in a process: the tournament fed with known costs, what it publishes to
// the route table in each mode, and the frozen-table loader (good and bad tables).
#include "learner/learner.h"

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <algorithm>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "callsite/context.h"
#include "callsite/module_map.h"
#include "callsite/profiler.h"
#include "core/cycleclock.h"
#include "core/hakmem.h"
#include "core/learner_hooks.h"
#include "core/route_table.h"
#include "learner/elo.h"
#include "learner/frozen.h"
#include "learner/table_codec.h"

namespace hakmem {
namespace learner {
namespace {

// Costs per allocation (ns) by strategy.
struct Costs {
  double c[kNumLearnedStrategies];
};

// The preload's learner in learn mode, started once (it measures the OS's prices).
void StartLearning() {
  static const bool started = [] {
    StartMeasuring(LearnMode::kLearn);
    return true;
  }();
  (void)started;
}

uint64_t Ticks(double ns) {
  return static_cast<uint64_t>(ns * cycleclock::TicksPerSecond() / 1e9 + 0.5);
}

// Serves `n` allocations of 1 MiB at (site, band) the way the route does, through the
// core's hooks: with the strategy the route table says (the band's default when none),
// its allocator time half at the allocation and half at the free of a mapped block.
// Returns how many allocations each strategy served.
std::vector<int> Serve(uintptr_t site, int band, const Costs& costs, int n) {
  StartLearning();
  std::vector<int> served(kNumLearnedStrategies, 0);
  for (int i = 0; i < n; ++i) {
    Strategy s = RouteDecision(site, band);
    if (s == Strategy::kNone) s = DefaultStrategy(band);
    const int idx = static_cast<int>(s) - 1;
    ++served[idx];
    const double ns = costs.c[idx];
    if (s == Strategy::kPool) {
      LearnerOnAlloc(site, band, s, 1 << 20, Ticks(ns), false);
      continue;
    }
    const uint32_t h = LearnerOnAlloc(site, band, s, 1 << 20, Ticks(ns / 2), false);
    if (h != 0) LearnerOnFree(h, s, 1 << 20, Ticks(ns / 2), 0, false, false);
  }
  return served;
}

int Chosen(uintptr_t site, int band) {
  BandView v[kNumBands];
  if (!ViewSite(site, v)) return -2;
  return v[band].chosen;
}

// The tournament itself is tested on instances (tournament_test.cc); here, the preload's
// instance behind the hooks publishes what it decides to the route table.
TEST(Learner, LearnModePublishesEachSitesCheapestStrategyToTheRouteTable) {
  // This case starts learn mode itself. A process started in shadow or frozen mode (a
  // suite-wide --test_env=HAKMEM_MODE, which overrides any env the BUILD file sets) has
  // its learner running in that mode already.
  if (Mode() != LearnMode::kOff && Mode() != LearnMode::kLearn) {
    GTEST_SKIP() << "the process was started in another mode (HAKMEM_MODE)";
  }
  const uintptr_t frames = 0x1000, churn = 0x2000, snapshots = 0x3000;
  Serve(frames, kBandLarge, Costs{{0, 5e3, 5e6}}, 200);
  Serve(churn, kBandMiddle, Costs{{50, 400, 3e5}}, 400);
  Serve(snapshots, kBandHuge, Costs{{0, 2e6, 1e6}}, 200);
  EXPECT_EQ(Mode(), LearnMode::kLearn);
  EXPECT_EQ(Chosen(frames, kBandLarge), kIdxBigCache);
  EXPECT_EQ(Chosen(churn, kBandMiddle), kIdxPool);
  EXPECT_EQ(Chosen(snapshots, kBandHuge), kIdxMmap);
  const std::vector<int> after = Serve(snapshots, kBandHuge, Costs{{0, 2e6, 1e6}}, 400);
  EXPECT_GE(after[kIdxMmap], 390);  // the route serves the choice
  EXPECT_EQ(RouteDecision(frames, kBandLarge), Strategy::kBigCache);
  EXPECT_GT(MeasuredOsCosts().fault_ns, 0);
  EXPECT_EQ(Params().fault_ns, MeasuredOsCosts().fault_ns);
}

// ---- the frozen-table loader ----

// A code address in this test binary, so its module (and build-id) is loaded.
__attribute__((noinline)) uintptr_t ThisSite() { return reinterpret_cast<uintptr_t>(&ThisSite) + 16; }

// The key of a context in this process, from (module, offset) frames as a table has them.
uintptr_t KeyOfFrames(const TableMeta& meta, const TableEntry& e) {
  callsite::FrameKey frames[kMaxTableFrames];
  for (uint32_t i = 0; i < e.num_frames; ++i) {
    const TableModule& m = meta.modules[e.frames[i].module];
    frames[i] = callsite::FrameKey{m.build_id_hex, m.path, e.frames[i].offset};
  }
  return callsite::ContextKeyOf(frames, static_cast<int>(e.num_frames));
}

class Frozen : public ::testing::Test {
 protected:
  void SetUp() override {
    // A one-frame context at ThisSite(): the table names this binary's module.
    const callsite::CodeKey code = callsite::ResolveAddress(ThisSite());
    const callsite::Module* m = callsite::GetModule(code.module);
    ASSERT_NE(m, nullptr);
    memset(&meta_, 0, sizeof(meta_));
    meta_.num_modules = 1;
    strncpy(meta_.modules[0].build_id_hex, m->build_id, kMaxBuildIdHex - 1);
    strncpy(meta_.modules[0].path, m->path, kMaxPathBytes - 1);
    memset(&entry_, 0, sizeof(entry_));
    entry_.num_frames = 1;
    entry_.frames[0] = {0, code.offset};
    entry_.band = kBandLarge;
    entry_.strategy = kIdxMmap;
    entry_.eligible[kIdxBigCache] = entry_.eligible[kIdxMmap] = true;
    entry_.rating[kIdxBigCache] = 1450;
    entry_.rating[kIdxMmap] = 1550;
    entry_.samples[kIdxBigCache] = entry_.samples[kIdxMmap] = 40;
    strcpy(meta_.hakmem_version, "0.1.0");
    meta_.params = DefaultParams();
    meta_.num_runs = 1;
    strcpy(meta_.runs[0].program, "/usr/bin/some-other-program");
    path_ = std::string(getenv("TEST_TMPDIR") != nullptr ? getenv("TEST_TMPDIR") : "/tmp") +
            "/frozen_test.pb";
    key_ = KeyOfFrames(meta_, entry_);
    ASSERT_TRUE(callsite::IsContextKey(key_));
    // Start each test with no decision for the site.
    PublishRouteDecision(key_, kBandLarge, Strategy::kNone);
  }

  std::vector<uint8_t> Encode(const TableEntry& e) { return Encode(std::vector<TableEntry>{e}); }
  std::vector<uint8_t> Encode(const std::vector<TableEntry>& e) {
    std::vector<uint8_t> buf(EncodedSize(meta_, e.data(), e.size()));
    EXPECT_EQ(EncodeTableFile(meta_, e.data(), e.size(), buf.data(), buf.size()), buf.size());
    return buf;
  }

  // Decodes the file at path_ (FreezeTo's): its entries, and the metadata into meta_.
  std::vector<TableEntry> ReadBack() {
    std::vector<uint8_t> bytes(1 << 20);
    const int fd = open(path_.c_str(), O_RDONLY);
    EXPECT_GE(fd, 0);
    const ssize_t got = read(fd, bytes.data(), bytes.size());
    close(fd);
    EXPECT_GT(got, 0);
    std::vector<TableEntry> entries(1000);
    size_t n = 0;
    const char* why = DecodeTableFile(bytes.data(), static_cast<size_t>(got), &meta_,
                                      entries.data(), entries.size(), &n);
    EXPECT_EQ(why, nullptr) << why;
    entries.resize(n);
    return entries;
  }

  void Write(const std::vector<uint8_t>& bytes) {
    const int fd = open(path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(write(fd, bytes.data(), bytes.size()), static_cast<ssize_t>(bytes.size()));
    close(fd);
  }

  // Loads the file and returns what went to stderr, into an empty route table. This
  // process learns its own allocations, and the learner's trial decisions for them (keys
  // of code addresses here, so they move with every change to the binary) stay in the
  // table: one that held the slot of a key a test checks made the load refuse that
  // entry, as it should (route_table.h), and the test fail for a change elsewhere.
  std::string Load(size_t* published) {
    ::testing::internal::CaptureStderr();
    for (RouteSlot& slot : g_route_table) {
      const uintptr_t holder = slot.key.load(std::memory_order_relaxed);
      if (holder == 0) continue;
      for (int band = 0; band < kNumBands; ++band) {
        PublishRouteDecision(holder, band, Strategy::kNone);
      }
    }
    *published = StartFrozen(path_.c_str());
    return ::testing::internal::GetCapturedStderr();
  }

  TableEntry entry_;
  TableMeta meta_;  // ~150 KiB: gtest allocates fixtures on the heap
  uintptr_t key_;   // entry_'s key in this process
  std::string path_;
};

TEST_F(Frozen, AGoodTablePublishesItsChoicesForThisProgram) {
  Write(Encode(entry_));
  size_t published = 0;
  EXPECT_EQ(Load(&published), "");
  EXPECT_EQ(published, 1u);
  EXPECT_EQ(RouteDecision(key_, kBandLarge), Strategy::kMmap);
  EXPECT_EQ(Mode(), LearnMode::kFrozen);
}

TEST_F(Frozen, EveryTruncationIsRejectedWithOneLine) {
  const std::vector<uint8_t> good = Encode(entry_);
  for (size_t len = 0; len < good.size(); len += 1) {
    Write(std::vector<uint8_t>(good.begin(), good.begin() + len));
    size_t published = 1;
    const std::string err = Load(&published);
    EXPECT_EQ(published, 0u) << len;
    EXPECT_EQ(std::count(err.begin(), err.end(), '\n'), 1) << len << ": " << err;
    EXPECT_NE(err.find("using the default strategies"), std::string::npos) << err;
  }
  EXPECT_EQ(RouteDecision(key_, kBandLarge), Strategy::kNone);
}

TEST_F(Frozen, EveryBitFlipIsRejected) {
  const std::vector<uint8_t> good = Encode(entry_);
  for (size_t byte = 0; byte < good.size(); ++byte) {
    for (int bit = 0; bit < 8; ++bit) {
      std::vector<uint8_t> bad = good;
      bad[byte] ^= static_cast<uint8_t>(1u << bit);
      Write(bad);
      size_t published = 1;
      const std::string err = Load(&published);
      ASSERT_EQ(published, 0u) << byte << ":" << bit;
      ASSERT_EQ(std::count(err.begin(), err.end(), '\n'), 1) << err;
    }
  }
  EXPECT_EQ(RouteDecision(key_, kBandLarge), Strategy::kNone);
}

TEST_F(Frozen, AWrongFormatVersionIsNamed) {
  std::vector<uint8_t> bytes = Encode(entry_);
  // FrozenTableFile.format_version is field 2, a varint right after the 5-byte magic.
  ASSERT_EQ(bytes[5], 0x10);
  bytes[6] = 7;
  Write(bytes);
  size_t published = 1;
  const std::string err = Load(&published);
  EXPECT_EQ(published, 0u);
  EXPECT_NE(err.find("version"), std::string::npos) << err;
}

// Version 1 tables (one code address a site) are refused with one line that says why.
TEST_F(Frozen, AVersion1TableIsRefusedAsOlder) {
  std::vector<uint8_t> bytes = Encode(entry_);
  ASSERT_EQ(bytes[5], 0x10);
  ASSERT_EQ(bytes[6], kTableFormatVersion);
  bytes[6] = 1;
  Write(bytes);
  size_t published = 1;
  const std::string err = Load(&published);
  EXPECT_EQ(published, 0u);
  EXPECT_EQ(std::count(err.begin(), err.end(), '\n'), 1) << err;
  EXPECT_NE(err.find("format version 1 is older than this hakmem's 2"), std::string::npos) << err;
  EXPECT_NE(err.find("relearn and freeze again"), std::string::npos) << err;
}

// A context is keyed on all of its frames, and matching needs no module but frame 0's to
// be loaded: outer frames in modules this process does not have still make the key.
TEST_F(Frozen, AContextIsKeyedOnAllItsFrames) {
  meta_.num_modules = 2;
  strcpy(meta_.modules[1].path, "/no/such/module.so");
  entry_.num_frames = 3;
  entry_.frames[1] = {1, 0x4444};
  entry_.frames[2] = {0, 0x10};
  const uintptr_t key = KeyOfFrames(meta_, entry_);
  ASSERT_NE(key, key_);
  Write(Encode(entry_));
  size_t published = 0;
  EXPECT_EQ(Load(&published), "");
  EXPECT_EQ(published, 1u);
  EXPECT_EQ(RouteDecision(key, kBandLarge), Strategy::kMmap);
  EXPECT_EQ(RouteDecision(key_, kBandLarge), Strategy::kNone);  // frame 0 alone: another site
  PublishRouteDecision(key, kBandLarge, Strategy::kNone);
}

// Entries whose frame 0 is in a module that is not loaded are still published (a module
// dlopen()ed later finds its decisions), once the table has one entry of this program.
TEST_F(Frozen, EntriesOfModulesNotLoadedArePublishedToo) {
  meta_.num_modules = 2;
  strcpy(meta_.modules[1].build_id_hex, "0123456789abcdef0123456789abcdef01234567");
  TableEntry other = entry_;
  other.frames[0] = {1, 0x20};
  const uintptr_t other_key = KeyOfFrames(meta_, other);
  Write(Encode(std::vector<TableEntry>{other, entry_}));
  size_t published = 0;
  EXPECT_EQ(Load(&published), "");
  EXPECT_EQ(published, 2u);
  EXPECT_EQ(RouteDecision(key_, kBandLarge), Strategy::kMmap);
  EXPECT_EQ(RouteDecision(other_key, kBandLarge), Strategy::kMmap);
  PublishRouteDecision(other_key, kBandLarge, Strategy::kNone);
}

TEST_F(Frozen, KeysOfAnotherBinaryMatchNothingAndSaySo) {
  strcpy(meta_.modules[0].build_id_hex, "0123456789abcdef0123456789abcdef01234567");
  Write(Encode(entry_));
  size_t published = 1;
  const std::string err = Load(&published);
  EXPECT_EQ(published, 0u);
  EXPECT_NE(err.find("none of its 1 entries"), std::string::npos) << err;
  EXPECT_NE(err.find("/usr/bin/some-other-program"), std::string::npos) << err;
  EXPECT_EQ(RouteDecision(key_, kBandLarge), Strategy::kNone);
}

TEST_F(Frozen, AModuleWithoutBuildIdMatchesByPath) {
  // A module that has no build-id is identified by its path: the table names this
  // binary by path alone, and the loader finds it loaded.
  meta_.modules[0].build_id_hex[0] = '\0';
  const uintptr_t by_path = KeyOfFrames(meta_, entry_);
  ASSERT_NE(by_path, key_);  // another identity, another key
  PublishRouteDecision(by_path, kBandLarge, Strategy::kNone);
  Write(Encode(entry_));
  size_t published = 0;
  EXPECT_EQ(Load(&published), "");  // "ours": no complaint that nothing matched
  EXPECT_EQ(published, 1u);
  EXPECT_EQ(RouteDecision(by_path, kBandLarge), Strategy::kMmap);
  PublishRouteDecision(by_path, kBandLarge, Strategy::kNone);
}

TEST_F(Frozen, ANamedSiteMatchesByItsName) {
  TableEntry named = entry_;
  named.num_frames = 0;
  strcpy(named.site_name, "frozen.named.site");
  named.band = kBandHuge;
  named.strategy = kIdxBigCache;
  named.rating[kIdxBigCache] = 1560;
  named.rating[kIdxMmap] = 1440;
  Write(Encode(named));
  size_t published = 0;
  EXPECT_EQ(Load(&published), "");
  EXPECT_EQ(published, 1u);
  const uintptr_t key = hak_site_register("frozen.named.site");
  EXPECT_EQ(RouteDecision(key, kBandHuge), Strategy::kBigCache);
  PublishRouteDecision(key, kBandHuge, Strategy::kNone);
}

TEST_F(Frozen, InAContestedRouteSlotThisProgramsEntryWins) {
  // Another binary's entry whose key falls in the same route slot as this program's:
  // this program's is published first and keeps the slot; the other is refused.
  meta_.num_modules = 2;
  strcpy(meta_.modules[1].build_id_hex, "0123456789abcdef0123456789abcdef01234567");
  TableEntry other = entry_;
  other.strategy = kIdxBigCache;
  uintptr_t other_key = 0;
  for (uint64_t offset = 0x1000; offset < 0x1000 + 1000000; offset += 16) {
    other.frames[0] = {1, offset};
    other_key = KeyOfFrames(meta_, other);
    if (RouteIndex(other_key) == RouteIndex(key_) && other_key != key_) break;
    other_key = 0;
  }
  ASSERT_NE(other_key, 0u) << "no colliding key found";
  PublishRouteDecision(other_key, kBandLarge, Strategy::kNone);
  Write(Encode(std::vector<TableEntry>{other, entry_}));  // the other one first in the file
  size_t published = 0;
  EXPECT_EQ(Load(&published), "");
  EXPECT_EQ(published, 1u);
  EXPECT_EQ(RouteDecision(key_, kBandLarge), Strategy::kMmap);
  EXPECT_EQ(RouteDecision(other_key, kBandLarge), Strategy::kNone);
}

TEST_F(Frozen, MissingFileAndMissingSettingAreOneLineEach) {
  unlink(path_.c_str());
  size_t published = 1;
  std::string err = Load(&published);
  EXPECT_EQ(published, 0u);
  EXPECT_NE(err.find("cannot read frozen table"), std::string::npos) << err;
  ::testing::internal::CaptureStderr();
  EXPECT_EQ(StartFrozen(nullptr), 0u);
  err = ::testing::internal::GetCapturedStderr();
  EXPECT_NE(err.find("HAKMEM_FROZEN_TABLE"), std::string::npos) << err;
}

// The key of an allocation call returning to ThisSite(), as malloc would take it: its
// calling context (one frame here, since ThisSite() is not on the stack).
uintptr_t ThisContext() { return callsite::ContextKeyForCall(ThisSite()); }

TEST_F(Frozen, FreezeThenLoadRoundTripsTheLearnedChoice) {
  const uintptr_t site = ThisContext();
  ASSERT_TRUE(callsite::IsContextKey(site));
  const callsite::Context* ctx = callsite::FindContext(site);
  ASSERT_NE(ctx, nullptr);
  Serve(site, kBandLarge, Costs{{0, 5e6, 5e3}}, 300);  // mmap cheapest here
  ASSERT_EQ(Chosen(site, kBandLarge), kIdxMmap);
  ASSERT_TRUE(FreezeTo(path_.c_str()));
  // The file holds the context, frame by frame, with its modules interned. (It holds
  // more: this test's own allocations of 64 KiB and up are learned too.)
  std::vector<TableEntry> entries = ReadBack();
  const size_t all = entries.size();
  entries.erase(std::remove_if(entries.begin(), entries.end(),
                               [&](const TableEntry& e) {
                                 return e.num_frames == 0 || e.band != kBandLarge ||
                                        KeyOfFrames(meta_, e) != site;
                               }),
                entries.end());
  ASSERT_EQ(entries.size(), 1u) << "of " << all;
  ASSERT_EQ(entries[0].num_frames, static_cast<uint32_t>(ctx->depth));
  for (int i = 0; i < ctx->depth; ++i) {
    const callsite::Module* m = callsite::GetModule(ctx->code[i].module);
    ASSERT_NE(m, nullptr);
    const TableModule& tm = meta_.modules[entries[0].frames[i].module];
    EXPECT_STREQ(tm.build_id_hex, m->build_id);
    EXPECT_STREQ(tm.path, m->path);
    EXPECT_EQ(entries[0].frames[i].offset, ctx->code[i].offset);
  }
  EXPECT_EQ(KeyOfFrames(meta_, entries[0]), site);
  PublishRouteDecision(site, kBandLarge, Strategy::kNone);
  ASSERT_EQ(RouteDecision(site, kBandLarge), Strategy::kNone);
  size_t published = 0;
  EXPECT_EQ(Load(&published), "");
  EXPECT_EQ(published, 1u);
  EXPECT_EQ(RouteDecision(site, kBandLarge), Strategy::kMmap);
  PublishRouteDecision(site, kBandLarge, Strategy::kNone);
}

// Keys nothing can match in another run are left out of a frozen table: a bare return
// address (no context interned) and the overflow bucket's key.
TEST_F(Frozen, FreezeLeavesOutSitesWithoutAContext) {
  Serve(ThisSite(), kBandLarge, Costs{{0, 5e6, 5e3}}, 50);
  Serve(callsite::kOverflowContextKey, kBandLarge, Costs{{0, 5e6, 5e3}}, 50);
  const uintptr_t named = hak_site_register("frozen-test-site");
  ASSERT_EQ(named, callsite::NamedSiteKey("frozen-test-site"));
  Serve(named, kBandLarge, Costs{{0, 5e6, 5e3}}, 50);
  ASSERT_TRUE(FreezeTo(path_.c_str()));
  const std::vector<TableEntry> entries = ReadBack();
  // The named site is in; the bare address and the overflow bucket are not: every entry
  // is a context (frames) or a name. (The test's own allocations of 64 KiB and up are
  // learned too, as contexts.)
  size_t named_entries = 0;
  for (const TableEntry& e : entries) {
    named_entries += strcmp(e.site_name, "frozen-test-site") == 0;
    EXPECT_TRUE(e.site_name[0] != 0 || e.num_frames > 0);
    if (e.num_frames > 0) {
      EXPECT_NE(KeyOfFrames(meta_, e), callsite::kOverflowContextKey);
    }
  }
  EXPECT_EQ(named_entries, 1u);
}

// An entry holds 63 bytes of name, and its key is the hash of what it holds: a longer
// name used to be cut, freezing the site under another site's key (two such names
// sharing their first 63 bytes became two entries of one name, and the frozen run found
// neither). Such sites are left out; a name that fits exactly is kept.
TEST_F(Frozen, FreezeLeavesOutExplicitSitesWhoseNamesDoNotFit) {
  const std::string fits(sizeof(TableEntry::site_name) - 1, 'f');
  const std::string prefix(70, 'n');
  for (const std::string& name : {fits, prefix + "A", prefix + "B"}) {
    Serve(hak_site_register(name.c_str()), kBandLarge, Costs{{0, 5e6, 5e3}}, 50);
  }
  ASSERT_TRUE(FreezeTo(path_.c_str()));
  // The named entries (other tests' sites and this test's own allocations are contexts
  // or other names): the one that fits, and neither cut one.
  std::vector<std::string> ours;
  for (const TableEntry& e : ReadBack()) {
    const std::string name = e.site_name;
    if (name == fits || name.compare(0, prefix.size(), prefix) == 0) ours.push_back(name);
  }
  ASSERT_EQ(ours.size(), 1u);
  EXPECT_EQ(ours[0], fits);
}

}  // namespace
}  // namespace learner
}  // namespace hakmem
