#include "callsite/context.h"

#include <string.h>

#include <atomic>

#include "callsite/ordered_index.h"
#include "callsite/unwind.h"
#include "core/base.h"
#include "core/options.h"
#include "core/os.h"
#include "core/profile_hooks.h"

namespace hakmem {
namespace callsite {
namespace {

// Requests at a new return address that are unwound before it may be called single:
// enough that a wrapper used from two places in a loop shows both, few enough that a
// routed site pays it once: about 3 us (0.8 us an unwind at depth 4), once per return
// address.
constexpr int kObserveCalls = 4;
// Re-checks of a single return address: the first after kMinVerifyGap cached requests
// (of this thread), then twice as far apart after each check that saw the same context.
// At the largest gap an unwind (~1 us) costs a nanosecond per request. A caller that
// comes at another stack depth is unwound at once (kSeenCalls); only one at the very same
// depth waits for a re-check, so the gap bounds what it can be mistaken for.
constexpr uint32_t kMinVerifyGap = 64;
constexpr uint32_t kMaxVerifyGap = 1u << 10;
// Per thread: the (return address, stack frame) pairs last verified, direct-mapped.
constexpr int kSeenCalls = 16;

constexpr int kRootBits = 13;
constexpr uint32_t kMaxRoots = 1u << kRootBits;
constexpr int kContextBits = 13;
constexpr uint32_t kMaxContexts = 1u << kContextBits;
static_assert(kMaxRoots <= 0xffff && kMaxContexts <= 0xffff, "the indexes hold 16-bit ids");
constexpr int kMaxProbes = 64;
constexpr int kDroppedBits = 1 << 16;

enum RootState : int { kObserving = 0, kSingle = 1, kMulti = 2 };

// A return address of the program's allocation calls, and what is known of its contexts.
struct Root {
  std::atomic<uintptr_t> address;  // 0: free slot
  std::atomic<int> state;
  std::atomic<int> observed;              // requests seen with `key` while observing
  std::atomic<uintptr_t> key;             // the first context seen (single: the only one)
  std::atomic<const Context*> context;    // its record, when interned
  std::atomic<uint32_t> gap;              // cached requests before the next re-check
};

struct ContextSlot {
  std::atomic<uint64_t> hash;  // of the addresses; 0: free slot
  std::atomic<int> ready;      // ctx is filled in
  Context ctx;
};

// The tables, in one mapping of their own (zeroed: every slot free, every root
// observing). Set up lock-free by the first thread that needs them, so that no lock can
// be left held across fork(): a thread that loses the race unmaps its copy.
struct Tables {
  // Roots, like the contexts below, sit in the order they come behind an index by the
  // address's hash (ordered_index.h). Placed by hash, each of a program's first few
  // hundred call sites had a page of its own (48 bytes a root, 384 KiB of table:
  // espresso had most of it resident).
  std::atomic<uint16_t> root_index[kMaxRoots];
  std::atomic<uint32_t> num_roots;  // records handed out (some a race left unused)
  Root roots[kMaxRoots];
  // The open-addressed index of contexts by their addresses' hash: a slot holds the id
  // of a record in `contexts` (0: free). Records are handed out in order, so a program
  // with n contexts touches n records (416 bytes each), not n pages as when records sat
  // where the hash put them (espresso: about 0.5 MiB of its peak RSS). Readers visit
  // records 1..num_filled, never 8192 slots of mostly untouched memory: a scan of the
  // whole table costs a page fault per 4 KiB the first time (measured at a telemetry
  // write: most of its time).
  std::atomic<uint16_t> index[kMaxContexts];
  std::atomic<uint32_t> num_filled;  // records handed out (some a race left unused)
  ContextSlot contexts[kMaxContexts];
  std::atomic<uint64_t> dropped_seen[kDroppedBits / 64];
};

std::atomic<Tables*> g_tables{nullptr};

std::atomic<uint64_t> g_unwinds{0};
std::atomic<uint64_t> g_dropped{0};

// Cached requests left before this thread re-checks a single return address.
__thread uint32_t tl_verify_left __attribute__((tls_model("initial-exec")));
// The return address this thread looked up last and its root: a program allocating in a
// loop asks for the same one again and again.
__thread uintptr_t tl_root_address __attribute__((tls_model("initial-exec")));
__thread Root* tl_root __attribute__((tls_model("initial-exec")));
// Calls of single return addresses that this thread has seen unwound to their one context,
// by where the call kept its return address (tl_call_frame), with where each frame of
// the context kept its return address, relative to that. A caller at another stack depth
// misses at once; one at the same depth has put another return address in one of those
// slots. Each slot is read only after the one below it matched: the frame holding it is
// then the same function at the same instruction and stack depth, so the slot is a live
// word of this thread's stack, as it was when it was seen. (A program that frees a
// coroutine's stack and calls malloc at exactly the same address on a smaller one would
// break this; the offsets are bounded to keep such a read near the frame.)
struct SeenCall {
  uintptr_t address;
  uintptr_t frame;
  int frames;                                  // the context's captured frames; 0: none
  uint16_t offset[kMaxContextDepth];           // offset[i]: frames[i]'s slot - frame
};
constexpr uintptr_t kMaxSlotOffset = 0xffff;
__thread SeenCall tl_seen[kSeenCalls] __attribute__((tls_model("initial-exec")));
inline SeenCall& Seen(uintptr_t address) { return tl_seen[(address >> 2) & (kSeenCalls - 1)]; }
// The context this thread looked up last: the site table asks for it right after.
__thread const Context* tl_last_context __attribute__((tls_model("initial-exec")));

inline uint64_t Mix(uint64_t h) {
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdull;
  h ^= h >> 33;
  h *= 0xc4ceb9fe1a85ec53ull;
  h ^= h >> 33;
  return h;
}

uint64_t HashAddresses(const uintptr_t* a, int n) {
  uint64_t h = static_cast<uint64_t>(n);
  for (int i = 0; i < n; ++i) h = Mix(h ^ a[i]) + 0x9E3779B97F4A7C15ull;
  return h != 0 ? h : 1;
}

Tables* GetTables() {
  Tables* t = g_tables.load(std::memory_order_acquire);
  if (t != nullptr) return t;
  auto* fresh = static_cast<Tables*>(os::Map(sizeof(Tables)));
  if (fresh == nullptr) return nullptr;
  if (g_tables.compare_exchange_strong(t, fresh, std::memory_order_acq_rel)) return fresh;
  os::Unmap(fresh, sizeof(Tables));
  return t;
}

Root* FindOrInsertRoot(Tables* t, uintptr_t address) {
  const Found f = FindOrInsertOrdered(
      t->root_index, kMaxRoots - 1, &t->num_roots, kMaxRoots, Mix(address), kMaxProbes,
      [&](uint32_t id) { t->roots[id - 1].address.store(address, std::memory_order_relaxed); },
      [&](uint32_t id) {
        return t->roots[id - 1].address.load(std::memory_order_relaxed) == address ? Match::kYes
                                                                                    : Match::kNo;
      });
  return f.id != 0 ? &t->roots[f.id - 1] : nullptr;  // full: this address is unwound every time
}

// Fills `ctx` for the addresses: each frame's module and offset (one dl_iterate_phdr
// walk a frame, once per new context), and the key.
void ResolveContext(const uintptr_t* a, int n, Context* ctx) {
  ctx->captured = n;
  ctx->depth = n;
  bool left_runtime = false;
  for (int i = 0; i < n; ++i) {
    ctx->address[i] = a[i];
    ctx->code[i] = ResolveAddress(a[i]);
    const Module* m = GetModule(ctx->code[i].module);
    const bool runtime = m != nullptr && m->runtime;
    if (runtime && left_runtime && ctx->depth == n) ctx->depth = i;  // an entry point
    left_runtime = left_runtime || !runtime;
  }
  FrameKey keys[kMaxContextDepth];
  ContextFrameKeys(*ctx, keys);
  ctx->key = ContextKeyOf(keys, ctx->depth);
}

bool SameAddresses(const Context& ctx, const uintptr_t* a, int n) {
  return ctx.captured == n &&
         memcmp(ctx.address, a, sizeof(uintptr_t) * static_cast<size_t>(n)) == 0;
}

// The interned context with these addresses (inserted if new); nullptr when the table
// is full or the record is being filled by a thread that a fork() left behind.
const Context* Intern(Tables* t, const uintptr_t* a, int n) {
  const uint64_t h = HashAddresses(a, n);
  const Found f = FindOrInsertOrdered(
      t->index, kMaxContexts - 1, &t->num_filled, kMaxContexts, h, kMaxProbes,
      [&](uint32_t id) { t->contexts[id - 1].hash.store(h, std::memory_order_relaxed); },
      [&](uint32_t id) {
        const ContextSlot& s = t->contexts[id - 1];
        if (s.hash.load(std::memory_order_relaxed) != h) return Match::kNo;
        // Another thread may still be filling it: resolution takes microseconds.
        for (int spin = 0; spin < 1 << 20 && s.ready.load(std::memory_order_acquire) == 0; ++spin) {
        }
        if (s.ready.load(std::memory_order_acquire) == 0) return Match::kGiveUp;
        return SameAddresses(s.ctx, a, n) ? Match::kYes : Match::kNo;
      });
  if (f.id == 0) return nullptr;
  ContextSlot& s = t->contexts[f.id - 1];
  if (f.inserted) {
    ResolveContext(a, n, &s.ctx);
    s.ready.store(1, std::memory_order_release);
  }
  return &s.ctx;
}

// A context that found no slot shares the overflow key; distinct ones are counted.
uintptr_t OverflowKey(Tables* t, const uintptr_t* a, int n) {
  const uint64_t h = HashAddresses(a, n);
  const uint64_t bit = (h >> 20) & (kDroppedBits - 1);
  const uint64_t mask = uint64_t{1} << (bit & 63);
  if ((t->dropped_seen[bit >> 6].fetch_or(mask, std::memory_order_relaxed) & mask) == 0) {
    g_dropped.fetch_add(1, std::memory_order_relaxed);
  }
  return kOverflowContextKey;
}

int Depth() {
  const int64_t d = GetOption(Option::kContextDepth);
  return d < 1 ? 1 : d > kMaxContextDepth ? kMaxContextDepth : static_cast<int>(d);
}

// What a request at root `r` (in state `state`) saw: its context's key.
void Observe(Root* r, int state, uintptr_t key, const Context* ctx, int depth) {
  if (state == kMulti) return;
  if (state == kSingle) {
    if (key == r->key.load(std::memory_order_relaxed)) {
      uint32_t gap = r->gap.load(std::memory_order_relaxed);
      gap = gap * 2 > kMaxVerifyGap ? kMaxVerifyGap : gap * 2;
      r->gap.store(gap, std::memory_order_relaxed);
      tl_verify_left = gap;
    } else {
      r->state.store(kMulti, std::memory_order_release);
    }
    return;
  }
  uintptr_t first = 0;
  if (r->key.compare_exchange_strong(first, key, std::memory_order_acq_rel)) {
    r->context.store(ctx, std::memory_order_relaxed);
    first = key;
  }
  if (first != key) {
    r->state.store(kMulti, std::memory_order_release);
    return;
  }
  // Depth 1 needs no unwinding, so no observation either.
  const int seen = r->observed.fetch_add(1, std::memory_order_relaxed) + 1;
  if (depth == 1 || seen >= kObserveCalls) {
    if (r->context.load(std::memory_order_relaxed) == nullptr) r->context.store(ctx, std::memory_order_relaxed);
    r->gap.store(kMinVerifyGap, std::memory_order_relaxed);
    int expected = kObserving;
    r->state.compare_exchange_strong(expected, kSingle, std::memory_order_acq_rel);
    tl_verify_left = kMinVerifyGap;
  }
}

}  // namespace

uintptr_t ContextKeyOf(const FrameKey* frames, int n) {
  // FNV-1a over (module identity, NUL, offset as 8 little-endian bytes) per frame. The
  // basis and order must never change: frozen tables store nothing else to match by.
  uint64_t h = 14695981039346656037ull;
  auto byte = [&h](unsigned char c) { h = (h ^ c) * 1099511628211ull; };
  for (int i = 0; i < n; ++i) {
    const char* id = frames[i].build_id != nullptr && frames[i].build_id[0] != '\0'
                         ? frames[i].build_id
                         : (frames[i].path != nullptr ? frames[i].path : "");
    for (const char* p = id; *p != '\0'; ++p) byte(static_cast<unsigned char>(*p));
    byte(0);
    for (int b = 0; b < 8; ++b) byte(static_cast<unsigned char>(frames[i].offset >> (8 * b)));
  }
  const uintptr_t key = kContextBit | (h >> 2);
  return key == kOverflowContextKey ? key + 1 : key;
}

int ContextFrameKeys(const Context& ctx, FrameKey* out) {
  for (int i = 0; i < ctx.depth; ++i) {
    const Module* m = GetModule(ctx.code[i].module);
    out[i] = FrameKey{m != nullptr ? m->build_id : "", m != nullptr ? m->path : "",
                      ctx.code[i].offset};
  }
  return ctx.depth;
}

namespace {

// A return address seen for the first time, or one whose context must be unwound.
HAK_NOINLINE uintptr_t KeyByUnwinding(Tables* t, uintptr_t return_address, Root* r, int state) {
  const int depth = Depth();
  uintptr_t frames[kMaxContextDepth];
  int n = 1;
  frames[0] = return_address;
  uintptr_t slots[kMaxContextDepth];
  if (depth > 1) {
    n = CaptureContext(return_address, frames, depth, slots);
    g_unwinds.fetch_add(1, std::memory_order_relaxed);
  }
  const Context* ctx = Intern(t, frames, n);
  const uintptr_t key = ctx != nullptr ? ctx->key : OverflowKey(t, frames, n);
  tl_last_context = ctx;
  if (r == nullptr) return key;
  Observe(r, state, key, ctx, depth);
  // Remember the call as verified if its return address now has this one context.
  if (ctx != nullptr && r->state.load(std::memory_order_acquire) == kSingle &&
      key == r->key.load(std::memory_order_relaxed)) {
    SeenCall& seen = Seen(return_address);
    const uintptr_t frame = tl_call_frame;
    seen.address = return_address;
    seen.frame = frame;
    seen.frames = n;
    for (int i = 1; i < n; ++i) {
      const uintptr_t offset = slots[i] - frame;
      if (slots[i] <= frame || offset > kMaxSlotOffset) {
        seen.frames = 0;  // not recognizable without unwinding
        break;
      }
      seen.offset[i] = static_cast<uint16_t>(offset);
    }
  }
  return key;
}

// This call is one this thread verified: the same return address, stack depth and
// return address in every frame that makes the key (frames past an entry point do not).
inline bool SeenBefore(uintptr_t return_address, const Context* ctx) {
  const SeenCall& seen = Seen(return_address);
  if (seen.address != return_address || seen.frame != tl_call_frame || ctx == nullptr ||
      seen.frames < ctx->depth) {
    return false;
  }
  for (int i = 1; i < ctx->depth; ++i) {
    const uintptr_t slot = seen.frame + seen.offset[i];
    if (*reinterpret_cast<const uintptr_t*>(slot) != ctx->address[i]) return false;
  }
  return true;
}

}  // namespace

uintptr_t ContextKeyForAddress(uintptr_t return_address) {
  Tables* t = g_tables.load(std::memory_order_acquire);
  Root* r = tl_root;
  if (return_address != tl_root_address || r == nullptr || t == nullptr) {
    if (t == nullptr && (t = GetTables()) == nullptr) return return_address;
    r = FindOrInsertRoot(t, return_address);
    tl_root_address = return_address;
    tl_root = r;
  }
  const int state = r != nullptr ? r->state.load(std::memory_order_acquire) : kMulti;
  if (state == kSingle && tl_verify_left > 1) {
    const Context* ctx = r->context.load(std::memory_order_relaxed);
    if (SeenBefore(return_address, ctx)) {
      --tl_verify_left;
      tl_last_context = ctx;
      return r->key.load(std::memory_order_relaxed);
    }
  }
  return KeyByUnwinding(t, return_address, r, state);
}

namespace {

// Calls fn(slot) for every slot whose context is ready.
template <typename Fn>
void ForEachFilled(const Tables* t, Fn fn) {
  uint32_t n = t->num_filled.load(std::memory_order_acquire);
  if (n > kMaxContexts) n = kMaxContexts;
  for (uint32_t i = 0; i < n; ++i) {
    const ContextSlot& s = t->contexts[i];
    if (s.ready.load(std::memory_order_acquire) != 0) fn(s);  // 0: being filled, or unused
  }
}

}  // namespace

const Context* FindContext(uintptr_t key) {
  if (!IsContextKey(key) || key == kOverflowContextKey) return nullptr;
  const Context* last = tl_last_context;
  if (last != nullptr && last->key == key) return last;
  Tables* t = g_tables.load(std::memory_order_acquire);
  if (t == nullptr) return nullptr;
  const ContextSlot* found = nullptr;
  ForEachFilled(t, [&](const ContextSlot& s) {
    if (found == nullptr && s.ctx.key == key) found = &s;
  });
  return found != nullptr ? &found->ctx : nullptr;
}

int WrapperFrames(const Context& ctx) {
  Tables* t = g_tables.load(std::memory_order_acquire);
  if (t == nullptr) return 0;
  int shared = 0;
  ForEachFilled(t, [&](const ContextSlot& s) {
    // The same site may hold two slots (contexts that differ only past an entry point).
    if (s.ctx.key == ctx.key) return;
    const Context& o = s.ctx;
    int k = 0;
    while (k < ctx.depth && k < o.depth && o.address[k] == ctx.address[k]) ++k;
    if (k > shared) shared = k;
  });
  return shared < ctx.depth ? shared : ctx.depth - 1;
}

uint64_t DroppedContexts() { return g_dropped.load(std::memory_order_relaxed); }

uint64_t ContextUnwinds() { return g_unwinds.load(std::memory_order_relaxed); }

}  // namespace callsite
}  // namespace hakmem
