#ifndef HAKMEM_CORE_VERSION_H_
#define HAKMEM_CORE_VERSION_H_

namespace hakmem {
inline constexpr const char kVersion[] = "0.1.0";
}  // namespace hakmem

#endif  // HAKMEM_CORE_VERSION_H_
