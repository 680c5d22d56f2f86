#!/bin/bash
# The wheel //py:wheel builds installs with pip into an empty directory, and `import
# hakmem` works from there with nothing else on the path (no workspace, no bazel-bin).
set -euo pipefail
wheel=$(realpath "$1")
dir=$(mktemp -d "${TEST_TMPDIR:-/tmp}/wheel.XXXXXX")
/usr/bin/python3 -m pip install --quiet --root-user-action=ignore --no-deps --no-index --target "$dir/site" "$wheel"
cd "$dir"
out=$(env -i PATH=/usr/bin:/bin PYTHONPATH="$dir/site" /usr/bin/python3 -c '
import hakmem, os
assert os.path.dirname(hakmem.__file__) == os.path.join(os.environ["PYTHONPATH"], "hakmem"), hakmem.__file__
try:
    hakmem.load("missing.pb")
except hakmem.FileError as e:
    print("FileError:", e)
print(sorted(n for n in hakmem.__all__))
')
echo "$out"
grep -q "FileError: missing.pb: No such file or directory" <<<"$out"
grep -q "'Engine'" <<<"$out"
echo PASS
