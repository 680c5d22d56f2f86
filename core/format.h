// A tiny formatter into a caller's buffer. printf-family functions may allocate (locale,
// wide streams); code that runs inside malloc uses this instead. Truncates, never fails.
#ifndef HAKMEM_CORE_FORMAT_H_
#define HAKMEM_CORE_FORMAT_H_

#include <stddef.h>
#include <stdint.h>

namespace hakmem {

class Formatter {
 public:
  Formatter(char* buf, size_t cap) : buf_(buf), cap_(cap), len_(0) {
    if (cap_ > 0) buf_[0] = '\0';
  }
  Formatter& Str(const char* s) {
    while (*s != '\0') Put(*s++);
    return *this;
  }
  Formatter& Int(int64_t v) {
    if (v < 0) {
      Put('-');
      return Uint(static_cast<uint64_t>(-(v + 1)) + 1);
    }
    return Uint(static_cast<uint64_t>(v));
  }
  Formatter& Uint(uint64_t v) {
    char tmp[24];
    int n = 0;
    do {
      tmp[n++] = static_cast<char>('0' + v % 10);
      v /= 10;
    } while (v != 0);
    while (n > 0) Put(tmp[--n]);
    return *this;
  }
  Formatter& Hex(uint64_t v) {
    Str("0x");
    char tmp[16];
    int n = 0;
    do {
      tmp[n++] = "0123456789abcdef"[v & 15];
      v >>= 4;
    } while (v != 0);
    while (n > 0) Put(tmp[--n]);
    return *this;
  }
  // A finite double with `decimals` digits after the point (rounded); "nan" otherwise.
  Formatter& Fixed(double v, int decimals) {
    if (!(v == v) || v > 9.2e18 || v < -9.2e18) return Str("nan");
    if (v < 0) {
      Put('-');
      v = -v;
    }
    uint64_t scale = 1;
    for (int i = 0; i < decimals; ++i) scale *= 10;
    const uint64_t x = static_cast<uint64_t>(v * static_cast<double>(scale) + 0.5);
    Uint(x / scale);
    if (decimals > 0) {
      Put('.');
      uint64_t frac = x % scale;
      for (uint64_t d = scale / 10; d > 0; d /= 10) {
        Put(static_cast<char>('0' + frac / d));
        frac %= d;
      }
    }
    return *this;
  }
  size_t size() const { return len_; }
  const char* data() const { return buf_; }

 private:
  void Put(char c) {
    if (len_ + 1 < cap_) {
      buf_[len_++] = c;
      buf_[len_] = '\0';
    }
  }
  char* buf_;
  size_t cap_;
  size_t len_;
};

}  // namespace hakmem

#endif  // HAKMEM_CORE_FORMAT_H_
