#!/bin/bash
# Checks the dynamic interface of the preload library (argument 1):
#  - it defines (exports) only the C allocation API, C++ operator new/delete and hak_*
#    names. Anything else (stray C++ template instantiations, helper functions, a
#    statically linked library's symbols) could interpose on the program's own symbols
#    or another library's when the .so is LD_PRELOADed, so it must be hidden;
#  - it needs no libprotobuf or libabsl shared object: those allocate through malloc
#    themselves and would load into every process the allocator is preloaded into;
#  - it needs libc alone and has no static constructors (both cost every process memory).
# Prints the offending symbols or libraries and exits 1 on failure.
set -u
lib="${1:?usage: exports_test.sh LIBRARY.so}"
if [[ ! -f "$lib" ]]; then
  echo "FAIL: library $lib does not exist"
  exit 1
fi

c_api='^(malloc|free|calloc|realloc|reallocarray|memalign|posix_memalign|aligned_alloc|valloc|pvalloc|malloc_usable_size)$'
# operator new / new[] / delete / delete[] and all their sized, aligned and nothrow forms.
cxx_api='^_Z(nw|na|dl|da)'
ours='^hak_'
# Fields: value type name; undefined symbols are excluded by --defined-only, and -g keeps
# only global ones: a LOCAL entry in .dynsym (the initial-exec TLS relocation of the
# thread cache needs one) binds nothing outside the library. Strip symbol versions
# (name@VER / name@@VER) before matching.
symbols=$(nm -D -g --defined-only "$lib" | awk 'NF >= 3 { print $3 }' | sed 's/@.*//' | sort -u)
if [[ -z "$symbols" ]]; then
  echo "FAIL: $lib exports no symbols at all (is it the allocator?)"
  exit 1
fi
bad=$(grep -Ev "$c_api|$cxx_api|$ours" <<<"$symbols")
status=0
if [[ -n "$bad" ]]; then
  echo "FAIL: $lib exports $(wc -l <<<"$bad") symbol(s) outside the allowed set:"
  sed 's/^/  /' <<<"$bad" | head -50
  status=1
fi

# The allocator must actually provide the core entry points, or a preload changes nothing.
for required in malloc free calloc realloc posix_memalign aligned_alloc malloc_usable_size \
                _Znwm _ZdlPv; do
  if ! grep -qx "$required" <<<"$symbols"; then
    echo "FAIL: $lib does not export $required"
    status=1
  fi
done

# Direct dependencies (NEEDED) and the full resolved closure (ldd).
needed=$(readelf -d "$lib" | awk '/\(NEEDED\)/ { gsub(/[\[\]]/, "", $NF); print $NF }')
resolved=$(ldd "$lib" 2>&1)
forbidden=$(printf '%s\n%s\n' "$needed" "$resolved" | grep -Eo 'lib(protobuf|absl)[^ ]*' | sort -u)
if [[ -n "$forbidden" ]]; then
  echo "FAIL: $lib depends on forbidden shared libraries:"
  sed 's/^/  /' <<<"$forbidden"
  status=1
fi

# libc alone: every library in NEEDED is mapped into each process the preload serves
# (libm cost about 300 KiB of peak RSS in every program, for one sqrt).
extra=$(grep -Evx 'libc\.so\.6|ld-linux-x86-64\.so\.2' <<<"$needed" || true)
if [[ -n "$extra" ]]; then
  echo "FAIL: $lib needs more than libc: $(tr '\n' ' ' <<<"$extra")"
  status=1
fi

# No static constructors: the preload's globals are constant-initialized. A dynamic
# initializer runs in every process before main and dirties what it writes (one wrote all
# 64 KiB of the route table).
ctors=$(nm "$lib" | awk '$3 ~ /^_GLOBAL__sub_I/ { print $3 }')
if [[ -n "$ctors" ]]; then
  echo "FAIL: $lib has static constructors: $(tr '\n' ' ' <<<"$ctors")"
  status=1
fi

if [[ $status -eq 0 ]]; then
  echo "PASS: $lib exports $(wc -l <<<"$symbols") allowed symbols; NEEDED: $(tr '\n' ' ' <<<"$needed")"
fi
exit $status
