// Shared helpers for the hakmem benchmarks (header-only so each bench stays one
// translation unit and BUILD rules stay trivial).
//
// Output contract, parsed by experiments/compare.py:
//   allocator: <path of the object that defines malloc>
//   ...free-form human lines...
//   result: name=<bench> key=value ... <metric>=<number>
// The "result:" line is always the last line on stdout.
#ifndef HAKMEM_EXPERIMENTS_BENCH_UTIL_H_
#define HAKMEM_EXPERIMENTS_BENCH_UTIL_H_

#include <cerrno>
#include <chrono>
#include <cinttypes>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <string>

#include "experiments/malloc_provider.h"

namespace bench {

// Benchmarks only ever receive an allocator through LD_PRELOAD, and a typo in the
// preload path makes ld.so print a warning and silently fall back to glibc. Asking
// the dynamic linker which object actually won the "malloc" symbol makes such a
// fallback visible in every run's output. (Details and a non-PIE pitfall:
// malloc_provider.h.)
inline const char* MallocProvider() { return hak_malloc_provider(); }

inline void PrintAllocator() {
  std::printf("allocator: %s\n", MallocProvider());
  std::fflush(stdout);
}

// splitmix64: one add + three xor-shift-multiplies; cheap enough that the PRNG
// does not dominate a malloc/free pair, and seedable for reproducible op streams.
struct Rng {
  uint64_t s;
  explicit Rng(uint64_t seed) : s(seed) {}
  inline uint64_t Next() {
    uint64_t z = (s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }
  // Lemire's multiply-shift: uniform enough and avoids a division per call.
  inline uint64_t Below(uint64_t n) {
    return static_cast<uint64_t>((static_cast<unsigned __int128>(Next()) * n) >> 64);
  }
};

inline double NowSec() {
  return std::chrono::duration<double>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// Minimal "--key value" / "--key=value" parser for positive integer options.
// Unknown keys and malformed values are fatal with a one-line message, because a
// silently ignored typo would produce a plausible-looking but wrong measurement.
class Args {
 public:
  Args(const char* prog, std::map<std::string, uint64_t> defaults)
      : prog_(prog), values_(std::move(defaults)) {}

  void Parse(int argc, char** argv) {
    for (int i = 1; i < argc; ++i) {
      std::string a = argv[i];
      if (a == "--help" || a == "-h") Usage(0);
      if (a.rfind("--", 0) != 0) Fail("unexpected argument '" + a + "'");
      std::string key = a.substr(2), val;
      size_t eq = key.find('=');
      if (eq != std::string::npos) {
        val = key.substr(eq + 1);
        key = key.substr(0, eq);
      } else {
        if (i + 1 >= argc) Fail("option --" + key + " needs a value");
        val = argv[++i];
      }
      auto it = values_.find(key);
      if (it == values_.end()) Fail("unknown option --" + key);
      char* end = nullptr;
      errno = 0;
      unsigned long long v = std::strtoull(val.c_str(), &end, 10);
      if (val.empty() || val[0] == '-' || *end != '\0' || errno != 0 || v == 0) {
        Fail("option --" + key + " needs a positive integer, got '" + val + "'");
      }
      it->second = v;
    }
  }

  uint64_t Get(const std::string& key) const { return values_.at(key); }

  [[noreturn]] void Fail(const std::string& msg) const {
    std::fprintf(stderr, "%s: error: %s (try --help)\n", prog_, msg.c_str());
    std::exit(2);
  }

 private:
  [[noreturn]] void Usage(int code) const {
    std::fprintf(stderr, "usage: %s", prog_);
    for (const auto& kv : values_) {
      std::fprintf(stderr, " [--%s N (default %" PRIu64 ")]", kv.first.c_str(), kv.second);
    }
    std::fprintf(stderr, "\n");
    std::exit(code);
  }

  const char* prog_;
  std::map<std::string, uint64_t> values_;
};

}  // namespace bench

#endif  // HAKMEM_EXPERIMENTS_BENCH_UTIL_H_
