"""Build settings shared by hakmem's layers."""

# Every library that is linked into the preloaded allocator: nothing but the allocation
# API may be visible outside it, TLS must be initial-exec (the fast path), and there are
# no exceptions or RTTI (nothing in it throws; operator new calls libstdc++'s thrower).
ALLOCATOR_COPTS = [
    "-fno-plt",
    "-fvisibility=hidden",
    "-fvisibility-inlines-hidden",
    "-ftls-model=initial-exec",
    "-ffunction-sections",  # lets the preload's link order its hot functions (core/BUILD.bazel)
    "-fno-exceptions",
    "-fno-rtti",
]

# Tags of tests that the sanitizer configs in .bazelrc leave out (README.md, "Sanitizers
# and fuzzing"). A test that links //core:hakmem_static has hakmem's malloc, which cannot
# stand in for ASan's or TSan's (their runtimes must own malloc); UBSan has no malloc.
REPLACES_MALLOC = ["no_asan", "no_tsan"]

# A test that runs programs under the LD_PRELOAD library (//core:libhakmem.so) or loads
# the Python extension into /usr/bin/python3: a sanitized build of either would need the
# sanitizer's runtime in a process that was not built with it. Every sanitizer leaves
# these out; tools/valgrind.sh runs some of them under memcheck instead.
WHOLE_PROCESS = ["whole_process"]

def hakmem_cc_test(name, srcs, deps, env = {}, args = [], data = [], size = "small", tags = []):
    """A GoogleTest binary linked statically (the libraries hide their symbols)."""
    native.cc_test(
        name = name,
        size = size,
        tags = tags,
        srcs = srcs,
        args = args,
        data = data,
        env = env,
        linkstatic = True,
        deps = deps + ["//third_party:gtest_main"],
    )

def hakmem_fuzz_test(name, srcs, deps, corpus, copts = [], tags = [], size = "small"):
    """A libFuzzer target that is also a test of its corpus.

    `name` defines LLVMFuzzerTestOneInput. Built with --config=fuzz or --config=fuzz_alloc
    (tools/fuzz.sh does it) it links libFuzzer and fuzzes; in every other build it links
    //core:fuzz_main, and as a test it runs each file in `corpus` (a folder beside the
    BUILD file: the seeds, and every input that once found a bug) through the entry point
    once, so a fixed bug stays fixed under gcc and each sanitizer config."""
    files = native.glob([corpus + "/*"])
    native.cc_test(
        name = name,
        size = size,
        srcs = srcs,
        copts = copts,
        args = ["$(rootpath %s)" % f for f in files],
        data = files,
        linkstatic = True,
        linkopts = select({
            "//:fuzzing": ["-fsanitize=fuzzer"],
            "//conditions:default": [],
        }),
        tags = tags,
        deps = deps + select({
            "//:fuzzing": [],
            "//conditions:default": ["//core:fuzz_main"],
        }),
    )

def nanopb_library(name, proto, imports = [], deps = []):
    """C structs and field tables for `proto` from Debian's nanopb generator, with the
    runtime (//third_party:nanopb): protobuf without malloc, for the preloaded library.
    Generator options are read from the .options file beside the .proto (if any).
    `imports`: the .proto files it imports (whose nanopb_library goes in `deps`)."""
    base = proto[:-len(".proto")]
    options = native.glob([base + ".options"])
    pkg = native.package_name()
    native.genrule(
        name = name + "_gen",
        srcs = [proto] + options + imports,
        # .nanopb.h, not .pb.h: libprotobuf's generated C++ for the same proto owns that.
        outs = [base + ".nanopb.h", base + ".nanopb.c"],
        # -I. with the proto named from the workspace root, so includes of other
        # generated headers read "learner/x.pb.h" as in the sources.
        cmd = "/usr/bin/nanopb_generator.py -q -e .nanopb -I. -D $(GENDIR) " + pkg + "/" + proto,
    )
    native.cc_library(
        name = name,
        srcs = [base + ".nanopb.c"],
        hdrs = [base + ".nanopb.h"],
        copts = ["-fvisibility=hidden"],
        linkstatic = True,
        deps = deps + ["//third_party:nanopb"],
    )

def py_proto_module(name, proto, imports = [], deps = []):
    """`<base>_pb2.py` from `proto` with Debian's protoc, generated from the workspace root
    (so the descriptor is named "<package>/<base>.proto", as in C++), as a py_library for
    Debian's python3-protobuf. `imports`: the .proto files it imports (whose
    py_proto_module goes in `deps`)."""
    base = proto[:-len(".proto")]
    native.genrule(
        name = name + "_pb2",
        srcs = [proto] + imports,
        outs = [base + "_pb2.py"],
        cmd = "$(location @com_google_protobuf//:protoc) --proto_path=. " +
              "--python_out=$(GENDIR) $(location " + proto + ")",
        tools = ["@com_google_protobuf//:protoc"],
    )
    native.py_library(
        name = name,
        srcs = [":" + name + "_pb2"],
        deps = deps,
    )
