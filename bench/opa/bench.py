"""Times the OPA Go engine (a C shared library from the PyPI wheel
opa-golib-python-bindings) on the Rego translation of the runtime policies.

Usage: bench.py LIB REGO INPUTS_JSON. INPUTS_JSON is a list of
{"name", "input", "expected"}; each case's answer is checked against
"expected" before it is timed. See run.sh.
"""

import ctypes
import json
import sys
import time

ITERATIONS = 20_000
REPEATS = 5


def main():
    lib_path, rego_path, inputs_path = sys.argv[1:4]
    lib = ctypes.CDLL(lib_path)
    lib.OpaNew.restype = ctypes.c_uint64
    lib.OpaNew.argtypes = []
    lib.OpaFreeString.restype = None
    lib.OpaFreeString.argtypes = [ctypes.c_void_p]
    lib.OpaAddPolicy.restype = ctypes.c_void_p
    lib.OpaAddPolicy.argtypes = [ctypes.c_uint64, ctypes.c_char_p, ctypes.c_char_p]
    lib.OpaEvalDocument.restype = ctypes.c_void_p
    lib.OpaEvalDocument.argtypes = [
        ctypes.c_uint64, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_int, ctypes.c_int,
    ]
    engine = lib.OpaNew()

    def call(fn, *args):
        ptr = fn(engine, *args)
        if not ptr:
            sys.exit("opa: native call returned NULL")
        try:
            envelope = json.loads(ctypes.string_at(ptr))
        finally:
            lib.OpaFreeString(ptr)
        if envelope.get("error"):
            sys.exit(f"opa: {envelope['error']}")
        return envelope

    with open(rego_path, "rb") as f:
        call(lib.OpaAddPolicy, b"runtime.rego", f.read())
    call(lib.OpaAddPolicy, b"floor.rego", b"package floor\nx := true\n")
    with open(inputs_path) as f:
        cases = json.load(f)

    def timed(path, data):
        evaluate, free = lib.OpaEvalDocument, lib.OpaFreeString
        for _ in range(1000):
            free(evaluate(engine, path, data, 0, 0))
        best = []
        for _ in range(REPEATS):
            start = time.perf_counter_ns()
            for _ in range(ITERATIONS):
                free(evaluate(engine, path, data, 0, 0))
            best.append((time.perf_counter_ns() - start) / ITERATIONS)
        return sorted(best)[REPEATS // 2]

    floor = timed(b"floor.x", b"")
    for case in cases:
        data = json.dumps(case["input"]).encode()
        got = call(lib.OpaEvalDocument, b"countersign.runtime.decision", data, 0, 0)
        value = got["result"][0]["expressions"][0]["value"]
        if value != case["expected"]:
            sys.exit(f"opa: {case['name']}: got {value}, expected {case['expected']}")
        gross = timed(b"countersign.runtime.decision", data)
        print(
            f"OPA_RESULT case={case['name']} gross_ns={gross:.0f} "
            f"floor_ns={floor:.0f} net_ns={gross - floor:.0f}"
        )


if __name__ == "__main__":
    main()
