// What the OS charges for memory on this machine, measured once at start-up: the cost of
// a first-touch page fault (the learner charges a fresh block's touched pages at this
// price) and of mmap/munmap calls (shadow mode's estimate of direct mapping). Faults cost
// anywhere from under a microsecond on bare metal to over 10 us on some VMs, so no
// constant would do.
#ifndef HAKMEM_LEARNER_FAULT_COST_H_
#define HAKMEM_LEARNER_FAULT_COST_H_

namespace hakmem {
namespace learner {

struct OsCosts {
  double fault_ns;        // one first-touch fault
  double map_call_ns;     // one mmap of fresh memory
  double unmap_call_ns;   // one munmap of untouched memory
  double unmap_page_ns;   // munmap's extra cost per resident page
  // A first touch per 4 KiB page in a huge-page mapping (one fault zeroes 2 MiB): what
  // blocks of core's kHugeBlockBytes and up cost per touched page where they get huge
  // pages (HAKMEM_HUGE_PAGES); 0 where they do not, and fault_ns prices every page.
  double huge_fault_ns = 0;
};

// Maps 64 pages, touches each once, unmaps (and once more without touching); the median
// of 3 tries of each figure. About 64 faults' worth of time (0.1-1 ms), so only learning
// processes pay it. With `huge_pages`, also touches a 2 MiB huge-page mapping 3 times
// (about as long again: 3 faults that each zero 2 MiB).
OsCosts MeasureOsCosts(bool huge_pages);

}  // namespace learner
}  // namespace hakmem

#endif  // HAKMEM_LEARNER_FAULT_COST_H_
