#include "learner/telemetry_catalog.h"

#include <string.h>

#include "callsite/site_table.h"
#include "callsite/symbolizer.h"
#include "core/format.h"
#include "core/os.h"

namespace hakmem {
namespace learner {
namespace {

// Capacities: a process has at most 4097 profiled sites and 4096 learned ones, each of at
// most 16 frames; names are a few dozen bytes. Address space only until used.
constexpr size_t kMaxStrings = size_t{1} << 17;
constexpr size_t kStringSlots = kMaxStrings * 2;
constexpr size_t kMaxChars = size_t{16} << 20;
constexpr size_t kMaxLocations = size_t{1} << 17;
constexpr size_t kLocationSlots = kMaxLocations * 2;
constexpr size_t kMaxSites = size_t{1} << 14;
constexpr size_t kSiteSlots = kMaxSites * 2;

uint64_t Mix(uint64_t x) {
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdull;
  x ^= x >> 33;
  return x;
}

uint64_t HashBytes(const char* s, size_t n) {
  uint64_t h = 14695981039346656037ull;
  for (size_t i = 0; i < n; ++i) h = (h ^ static_cast<unsigned char>(s[i])) * 1099511628211ull;
  return h;
}

template <typename T>
T* MapArray(size_t n) {
  return static_cast<T*>(os::Map(sizeof(T) * n));
}

}  // namespace

bool Catalog::Ready() {
  if (ready_) return true;
  chars_ = MapArray<char>(kMaxChars);
  string_offset_ = MapArray<uint32_t>(kMaxStrings);
  string_index_ = MapArray<uint32_t>(kStringSlots);
  modules_ = MapArray<CatalogModule>(callsite::kMaxModules);
  locations_ = MapArray<CatalogLocation>(kMaxLocations);
  location_index_ = MapArray<uint32_t>(kLocationSlots);
  sites_ = MapArray<CatalogSite>(kMaxSites);
  site_index_ = MapArray<uint32_t>(kSiteSlots);
  if (chars_ == nullptr || string_offset_ == nullptr || string_index_ == nullptr ||
      modules_ == nullptr || locations_ == nullptr || location_index_ == nullptr ||
      sites_ == nullptr || site_index_ == nullptr) {
    return false;  // the process is out of address space; what was mapped stays (rare)
  }
  // String 0 is "".
  chars_[0] = '\0';
  chars_used_ = 1;
  string_offset_[0] = 0;
  num_strings_ = 1;
  ready_ = true;
  return true;
}

const char* Catalog::string(size_t i, size_t* len) const {
  const char* s = chars_ + string_offset_[i];
  *len = strlen(s);
  return s;
}

uint64_t Catalog::String(const char* s) {
  if (s == nullptr || *s == '\0') return 0;
  const size_t n = strlen(s);
  size_t slot = Mix(HashBytes(s, n)) & (kStringSlots - 1);
  for (;; slot = (slot + 1) & (kStringSlots - 1)) {
    const uint32_t idx = string_index_[slot];
    if (idx == 0) break;
    const char* t = chars_ + string_offset_[idx - 1];
    if (strncmp(t, s, n) == 0 && t[n] == '\0') return idx - 1;
  }
  if (num_strings_ == kMaxStrings || chars_used_ + n + 1 > kMaxChars) {
    ++turned_away_;
    return 0;
  }
  memcpy(chars_ + chars_used_, s, n + 1);
  string_offset_[num_strings_] = static_cast<uint32_t>(chars_used_);
  chars_used_ += n + 1;
  string_index_[slot] = static_cast<uint32_t>(num_strings_ + 1);
  return num_strings_++;
}

uint64_t Catalog::Module(int m) {
  if (m < 0 || m >= callsite::kMaxModules) return 0;
  if (module_id_[m] != 0) return module_id_[m];
  const callsite::Module* mod = callsite::GetModule(m);
  if (mod == nullptr) return 0;
  // Two callsite modules of one identity (a library mapped twice) are one module here.
  for (size_t i = 0; i < num_modules_; ++i) {
    const CatalogModule& c = modules_[i];
    const bool same = mod->build_id[0] != '\0'
                          ? strcmp(c.build_id_hex, mod->build_id) == 0
                          : c.build_id_hex[0] == '\0' && c.path_str == String(mod->path);
    if (same) return module_id_[m] = static_cast<uint32_t>(i + 1);
  }
  CatalogModule& c = modules_[num_modules_];
  strncpy(c.build_id_hex, mod->build_id, sizeof(c.build_id_hex) - 1);
  c.build_id_hex[sizeof(c.build_id_hex) - 1] = '\0';
  c.path_str = String(mod->path);
  return module_id_[m] = static_cast<uint32_t>(++num_modules_);
}

uint64_t Catalog::Location(uintptr_t address, const callsite::CodeKey& code) {
  const uint64_t module_id = Module(code.module);
  const uint64_t offset = module_id != 0 ? code.offset : address;
  size_t slot = Mix(offset * 31 + module_id) & (kLocationSlots - 1);
  for (;; slot = (slot + 1) & (kLocationSlots - 1)) {
    const uint32_t id = location_index_[slot];
    if (id == 0) break;
    const CatalogLocation& l = locations_[id - 1];
    if (l.module_id == module_id && l.offset == offset) return id;
  }
  if (num_locations_ == kMaxLocations) {
    ++turned_away_;
    return 0;
  }
  CatalogLocation& l = locations_[num_locations_];
  l.module_id = module_id;
  l.offset = offset;
  // Once per location per process: symbolizing is the slowest part of a write.
  callsite::Symbol sym;
  callsite::Symbolize(address, &sym);
  l.function_str = String(sym.function);
  l.file_str = String(sym.file);
  l.line = sym.line > 0 ? static_cast<uint32_t>(sym.line) : 0;
  location_index_[slot] = static_cast<uint32_t>(++num_locations_);
  return num_locations_;
}

uint64_t Catalog::LookUpSite(uintptr_t key, bool overflow, size_t* slot_out) const {
  size_t slot = Mix(key) & (kSiteSlots - 1);
  for (;; slot = (slot + 1) & (kSiteSlots - 1)) {
    const uint32_t id = site_index_[slot];
    if (id == 0) break;
    const CatalogSite& s = sites_[id - 1];
    if (s.key == key && s.overflow == overflow) return id;
  }
  *slot_out = slot;
  return 0;
}

// Contexts past the context table's bound share one key and have no frames: like sites
// past the site table's, they are records the profile could not tell apart, so the file
// holds them in the overflow site (a site must have frames, a name, or be the overflow).
inline bool IsOverflow(uintptr_t key, bool overflow) {
  return overflow || key == callsite::kOverflowContextKey;
}

uint64_t Catalog::FindSite(uintptr_t key, bool overflow) const {
  overflow = IsOverflow(key, overflow);
  size_t slot;
  return ready_ ? LookUpSite(overflow ? 0 : key, overflow, &slot) : 0;
}

uint64_t Catalog::Site(uintptr_t key, bool overflow, const char* name) {
  if (!Ready()) return 0;
  overflow = IsOverflow(key, overflow);
  const uintptr_t k = overflow ? 0 : key;
  size_t slot;
  if (const uint64_t id = LookUpSite(k, overflow, &slot)) return id;
  if (num_sites_ == kMaxSites) {
    ++turned_away_;
    return 0;
  }
  CatalogSite& s = sites_[num_sites_];
  s.key = k;
  s.overflow = overflow;
  s.name_str = String(name);
  if (s.name_str == 0 && !overflow && (k & callsite::kNamedSiteBit) != 0) {
    // An explicit site the profile never recorded (profiling off): its name is not
    // known here, but a site must be named by something.
    char text[40];
    Formatter f(text, sizeof(text));
    f.Str("explicit site ").Hex(k);
    s.name_str = String(text);
  }
  s.context = nullptr;
  s.num_locations = 0;
  if (!overflow && name == nullptr) {
    if (callsite::IsContextKey(k)) {
      s.context = callsite::FindContext(k);
      for (int i = 0; s.context != nullptr && i < s.context->depth; ++i) {
        const uint64_t loc = Location(s.context->address[i], s.context->code[i]);
        if (loc != 0) s.location_ids[s.num_locations++] = loc;
      }
    } else if ((k & callsite::kNamedSiteBit) == 0) {
      // A bare return address (a context that found the context table full).
      const uint64_t loc = Location(k, callsite::ResolveAddress(k));
      if (loc != 0) s.location_ids[s.num_locations++] = loc;
    }
  }
  site_index_[slot] = static_cast<uint32_t>(++num_sites_);
  return num_sites_;
}

}  // namespace learner
}  // namespace hakmem
