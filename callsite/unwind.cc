#include "callsite/unwind.h"

#include <unwind.h>

namespace hakmem {
namespace callsite {
namespace {

// hakmem's own frames between the unwinder and the program's call (the hook, the sampler
// or route, the allocator, the entry point): a bound, so a stack on which the return
// address never shows up (a tail call, missing unwind data) costs little.
constexpr int kMaxSkipped = 24;

struct Walk {
  uintptr_t target;
  uintptr_t* frames;
  int max;
  int n;        // frames stored
  int skipped;  // frames walked before the target was found
  // libgcc gives each frame's callback the CFA of the frame below it (its callee), and on
  // x86-64 a function's return address is the word just below its CFA.
  uintptr_t* slots;
};

_Unwind_Reason_Code OnFrame(struct _Unwind_Context* ctx, void* arg) {
  auto* w = static_cast<Walk*>(arg);
  const uintptr_t ip = static_cast<uintptr_t>(_Unwind_GetIP(ctx));
  if (w->n == 0) {
    if (ip != w->target) return ++w->skipped < kMaxSkipped ? _URC_NO_REASON : _URC_END_OF_STACK;
  }
  if (ip == 0) return _URC_END_OF_STACK;
  if (w->n >= 1 && w->slots != nullptr) {
    w->slots[w->n] = static_cast<uintptr_t>(_Unwind_GetCFA(ctx)) - 8;
  }
  w->frames[w->n++] = ip;
  return w->n < w->max ? _URC_NO_REASON : _URC_END_OF_STACK;
}

}  // namespace

int CaptureContext(uintptr_t return_address, uintptr_t* frames, int max, uintptr_t* slots) {
  if (max <= 1) {
    frames[0] = return_address;
    return 1;
  }
  Walk w{return_address, frames, max, 0, 0, slots};
  _Unwind_Backtrace(OnFrame, &w);
  if (w.n == 0) {
    frames[0] = return_address;
    return 1;
  }
  return w.n;
}

}  // namespace callsite
}  // namespace hakmem
