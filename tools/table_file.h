// Frozen table files on disk, for the tools: read and validated by the codec (the checks
// production applies when it loads a table), written atomically.
#ifndef HAKMEM_TOOLS_TABLE_FILE_H_
#define HAKMEM_TOOLS_TABLE_FILE_H_

#include <memory>
#include <string>
#include <vector>

#include "learner/table.h"

namespace hakmem {
namespace tools {

// A whole table in memory.
struct Table {
  learner::TableMeta meta;  // ~150 KiB (the module list): keep Tables on the heap
  std::vector<learner::TableEntry> entries;
};

// Reads all of `path` (tools/file_io.h ReadFile). On failure returns false and sets
// *error to a one-line reason (strerror's, or "is a directory" ...).
bool ReadFileBytes(const std::string& path, std::string* bytes, std::string* error);

// Decodes and validates a file image with learner/table_codec.h. On failure returns
// nullptr and sets *error to the codec's one-line reason, or "is telemetry, not a frozen
// table" for a telemetry file.
std::unique_ptr<Table> DecodeTable(const std::string& bytes, std::string* error);

// ReadFileBytes then DecodeTable.
std::unique_ptr<Table> ReadTable(const std::string& path, std::string* error);

// Encodes `table`, checks that the codec reads it back, and writes it to `path`
// atomically (tools/file_io.h WriteFileAtomically). On any failure `path` is untouched,
// the temporary file is removed, and *error says why.
bool WriteTableAtomically(const std::string& path, const Table& table, std::string* error);

}  // namespace tools
}  // namespace hakmem

#endif  // HAKMEM_TOOLS_TABLE_FILE_H_
