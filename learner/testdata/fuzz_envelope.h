// For the fuzz targets of the two file formats (learner/table_codec_fuzz.cc,
// tools/telemetry_file_fuzz.cc): the envelope both share (magic, format version, payload,
// FNV-1a 64 checksum of the payload: learner/frozen_table.proto FrozenTableFile,
// learner/telemetry.proto TelemetryFile) around a payload, so the fuzzer can mutate what
// is inside a file without every mutation stopping at the checksum.
#ifndef HAKMEM_LEARNER_TESTDATA_FUZZ_ENVELOPE_H_
#define HAKMEM_LEARNER_TESTDATA_FUZZ_ENVELOPE_H_

#include <stddef.h>
#include <stdint.h>

#include <string>

#include "learner/table_codec.h"

namespace hakmem {
namespace fuzz {

inline void PutVarint(std::string* out, uint64_t v) {
  while (v >= 0x80) {
    out->push_back(static_cast<char>(0x80 | (v & 0x7f)));
    v >>= 7;
  }
  out->push_back(static_cast<char>(v));
}

// fixed32 magic = 1; uint32 format_version = 2; bytes payload = 3; fixed64 checksum = 4.
inline std::string Envelope(uint32_t magic, uint32_t version, const uint8_t* payload,
                            size_t size) {
  std::string out;
  out.push_back(0x0d);
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>(magic >> (8 * i)));
  out.push_back(0x10);
  PutVarint(&out, version);
  if (size > 0) {  // proto3 leaves out an empty payload
    out.push_back(0x1a);
    PutVarint(&out, size);
    out.append(reinterpret_cast<const char*>(payload), size);
  }
  const uint64_t sum = learner::Fnv1a64(payload, size);
  out.push_back(0x21);
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>(sum >> (8 * i)));
  return out;
}

// Whether `data` starts as a file of `magic` does (its first five bytes).
inline bool StartsWithMagic(const uint8_t* data, size_t size, uint32_t magic) {
  if (size < 5 || data[0] != 0x0d) return false;
  for (int i = 0; i < 4; ++i) {
    if (data[1 + i] != static_cast<uint8_t>(magic >> (8 * i))) return false;
  }
  return true;
}

}  // namespace fuzz
}  // namespace hakmem

#endif  // HAKMEM_LEARNER_TESTDATA_FUZZ_ENVELOPE_H_
