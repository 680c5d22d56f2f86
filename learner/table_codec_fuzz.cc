// Fuzzes the frozen table codec, the one validator of tables (learner/table_codec.h).
// An input that starts as a table file does is decoded as it is; any other input is taken
// for the FrozenTable inside and wrapped in a valid envelope first, so mutations reach the
// table's contents past the checksum. Whatever the input: no crash, no read or write out
// of bounds (ASan), a refusal is one line, and CountTableEntries agrees with
// DecodeTableFile. A table that decodes must encode to exactly EncodedSize bytes, and
// those must decode to a table that encodes to the same bytes again.
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <memory>
#include <string>
#include <vector>

#include "learner/table.h"
#include "learner/table_codec.h"
#include "learner/testdata/fuzz_envelope.h"

namespace {

using hakmem::learner::TableEntry;
using hakmem::learner::TableMeta;

[[noreturn]] void Fail(const char* what, const char* detail) {
  fprintf(stderr, "table_codec_fuzz: %s%s%s\n", what, detail[0] ? ": " : "", detail);
  abort();
}

void CheckReason(const char* reason) {
  if (reason[0] == '\0' || strchr(reason, '\n') != nullptr) Fail("not a one-line reason", reason);
}

// Decodes `file`; nullptr and the table on success, else the reason.
const char* Decode(const std::string& file, TableMeta* meta, std::vector<TableEntry>* entries) {
  const auto* data = reinterpret_cast<const uint8_t*>(file.data());
  size_t counted = 0;
  const char* why_count = hakmem::learner::CountTableEntries(data, file.size(), &counted);
  // Room for the counted entries only: a decoder that writes more overflows the vector.
  entries->assign(why_count == nullptr ? counted : 1, TableEntry{});
  size_t n = 99;
  const char* why = hakmem::learner::DecodeTableFile(data, file.size(), meta, entries->data(),
                                                     entries->size(), &n);
  if ((why == nullptr) != (why_count == nullptr)) {
    Fail("CountTableEntries and DecodeTableFile disagree", why != nullptr ? why : why_count);
  }
  if (why != nullptr) {
    CheckReason(why);
    if (n != 0) Fail("a refused table left entries", why);
    return why;
  }
  if (n != counted) Fail("DecodeTableFile's count is not CountTableEntries'", "");
  entries->resize(n);
  return nullptr;
}

std::string Encode(const TableMeta& meta, const std::vector<TableEntry>& entries) {
  const size_t size = hakmem::learner::EncodedSize(meta, entries.data(), entries.size());
  std::string out(size + 64, '\0');
  const size_t n = hakmem::learner::EncodeTableFile(
      meta, entries.data(), entries.size(), reinterpret_cast<uint8_t*>(&out[0]), out.size());
  if (n != size) Fail("EncodeTableFile wrote other than EncodedSize bytes", "");
  out.resize(n);
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace hakmem;
  const std::string file =
      fuzz::StartsWithMagic(data, size, learner::kTableMagic)
          ? std::string(reinterpret_cast<const char*>(data), size)
          : fuzz::Envelope(learner::kTableMagic, learner::kTableFormatVersion, data, size);
  auto meta = std::make_unique<TableMeta>();
  std::vector<TableEntry> entries;
  if (Decode(file, meta.get(), &entries) != nullptr) return 0;

  const std::string once = Encode(*meta, entries);
  auto meta2 = std::make_unique<TableMeta>();
  std::vector<TableEntry> entries2;
  if (const char* why = Decode(once, meta2.get(), &entries2)) {
    Fail("a decoded table, encoded again, is refused", why);
  }
  if (entries2.size() != entries.size()) Fail("the entries changed in a round trip", "");
  if (Encode(*meta2, entries2) != once) Fail("encoding is not stable over a round trip", "");
  return 0;
}
