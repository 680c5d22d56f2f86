/* Which loaded object serves "malloc"? Shared by bench_util.h (C++) and the
 * which_malloc.c probe (C), hence plain C and static inline.
 *
 * The obvious answer, dladdr(dlsym(RTLD_DEFAULT, "malloc")), is wrong for
 * non-PIE executables that take malloc's address (e.g. Debian's /usr/bin/python3):
 * the linker gives them a "canonical PLT" stub, an undefined symbol with a
 * non-zero value, which dlsym returns so that function pointers compare equal,
 * and dladdr then names the executable. Such a stub is recognisable because the
 * symbol dladdr1 matches is undefined (st_shndx == SHN_UNDEF). In that case we walk the
 * loaded objects in load order (the global lookup order: executable, LD_PRELOAD,
 * then dependencies) and report the first one that really defines malloc.
 */
#ifndef HAKMEM_EXPERIMENTS_MALLOC_PROVIDER_H_
#define HAKMEM_EXPERIMENTS_MALLOC_PROVIDER_H_

#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif
#include <dlfcn.h>
#include <link.h>
#include <string.h>

struct hak_mp_search {
  const char* found; /* points into the link map's own strings: no allocation */
};

/* 1 if addr is the start of a symbol that its object really defines. */
static inline int hak_mp_defines(void* addr, Dl_info* di) {
  const ElfW(Sym)* es = NULL;
  return addr != NULL && dladdr1(addr, di, (void**)&es, RTLD_DL_SYMENT) != 0 &&
         di->dli_fname != NULL && di->dli_saddr == addr && es != NULL &&
         es->st_shndx != SHN_UNDEF;
}

static int hak_mp_visit(struct dl_phdr_info* info, size_t size, void* data) {
  struct hak_mp_search* s = (struct hak_mp_search*)data;
  (void)size;
  if (s->found != NULL || info->dlpi_name == NULL || info->dlpi_name[0] == '\0') {
    return s->found != NULL; /* skip the executable (empty name) */
  }
  void* h = dlopen(info->dlpi_name, RTLD_LAZY | RTLD_NOLOAD);
  if (h == NULL) return 0;
  void* sym = dlsym(h, "malloc");
  Dl_info di;
  if (hak_mp_defines(sym, &di) && strcmp(di.dli_fname, info->dlpi_name) == 0) {
    s->found = info->dlpi_name;
  }
  dlclose(h);
  return s->found != NULL;
}

static inline const char* hak_malloc_provider(void) {
  void* sym = dlsym(RTLD_DEFAULT, "malloc");
  Dl_info di;
  if (hak_mp_defines(sym, &di)) {
    return di.dli_fname; /* a real definition */
  }
  struct hak_mp_search s = {NULL};
  dl_iterate_phdr(hak_mp_visit, &s);
  return s.found != NULL ? s.found : "unknown";
}

#endif /* HAKMEM_EXPERIMENTS_MALLOC_PROVIDER_H_ */
