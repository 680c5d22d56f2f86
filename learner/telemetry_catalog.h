// What a telemetry file names, interned once per process and kept from one write to the
// next: strings, modules, code locations and sites, numbered as the file numbers them
// (learner/telemetry.proto: string 0 is "", ids count from 1 in order). Kept across
// writes so a periodic write symbolizes only what is new, and ids never change within a
// process.
//
// Append-only, in memory mapped for it (never malloc), used under the telemetry writer's
// lock. Fixed capacities; past one, a string reads as "" and a location or site is not
// named, and Full() says how many were turned away.
#ifndef HAKMEM_LEARNER_TELEMETRY_CATALOG_H_
#define HAKMEM_LEARNER_TELEMETRY_CATALOG_H_

#include <stddef.h>
#include <stdint.h>

#include "callsite/context.h"
#include "callsite/module_map.h"

namespace hakmem {
namespace learner {

struct CatalogModule {
  char build_id_hex[65];
  uint64_t path_str;
};

struct CatalogLocation {
  uint64_t module_id;  // 0: in no module (offset is then the address)
  uint64_t offset;
  uint64_t function_str, file_str;
  uint32_t line;
};

struct CatalogSite {
  uintptr_t key;                 // 0 for the overflow site
  bool overflow;
  uint64_t name_str;             // explicit sites
  const callsite::Context* context;  // nullptr for explicit and overflow sites
  uint32_t num_locations;
  uint64_t location_ids[callsite::kMaxContextDepth];
};

class Catalog {
 public:
  // Maps the catalog's memory on first use; false if that failed.
  bool Ready();

  // The string's index (0 for "" or when the catalog is full).
  uint64_t String(const char* s);
  // The site's id, interning it (with its context's locations, modules and names) if
  // new; 0 when full. `name` is an explicit site's name (nullptr otherwise).
  uint64_t Site(uintptr_t key, bool overflow, const char* name);
  // The id of an interned site, 0 if it is not.
  uint64_t FindSite(uintptr_t key, bool overflow) const;

  size_t num_strings() const { return num_strings_; }
  const char* string(size_t i, size_t* len) const;
  size_t string_bytes() const { return chars_used_; }
  size_t num_modules() const { return num_modules_; }
  const CatalogModule& module(size_t i) const { return modules_[i]; }
  size_t num_locations() const { return num_locations_; }
  const CatalogLocation& location(size_t i) const { return locations_[i]; }
  size_t num_sites() const { return num_sites_; }
  const CatalogSite& site(size_t i) const { return sites_[i]; }
  uint64_t turned_away() const { return turned_away_; }

 private:
  uint64_t Module(int callsite_module);
  uint64_t Location(uintptr_t address, const callsite::CodeKey& code);
  // The site's id, or 0 and the free slot where it would go.
  uint64_t LookUpSite(uintptr_t key, bool overflow, size_t* slot) const;

  bool ready_ = false;
  // Strings: their bytes (each NUL-terminated) and offsets, and a hash index over them.
  char* chars_ = nullptr;
  size_t chars_used_ = 0;
  uint32_t* string_offset_ = nullptr;
  uint32_t* string_index_ = nullptr;  // slot -> string index + 1
  size_t num_strings_ = 0;
  // Modules by callsite's module index.
  uint32_t module_id_[callsite::kMaxModules] = {};
  CatalogModule* modules_ = nullptr;
  size_t num_modules_ = 0;
  CatalogLocation* locations_ = nullptr;
  uint32_t* location_index_ = nullptr;  // slot -> location id
  size_t num_locations_ = 0;
  CatalogSite* sites_ = nullptr;
  uint32_t* site_index_ = nullptr;  // slot -> site id
  size_t num_sites_ = 0;
  uint64_t turned_away_ = 0;
};

}  // namespace learner
}  // namespace hakmem

#endif  // HAKMEM_LEARNER_TELEMETRY_CATALOG_H_
