// Ends a calling-context capture at the C runtime's entry frame before the unwinder reads
// that frame's unwind tables. Linked into the preloaded library only, with
// -Wl,--wrap=_Unwind_Find_FDE: its private copy of libgcc's unwinder (callsite/unwind.h)
// then asks this function, not libgcc's, for each frame's FDE.
//
// Why: a context ends at the first frame back in glibc after the program's
// (__libc_start_call_main, start_thread, _dl_init; callsite/context.h), yet libgcc looks
// up a frame's FDE before its callback can refuse the frame. For a program that calls
// malloc from main that lookup is a binary search of libc's .eh_frame_hdr and a read of
// its .eh_frame: page faults on libc's read-only data, which the kernel maps a large
// folio at a time. glibc-simple's peak RSS held 128 KiB more of libc with profiling on
// than off, about half of what profiling costs it. An FDE of "none" ends the walk there
// (_URC_END_OF_STACK), with every frame that makes the key already stored.
//
// Walks that start inside glibc (malloc called by strdup or fopen) still read
// glibc's tables until they reach the program: only frames past the program's are cut.

#include <stdint.h>

#include "callsite/unwind.h"

struct dwarf_eh_bases;

extern "C" {

// libgcc's lookup (the --wrap link names it so); its FDE type is opaque here.
const void* __real__Unwind_Find_FDE(void* pc, struct dwarf_eh_bases* bases);

__attribute__((visibility("hidden"))) const void* __wrap__Unwind_Find_FDE(
    void* pc, struct dwarf_eh_bases* bases) {
  if (hakmem::callsite::CaptureLeftRuntime() &&
      hakmem::callsite::InRuntime(reinterpret_cast<uintptr_t>(pc))) {
    return nullptr;
  }
  return __real__Unwind_Find_FDE(pc, bases);
}

}  // extern "C"
