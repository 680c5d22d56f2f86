#include "core/size_class.h"

namespace hakmem {

int AlignedSizeToClass(size_t size, size_t align) {
  if (size < align) size = align;
  if (size > kMaxSmallSize) return 0;
  // Every power of two from 16 to kMaxSmallSize is a class, so this ends at the latest
  // on the class of the next power of two.
  for (int c = SizeToClass(size); c < kNumClasses; ++c) {
    if (ClassSize(c) % align == 0) return c;
  }
  return 0;
}

}  // namespace hakmem
