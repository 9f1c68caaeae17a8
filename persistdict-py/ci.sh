#!/usr/bin/env bash
# The Python half of CI (called by .ci/run after the Rust steps; runnable alone):
#   1. a venv in a temp dir with maturin, pytest and dill;
#   2. the binding built as a wheel (debug profile: the Rust tests already built most of it)
#      and installed into the venv;
#   3. the original PersistDict 0.2.14 sdist downloaded from PyPI and unpacked in the temp dir,
#      and its own tests/test_persistdict.py run, unmodified, against the binding through an
#      import shim (PersistDict/__init__.py re-exporting persistdict.PersistDict). Its
#      test_concurrent_operations is racy (a check-then-read race between threads: it fails
#      against the original too) and runs apart, reported but not failing CI;
#   4. our own suite, persistdict-py/tests (with the original installed into a separate
#      directory for the import_v02 test).
# The original's files stay in the temp dir: never copy them into this repository (AGPL).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
python="${PYTHON:-python3}"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

"$python" -m venv "$tmp/venv"
py="$tmp/venv/bin/python"
"$py" -m pip install -q --disable-pip-version-check maturin pytest dill

"$tmp/venv/bin/maturin" build -q -m "$here/Cargo.toml" --interpreter "$py" --out "$tmp/wheels"
"$py" -m pip install -q --disable-pip-version-check --no-deps "$tmp"/wheels/*.whl

"$py" -m pip download -q --disable-pip-version-check --no-deps --no-binary :all: PersistDict==0.2.14 -d "$tmp/sdist"
mkdir "$tmp/original"
tar xf "$tmp"/sdist/*.tar.gz -C "$tmp/original" --strip-components=1
mkdir -p "$tmp/suite/PersistDict"
cp -r "$tmp/original/tests" "$tmp/suite/"
printf 'from persistdict import PersistDict\n\n__all__ = ["PersistDict"]\n' > "$tmp/suite/PersistDict/__init__.py"

echo "== the original PersistDict's own tests, against the binding"
racy=tests/test_persistdict.py::test_concurrent_operations
(cd "$tmp/suite" && "$py" -m pytest -q -p no:cacheprovider tests/test_persistdict.py --deselect "$racy" 2>&1 \
    | grep -v '^PersistDict\[' | tail -n 5; exit "${PIPESTATUS[0]}")
echo "== $racy (racy in the original too; informational)"
if (cd "$tmp/suite" && "$py" -m pytest -q -p no:cacheprovider "$racy" >"$tmp/racy.log" 2>&1); then
    echo "passed this time"
else
    echo "failed, as it does against the original: $(grep -c 'Error in thread' "$tmp/racy.log") check-then-read KeyErrors"
fi

echo "== persistdict-py/tests"
"$py" -m pip install -q --disable-pip-version-check --target "$tmp/original-pkg" "$tmp/original"
(cd "$tmp" && PERSISTDICT_ORIGINAL_PATH="$tmp/original-pkg" "$py" -m pytest -q -p no:cacheprovider "$here/tests")
