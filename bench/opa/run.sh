#!/usr/bin/env bash
# Times the Open Policy Agent Go engine on bench/opa/runtime.rego (the Rego
# translation of policies/runtime.cedar), for crates/policy/benches/decide.rs.
#
# The `opa` binary itself is not on a package registry this project reaches;
# the Go engine is, compiled as a C shared library inside the PyPI wheel
# opa-golib-python-bindings (its rego package with a prepared-query cache).
# This script downloads that wheel into a throwaway directory (kept under
# target/opa-bench so a rerun reuses it), and bench.py calls the library
# with ctypes: add the policy once, then evaluate data.countersign.runtime.decision
# with each case's JSON input, checking the answer first.
#
# Usage: bench/opa/run.sh [inputs.json]   (default: bench/opa/inputs.json)
# Prints, per case: OPA_RESULT case=<name> gross_ns=<ns/op> floor_ns=<ns/op> net_ns=<ns/op>
# (floor: the same call on a trivial document with no input, i.e. the ctypes
# and result-envelope cost; net = gross - floor, the engine's own time).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
inputs="${1:-$here/inputs.json}"
work="${OPA_BENCH_DIR:-$root/target/opa-bench}"
version="0.4.4"
lib="$work/x/opa_bindings/libopabridge.so"
if [ ! -f "$lib" ]; then
  mkdir -p "$work"
  python3 -m venv "$work/venv" >/dev/null
  # The wheel is py3-none (ctypes only) but declares Requires-Python >=3.14;
  # download it for 3.14 and load the library from this Python.
  "$work/venv/bin/pip" download --quiet "opa-golib-python-bindings==$version" \
    --python-version 3.14 --only-binary=:all: --no-deps -d "$work/wheel"
  rm -rf "$work/x" && mkdir -p "$work/x"
  python3 -m zipfile -e "$work"/wheel/opa_golib_python_bindings-"$version"-*.whl "$work/x"
fi
exec python3 "$here/bench.py" "$lib" "$here/runtime.rego" "$inputs"
