#include "learner/fault_cost.h"

#include "core/os.h"

namespace hakmem {
namespace learner {
namespace {

double Median3(double a, double b, double c) {
  if (a > b) { const double x = a; a = b; b = x; }
  if (b > c) { const double x = b; b = c; c = x; }
  if (a > b) { const double x = a; a = b; b = x; }
  return b;
}

// The first touch of each 4 KiB page of one huge page, per page (one fault, then hits).
double MeasureHugeFault() {
  constexpr size_t kPage = 4096;
  constexpr size_t kPages = os::kHugePageBytes / kPage;
  double per_page[3];
  for (int t = 0; t < 3; ++t) {
    volatile char* p = static_cast<volatile char*>(os::MapAligned(os::kHugePageBytes, 0, true));
    if (p == nullptr) return 0;  // then fault_ns prices every page
    const uint64_t t0 = os::NowNs();
    for (size_t i = 0; i < kPages; ++i) p[i * kPage] = 1;
    const uint64_t t1 = os::NowNs();
    per_page[t] = static_cast<double>(t1 - t0) / kPages;
    os::Unmap(const_cast<char*>(p), os::kHugePageBytes);
  }
  return Median3(per_page[0], per_page[1], per_page[2]);
}

}  // namespace

OsCosts MeasureOsCosts(bool huge_pages) {
  constexpr int kPages = 64;
  constexpr size_t kPage = 4096;
  double fault[3], map[3], unmap_touched[3], unmap_untouched[3];
  for (int t = 0; t < 3; ++t) {
    uint64_t t0 = os::NowNs();
    volatile char* p = static_cast<volatile char*>(os::Map(kPages * kPage));
    uint64_t t1 = os::NowNs();
    // Cannot measure: figures of a typical bare-metal machine.
    if (p == nullptr) return OsCosts{1000, 2000, 2000, 100};
    map[t] = static_cast<double>(t1 - t0);
    t0 = os::NowNs();
    for (int i = 0; i < kPages; ++i) p[i * kPage] = 1;
    t1 = os::NowNs();
    fault[t] = static_cast<double>(t1 - t0) / kPages;
    t0 = os::NowNs();
    os::Unmap(const_cast<char*>(p), kPages * kPage);
    t1 = os::NowNs();
    unmap_touched[t] = static_cast<double>(t1 - t0);
    void* q = os::Map(kPages * kPage);
    t0 = os::NowNs();
    if (q != nullptr) os::Unmap(q, kPages * kPage);
    t1 = os::NowNs();
    unmap_untouched[t] = static_cast<double>(t1 - t0);
  }
  OsCosts c;
  c.fault_ns = Median3(fault[0], fault[1], fault[2]);
  c.map_call_ns = Median3(map[0], map[1], map[2]);
  c.unmap_call_ns = Median3(unmap_untouched[0], unmap_untouched[1], unmap_untouched[2]);
  const double per_page =
      (Median3(unmap_touched[0], unmap_touched[1], unmap_touched[2]) - c.unmap_call_ns) / kPages;
  c.unmap_page_ns = per_page > 0 ? per_page : 0;
  c.huge_fault_ns = huge_pages ? MeasureHugeFault() : 0;
  return c;
}

}  // namespace learner
}  // namespace hakmem
