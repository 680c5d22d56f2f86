// exp, log and sqrt for the sampler and the learner, without libm: the preloaded library links libc alone.
// Accurate to ~1e-6 relative, far beyond what sampling intervals and weights need.
#ifndef HAKMEM_CORE_FASTMATH_H_
#define HAKMEM_CORE_FASTMATH_H_

#include <stdint.h>
#include <string.h>

namespace hakmem {

// 2^x for x in [-1022, 1023].
inline double Exp2(double x) {
  // floor without libm (__builtin_floor becomes a call to floor() without SSE4.1).
  int64_t i = static_cast<int64_t>(x);
  if (static_cast<double>(i) > x) --i;
  const double fl = static_cast<double>(i);
  const double f = x - fl;  // [0, 1)
  // Taylor series of 2^f = e^(f ln2), 9 terms: error < 1e-8 on [0, 1).
  const double y = f * 0.6931471805599453;
  double term = 1.0, sum = 1.0;
  for (int i = 1; i <= 9; ++i) {
    term *= y / i;
    sum += term;
  }
  const int64_t e = static_cast<int64_t>(fl) + 1023;
  if (e <= 0) return 0.0;
  if (e >= 2047) return __builtin_inf();
  const uint64_t bits = static_cast<uint64_t>(e) << 52;
  double scale;
  memcpy(&scale, &bits, sizeof(scale));
  return sum * scale;
}

inline double Exp(double x) { return Exp2(x * 1.4426950408889634); }

// 1 - e^-x for x >= 0, without the cancellation of computing e^-x first when x is small
// (sampling probabilities of small requests are exactly that case).
inline double OneMinusExpNeg(double x) {
  if (x >= 0.5) return 1.0 - Exp(-x);
  // x - x^2/2! + x^3/3! - ...: 20 terms reach double precision for x < 0.5.
  double term = x, sum = 0.0;
  for (int i = 1; i <= 20; ++i) {
    sum += term;
    term *= -x / (i + 1);
    if (term < 1e-18 * sum && -term < 1e-18 * sum) break;  // converged (x is often tiny)
  }
  return sum;
}

// Square root for x >= 0. sqrt() itself would link libm: with errno semantics the
// compiler keeps a call to it beside the sqrtsd instruction, and libm mapped into every
// process costs about 300 KiB of peak RSS.
inline double Sqrt(double x) {
#if defined(__x86_64__)
  double r;
  __asm__("sqrtsd %1, %0" : "=x"(r) : "x"(x));
  return r;
#else
  if (x <= 0.0) return 0.0;
  double r = x > 1.0 ? x : 1.0;  // Newton's method from above converges monotonically
  for (int i = 0; i < 64; ++i) {
    const double next = 0.5 * (r + x / r);
    if (next >= r) break;
    r = next;
  }
  return r;
#endif
}

// Natural log for x > 0.
inline double Log(double x) {
  uint64_t bits;
  memcpy(&bits, &x, sizeof(bits));
  const int e = static_cast<int>((bits >> 52) & 0x7ff) - 1023;
  bits = (bits & ((uint64_t{1} << 52) - 1)) | (uint64_t{1023} << 52);
  double m;  // [1, 2)
  memcpy(&m, &bits, sizeof(m));
  // ln(m) = 2 atanh((m-1)/(m+1)); the series converges fast since |s| <= 1/3.
  const double s = (m - 1.0) / (m + 1.0);
  const double s2 = s * s;
  double term = s, sum = 0.0;
  for (int i = 1; i <= 25; i += 2) {
    sum += term / i;
    term *= s2;
    if (term < 1e-18 && -term < 1e-18) break;
  }
  return 2.0 * sum + e * 0.6931471805599453;
}

}  // namespace hakmem

#endif  // HAKMEM_CORE_FASTMATH_H_
