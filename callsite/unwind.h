// Captures an allocation's calling context from inside malloc: the return addresses from
// the program's allocation call outwards.
//
// The unwinder is libgcc's (_Unwind_Backtrace over the modules' .eh_frame data), linked
// statically into the preloaded library (libgcc_eh.a, symbols hidden by hakmem.lds), so
// the preload still needs nothing but libc. Why this one:
//  - Debian's binaries have no frame pointers, so a frame-pointer walk stops after the
//    first frame; the unwind tables are the only reliable way up the stack.
//  - It is safe inside malloc: it never calls malloc (only for frames registered with
//    __register_frame, which nothing registers with our private copy), and with glibc
//    2.35+ it finds each frame's unwind data through _dl_find_object, which takes no lock
//    and loads nothing, so it works in forked children, in threads being created or torn
//    down, and while another thread holds the loader lock.
//  - Debian's libunwind.a is built without -fPIC (cannot go into a shared object) and
//    takes a global lock plus two sigprocmask calls per step on Debian's build.
// It runs only where a site is needed: sampled small allocations and routed requests of
// 64 KiB and up, and there only when the call site is not known to have one context
// (callsite/context.h caches that).
#ifndef HAKMEM_CALLSITE_UNWIND_H_
#define HAKMEM_CALLSITE_UNWIND_H_

#include <stdint.h>

namespace hakmem {
namespace callsite {

// Fills frames[0, max) with the calling context of the allocation call that returns to
// `return_address`: frames[0] = return_address, frames[1] its caller's return address,
// and so on. Frames inside hakmem (below the allocation call) are skipped by finding
// `return_address` on the stack. Returns the number of frames: at least 1 (the return
// address alone, when the unwind tables do not lead to it). Never allocates.
// If `slots` is given, slots[i] (1 <= i < the count returned) is set to the stack
// address that held frames[i]: where the function of frames[i - 1] keeps its return
// address.
int CaptureContext(uintptr_t return_address, uintptr_t* frames, int max,
                   uintptr_t* slots = nullptr);

namespace unwind_internal {
// The address ranges of glibc and its loader ([start, start + size)), found once through
// _dl_find_object (which takes no lock) before the first capture; the modules that
// IsRuntimePath (module_map.h) names. Written before any capture reads them, never after.
extern uintptr_t g_runtime_start[2];
extern uintptr_t g_runtime_size[2];
// Set while this thread's capture has stored a frame outside the C runtime.
extern __thread bool tl_left_runtime __attribute__((tls_model("initial-exec")));
}  // namespace unwind_internal

// Whether `pc` is in the C runtime (glibc or its dynamic loader): where a context that
// has left it ends (callsite/context.h, entry points). False for every address until the
// first CaptureContext has looked the runtime up.
inline bool InRuntime(uintptr_t pc) {
  using unwind_internal::g_runtime_size;
  using unwind_internal::g_runtime_start;
  return pc - g_runtime_start[0] < g_runtime_size[0] ||
         pc - g_runtime_start[1] < g_runtime_size[1];
}

// Whether the capture this thread is running has stored a frame outside the C runtime:
// the next runtime frame is then an entry point, which ends the context. The preload's
// unwinder stops there before it reads that frame's unwind tables (unwind_stop.cc).
inline bool CaptureLeftRuntime() { return unwind_internal::tl_left_runtime; }

}  // namespace callsite
}  // namespace hakmem

#endif  // HAKMEM_CALLSITE_UNWIND_H_
