// Call sites as calling contexts. A site is the chain of return addresses from the
// program's allocation call outwards, HAKMEM_CONTEXT_DEPTH frames at most, so that an
// allocation made through a wrapper (zmalloc, sqlite3Malloc, PyMem_Malloc, g_malloc,
// libstdc++'s string growth) is told apart by who called the wrapper.
//
// Keys. A context's key is a hash of its frames as they are keyed across runs (each
// frame's module by GNU build-id, else path, plus the offset from the module's load
// base), so the same context has the same key in every run, with ASLR on: the learner,
// the route table and the frozen table all key on it, and a frozen table is matched
// without looking up a single address. Keys carry kContextBit (bit 62; bit 63 marks
// explicit sites, and no user-space code address reaches bit 47).
//
// Cost. Unwinding (callsite/unwind.h) costs about a microsecond; a site that is called
// from one place only does not need it. The first kObserveCalls requests at each return
// address are unwound; if they all had one context, the return address is "single" and
// later requests take its key from a table lookup. They unwind again when the call comes
// from another stack depth than the one this thread last verified (a new caller, almost
// surely), and now and then to re-check (the gap doubles after each check that finds the
// same context, up to kMaxVerifyGap). A second context makes the return address "multi" (a wrapper, or a
// function called from several places): from then on each of its requests is unwound.
// All of this runs only where a site is needed anyway: on the sampled small allocations
// and the routed requests of 64 KiB and up. The fast paths never see it.
//
// Memory comes from the arena and the tables are bounded: return addresses past
// kMaxRoots are unwound every time; contexts past kMaxContexts share one overflow key
// (kOverflowContextKey) and are counted (DroppedContexts).
#ifndef HAKMEM_CALLSITE_CONTEXT_H_
#define HAKMEM_CALLSITE_CONTEXT_H_

#include <stddef.h>
#include <stdint.h>

#include "callsite/module_map.h"

namespace hakmem {
namespace callsite {

inline constexpr int kMaxContextDepth = 16;  // HAKMEM_CONTEXT_DEPTH's upper bound
inline constexpr uintptr_t kContextBit = uintptr_t{1} << 62;
inline constexpr uintptr_t kOverflowContextKey = kContextBit | 1;

inline bool IsContextKey(uintptr_t key) { return (key >> 62) == 1; }

// A frame as keys see it: the module's build-id (hex, may be "") and path, and the offset
// of the return address from the module's load base. A frame in no module (JIT code) has
// both strings empty and its address as the offset: such keys do not survive a restart.
struct FrameKey {
  const char* build_id;
  const char* path;
  uint64_t offset;
};

// The key of a context given its frames, innermost (the allocation call) first. The one
// definition, used in the allocator and by frozen-table loading alike.
uintptr_t ContextKeyOf(const FrameKey* frames, int n);

// One interned context.
// Its frames stop early where the stack, having left the C runtime (glibc, ld.so) for
// the program, enters it again: that is the process's or a thread's entry
// (__libc_start_call_main, start_thread, _dl_init), which says nothing about the site and
// would tie every key to the exact libc build.
struct Context {
  uintptr_t key;
  int depth;                                  // frames that make the site, >= 1
  int captured;                               // frames unwound (>= depth)
  uintptr_t address[kMaxContextDepth];        // return addresses in this process
  CodeKey code[kMaxContextDepth];             // their modules and offsets
};

// The key of the allocation made by the call that returns to `return_address`, from
// inside that allocation (the call must still be on the stack). Explicit-site keys and
// context keys are returned unchanged. Never allocates.
uintptr_t ContextKeyForAddress(uintptr_t return_address);
inline uintptr_t ContextKeyForCall(uintptr_t return_address) {
  return (return_address >> 62) != 0 ? return_address : ContextKeyForAddress(return_address);
}

// The context with this key, or nullptr (not a context key, overflow, not interned).
const Context* FindContext(uintptr_t key);

// Distinct contexts that found the table full (they share kOverflowContextKey).
uint64_t DroppedContexts();

// Unwinds done so far (for tests: what the single-context cache saves).
uint64_t ContextUnwinds();

// The frames of `ctx` that belong to wrappers: the longest prefix it shares with any other
// interned context. A function whose calls come from several places is where contexts
// part, so every frame they share is "not where the decision lives", and
// address[WrapperFrames(ctx)] (at most depth - 1) is the frame that names the site: the
// innermost one outside the wrappers. A return address with one context has none.
// Scans the table: for reports, not for allocations.
int WrapperFrames(const Context& ctx);

// The frames of `ctx` as keys see them.
int ContextFrameKeys(const Context& ctx, FrameKey* out);

}  // namespace callsite
}  // namespace hakmem

#endif  // HAKMEM_CALLSITE_CONTEXT_H_
