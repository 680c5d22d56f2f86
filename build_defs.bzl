"""Build settings shared by hakmem's layers."""

# Every library that is linked into the preloaded allocator: nothing but the allocation
# API may be visible outside it, TLS must be initial-exec (the fast path), and there are
# no exceptions or RTTI (nothing in it throws; operator new calls libstdc++'s thrower).
ALLOCATOR_COPTS = [
    "-fno-plt",
    "-fvisibility=hidden",
    "-fvisibility-inlines-hidden",
    "-ftls-model=initial-exec",
    "-fno-exceptions",
    "-fno-rtti",
]

def hakmem_cc_test(name, srcs, deps, env = {}, args = [], size = "small"):
    """A GoogleTest binary linked statically (the libraries hide their symbols)."""
    native.cc_test(
        name = name,
        size = size,
        srcs = srcs,
        args = args,
        env = env,
        linkstatic = True,
        deps = deps + ["//third_party:gtest_main"],
    )
