// Fuzzes telemetry files (tools/telemetry_file.h) and what the commands do with a file
// that passed: an input that starts as a telemetry file does is decoded as it is; any
// other is taken for the Telemetry payload and wrapped in a valid envelope first, so
// mutations reach the schema's checks (ValidateTelemetry) past the checksum. A refusal
// must be one line. A file that decodes must re-encode to a file that decodes to the same
// bytes, and every command must take it without crashing: report (text and JSON), pprof,
// merge (whose output must be valid again, and merge(a, a) = merge(a)), diff against
// itself (no changes), and freeze (the table it writes must pass the table codec).
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "learner/table.h"
#include "learner/table_codec.h"
#include "learner/telemetry.pb.h"
#include "learner/testdata/fuzz_envelope.h"
#include "tools/diff.h"
#include "tools/merge.h"
#include "tools/pprof_export.h"
#include "tools/report.h"
#include "tools/telemetry_file.h"
#include "tools/telemetry_merge.h"
#include "tools/telemetry_to_table.h"

namespace {

[[noreturn]] void Fail(const char* what, const std::string& detail) {
  fprintf(stderr, "telemetry_file_fuzz: %s%s%s\n", what, detail.empty() ? "" : ": ",
          detail.c_str());
  abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace hakmem;
  using tools::DecodeTelemetryFile;
  const std::string file =
      fuzz::StartsWithMagic(data, size, tools::kTelemetryMagic)
          ? std::string(reinterpret_cast<const char*>(data), size)
          : fuzz::Envelope(tools::kTelemetryMagic, tools::kTelemetryFormatVersion, data, size);
  absl::StatusOr<telemetry::Telemetry> t = DecodeTelemetryFile(file);
  if (!t.ok()) {
    const std::string why(t.status().message());
    if (why.empty() || why.find('\n') != std::string::npos) Fail("not a one-line reason", why);
    return 0;
  }

  const std::string encoded = tools::EncodeTelemetryFile(*t);
  absl::StatusOr<telemetry::Telemetry> again = DecodeTelemetryFile(encoded);
  if (!again.ok()) Fail("a valid file, encoded again, is refused", std::string(again.status().message()));
  if (tools::EncodeTelemetryFile(*again) != encoded) Fail("encoding is not stable", "");

  tools::ReportOptions options;
  options.top = 0;
  tools::TextReport(*t, options);
  tools::JsonReport(*t, options);
  tools::ToProfile(*t);

  const telemetry::Telemetry merged = tools::MergeTelemetry({&*t});
  if (absl::Status s = tools::ValidateTelemetry(merged); !s.ok()) {
    Fail("merge made invalid telemetry", std::string(s.message()));
  }
  const telemetry::Telemetry twice = tools::MergeTelemetry({&*t, &*t});
  if (tools::EncodeTelemetryFile(twice) != tools::EncodeTelemetryFile(merged)) {
    Fail("merge(a, a) is not merge(a)", "");
  }

  const tools::Learned learned = tools::LearnedFromTelemetry(*t);
  if (!tools::DiffLearned(learned, learned, 0.1).empty()) Fail("a file differs from itself", "");

  // What `hakmem freeze FILE -o TABLE` writes (tools/freeze_command.cc): each run as a
  // table, merged under the first run's parameters; the codec must accept it (the
  // command checks it does before it writes, and would fail on a file that validated).
  const tools::ConvertedRuns runs = tools::TelemetryToTables(*t);
  if (!runs.tables.empty()) {
    std::vector<const tools::Table*> inputs;
    for (const auto& table : runs.tables) inputs.push_back(table.get());
    const std::unique_ptr<tools::Table> merged =
        tools::MergeTables(inputs, runs.tables[0]->meta.params, 0);
    const learner::TableMeta& meta = merged->meta;
    const std::vector<learner::TableEntry>& entries = merged->entries;
    const size_t need = learner::EncodedSize(meta, entries.data(), entries.size());
    std::vector<uint8_t> buf(need);
    if (learner::EncodeTableFile(meta, entries.data(), entries.size(), buf.data(), need) != need) {
      Fail("the table frozen from telemetry does not encode", "");
    }
    size_t n = 0;
    if (const char* why = learner::CountTableEntries(buf.data(), need, &n)) {
      Fail("the table frozen from telemetry is refused by the codec", why);
    }
  }
  return 0;
}
