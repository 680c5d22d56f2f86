#include "callsite/unwind.h"

#include <dlfcn.h>
#include <link.h>
#include <unistd.h>
#include <unwind.h>

#include <atomic>

#include "callsite/module_map.h"

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
  // unwind_internal::tl_left_runtime of the capture this one interrupted (a signal
  // handler's malloc), restored when this one ends.
  bool outer_left_runtime;
};

std::atomic<bool> g_runtime_ready{false};

void FindRange(const void* in, int i) {
  struct dl_find_object d;
  if (_dl_find_object(const_cast<void*>(in), &d) != 0 || d.dlfo_link_map == nullptr) return;
  const char* name = d.dlfo_link_map->l_name;
  if (name == nullptr || !IsRuntimePath(name)) return;
  unwind_internal::g_runtime_start[i] = reinterpret_cast<uintptr_t>(d.dlfo_map_start);
  unwind_internal::g_runtime_size[i] =
      reinterpret_cast<uintptr_t>(d.dlfo_map_end) - unwind_internal::g_runtime_start[i];
}

// getpid is libc's and _dl_find_object the loader's. Should either be interposed or named
// otherwise, its range stays empty: the walks then go on past the entry, as without the
// stop. Two threads may both get here; they write the same values. Out of line, so the
// capture's frame stays small: every unwind runs its frame's CFA program.
__attribute__((noinline, cold)) void FindRuntimeRanges() {
  FindRange(reinterpret_cast<const void*>(&getpid), 0);
  FindRange(reinterpret_cast<const void*>(&_dl_find_object), 1);
  g_runtime_ready.store(true, std::memory_order_release);
}

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
  if (!unwind_internal::tl_left_runtime && !InRuntime(ip - 1)) {
    unwind_internal::tl_left_runtime = true;
  }
  return w->n < w->max ? _URC_NO_REASON : _URC_END_OF_STACK;
}

}  // namespace

namespace unwind_internal {
uintptr_t g_runtime_start[2];
uintptr_t g_runtime_size[2];
__thread bool tl_left_runtime __attribute__((tls_model("initial-exec")));
}  // namespace unwind_internal

int CaptureContext(uintptr_t return_address, uintptr_t* frames, int max, uintptr_t* slots) {
  if (max <= 1) {
    frames[0] = return_address;
    return 1;
  }
  if (!g_runtime_ready.load(std::memory_order_acquire)) FindRuntimeRanges();
  Walk w{return_address, frames, max, 0, 0, slots, unwind_internal::tl_left_runtime};
  unwind_internal::tl_left_runtime = false;
  _Unwind_Backtrace(OnFrame, &w);
  unwind_internal::tl_left_runtime = w.outer_left_runtime;
  if (w.n == 0) {
    frames[0] = return_address;
    return 1;
  }
  return w.n;
}

}  // namespace callsite
}  // namespace hakmem
