// Reads and writes frozen table files (learner/frozen_table.proto, the protobuf wire
// format) without libprotobuf, malloc, exceptions or locale: the preloaded allocator loads
// and writes tables with it, inside processes whose malloc it is. It is built on nanopb
// (Debian's static libprotobuf-nanopb.a, hidden inside the preload). All memory is the
// caller's; nothing here allocates, and the stack use is bounded: about 4.4 KiB to decode
// and 2.3 KiB to encode, most of it nanopb's frames for three levels of nested messages
// (x86-64, measured by table_codec_test's StackUseIsBounded: 4480 and 2320 bytes at -O0,
// 4136 and 2216 at -O2).
//
// The decoder is the one validator of tables: production loads, `hakmem validate` and
// `hakmem freeze` all go through DecodeTableFile, so a table that one of them accepts,
// all accept. The whole file is refused (never a part of it) for:
//  - the envelope: an empty or truncated file, a file not starting with the magic field,
//    a format version other than kTableFormatVersion (an older one says so: "format version
//    1 is older than this hakmem's 2 (...); relearn and freeze again"), a checksum
//    mismatch (any bit flip in the table), a field other than the four of
//    FrozenTableFile or out of their order, and any byte after the checksum;
//  - the wire data: malformed varints or tags, lengths past the end, wire types 6 and 7,
//    unbalanced groups, a known field with the wrong wire type;
//  - the values: unknown enum values, strings that do not fit their table.h buffers or
//    hold a NUL, a hakmem_version that is not printable ASCII, a build-id that is not
//    lowercase hex, an entry with no site key (neither frames nor a site name) or both,
//    more than kMaxTableFrames frames, a frame with no module id or one that names no
//    module, a module whose id is not its position plus one (ids are 1, 2, ... in order)
//    or that has neither a build-id nor a path, more than kMaxTableModules modules,
//    stats without a strategy or twice for one, stats or a chosen strategy ineligible for
//    the band, a chosen strategy without stats, a rating, mean cost or parameter that is
//    not finite, a negative mean cost, more than kMaxRuns runs.
// Modules need not be distinct (two with one identity make the same keys; writers list
// each once), and modules that no frame names are allowed.
// Unknown fields inside the table (newer writers, same format version) are skipped.
// Repeated singular fields follow protobuf: the last one wins (params merge).

#ifndef HAKMEM_LEARNER_TABLE_CODEC_H_
#define HAKMEM_LEARNER_TABLE_CODEC_H_

#include <stddef.h>
#include <stdint.h>

#include "learner/table.h"

namespace hakmem {
namespace learner {

// FrozenTableFile.magic: "HAKM" read as a little-endian uint32.
inline constexpr uint32_t kTableMagic = 0x4d4b4148;

// FNV-1a 64-bit hash (the file's checksum over the serialized FrozenTable).
inline constexpr uint64_t kFnv1a64Basis = 14695981039346656037ull;
inline constexpr uint64_t kFnv1a64Prime = 1099511628211ull;
uint64_t Fnv1a64(const uint8_t* data, size_t size);

// Bytes EncodeTableFile needs for this table (so the caller can map a buffer).
size_t EncodedSize(const TableMeta& meta, const TableEntry* entries, size_t n);

// Encodes a whole FrozenTableFile into buf[0, cap): returns the bytes written, or 0 if cap
// is too small (then buf's contents are unspecified). Writes what it is given without
// judging it (DecodeTableFile does that); strings are read up to their NUL or their
// buffer's size less one, whichever comes first. At most kMaxRuns runs, kMaxTableModules
// modules (module i gets id i + 1) and kMaxTableFrames frames an entry are written. The output is byte-identical to
// libprotobuf's serialization of the same messages.
size_t EncodeTableFile(const TableMeta& meta, const TableEntry* entries, size_t n,
                       uint8_t* buf, size_t cap);

// Decodes and validates the file image data[0, size). `entries` has room for `cap`
// entries. Returns nullptr on success, with *meta and entries[0, *n) filled in (every
// field of each, unset strings empty, unused frames and modules zero, ineligible
// strategies zero, eligible[i] true exactly for the strategies with stats; each frame's
// module is an index below meta->num_modules). Otherwise returns a one-line reason ("truncated", "bad
// magic (not a frozen table)", "checksum mismatch (file corrupt)", "entry 3: strategy
// pool not eligible for band large", ...; entries and runs are numbered from 0); then *n
// is 0 and *meta and entries are unspecified. The reason may live in a static buffer that the next failing
// call (from any thread) overwrites.
const char* DecodeTableFile(const uint8_t* data, size_t size, TableMeta* meta,
                            TableEntry* entries, size_t cap, size_t* n);

// The same validation without storing anything: returns nullptr and sets *n to the
// number of entries, or a reason as above (and *n = 0). Lets a caller size `entries`.
const char* CountTableEntries(const uint8_t* data, size_t size, size_t* n);

}  // namespace learner
}  // namespace hakmem

#endif  // HAKMEM_LEARNER_TABLE_CODEC_H_
