"""Builds the `hakmem` wheel from the package's files (Bazel runs this: //py:wheel).

    make_wheel.py OUT.whl VERSION FILE...

Each FILE is a path ending in hakmem/<name> (the sources and the compiled _native.so);
they go into the wheel's hakmem/ directory, with the .dist-info that pip needs (METADATA,
WHEEL, RECORD with sha256 digests). The wheel's tag must name this interpreter (the
extension is built for Debian's python3), and it is checked here.
"""
import base64
import hashlib
import os
import sys
import sysconfig
import zipfile


def digest(data):
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def main(argv):
    if len(argv) < 4:
        sys.exit("usage: make_wheel.py OUT.whl VERSION FILE...")
    out, version, files = argv[1], argv[2], argv[3:]
    name, ver, py, abi, platform = os.path.basename(out)[:-len(".whl")].split("-")
    here = "cp%d%d" % sys.version_info[:2]
    if py != here or abi != here or platform != sysconfig.get_platform().replace("-", "_").replace(".", "_"):
        sys.exit("make_wheel.py: %s is not a wheel for this interpreter (%s, %s)"
                 % (os.path.basename(out), here, sysconfig.get_platform()))
    dist = "%s-%s.dist-info" % (name, version)
    entries = []
    for path in files:
        parts = path.split("/")
        if "hakmem" not in parts:
            sys.exit("make_wheel.py: %s is not in a hakmem/ directory" % path)
        with open(path, "rb") as f:
            entries.append(("hakmem/" + parts[-1], f.read()))
    entries.append((dist + "/METADATA", (
        "Metadata-Version: 2.1\nName: %s\nVersion: %s\n"
        "Summary: hakmem's telemetry, frozen tables and replay engine as pandas DataFrames\n"
        "Requires-Python: ==%d.%d.*\nRequires-Dist: numpy\nRequires-Dist: pandas\n"
        % (name, version, *sys.version_info[:2])).encode()))
    entries.append((dist + "/WHEEL", (
        "Wheel-Version: 1.0\nGenerator: hakmem make_wheel.py\nRoot-Is-Purelib: false\n"
        "Tag: %s-%s-%s\n" % (py, abi, platform)).encode()))
    record = "".join("%s,%s,%d\n" % (n, digest(d), len(d)) for n, d in entries)
    record += dist + "/RECORD,,\n"
    entries.append((dist + "/RECORD", record.encode()))
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        for n, d in entries:
            info = zipfile.ZipInfo(n, date_time=(2020, 1, 1, 0, 0, 0))  # reproducible
            info.external_attr = (0o755 if n.endswith(".so") else 0o644) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            z.writestr(info, d)


if __name__ == "__main__":
    main(sys.argv)
