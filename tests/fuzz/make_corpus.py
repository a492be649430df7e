#!/usr/bin/env python3
"""Writes the seed corpus of canonical_json_fuzz to tests/fuzz/corpus/:
every input of tests/vectors/canonical_hash_public.jsonl (vector-<name>.json)
plus hand-written edge cases (edge-<what>.json). Rerun after adding a case;
the files are checked in so the suite needs no generation step."""
import json
import pathlib

HERE = pathlib.Path(__file__).resolve().parent
CORPUS = HERE / "corpus"
VECTORS = HERE.parent / "vectors" / "canonical_hash_public.jsonl"

EDGE = {
    # strings: escapes, surrogates, control characters, non-ASCII
    "escapes": rb'{"s":"\" \\ \/ \b \f \n \r \t \u0000 \u001f \u007f \u0080 \u00e9 \uFFFF"}',
    "surrogate-pair": rb'["\ud83d\ude00", "\uD83D\uDE00"]',
    "lone-high-surrogate": rb'["\ud800"]',
    "lone-low-surrogate": rb'["\udc00x"]',
    "reversed-surrogates": rb'["\udc00\ud800"]',
    "raw-utf8": '{"名前":"値","é":"😀"}'.encode(),
    "raw-control-char": b'["a\x01b"]',
    "invalid-utf8": b'["\xff"]',
    "overlong-utf8": b'["\xc0\xaf"]',
    "utf8-encoded-surrogate": b'["\xed\xa0\x80"]',
    "bad-escape": rb'["\x"]',
    "short-unicode-escape": rb'["\u12"]',
    "bom": b'\xef\xbb\xbf{"a":1}',
    # numbers
    "floats-repr": b'[1e16, 1e15, 1e-05, 1e-4, 0.0001, 5e-324, 2.5e-324, 1.7976931348623157e308, 0.1, 1.0, -0.0, 100.0]',
    "float-overflow": b'[1e400, -1e400, 1e-400]',
    "float-long-mantissa": b'[0.30000000000000004441, 123456789012345678901234567890.5]',
    "nan-infinity": b'[NaN, Infinity, -Infinity]',
    "bad-literals": b'[-NaN]',
    "nan-lowercase": b'[nan]',
    "ints": b'[0, -0, 1, -1, 9007199254740993, 18446744073709551616, -9223372036854775809]',
    "int-4300-digits": b'[' + b'9' * 4300 + b']',
    "int-4301-digits": b'[' + b'9' * 4301 + b']',
    "negative-int-4300-digits": b'[-' + b'9' * 4300 + b']',
    "leading-zero": b'[01]',
    "bare-minus": b'[-]',
    "exponent-without-digits": b'[1e]',
    "fraction-without-digits": b'[1.]',
    "capital-exponent": b'[1E+2, 1E-2, 2E0]',
    # structure
    "depth-64": b'[' * 64 + b']' * 64,
    "depth-65": b'[' * 65 + b']' * 65,
    "depth-64-objects": b'{"a":' * 63 + b'[]' + b'}' * 63,
    "depth-65-objects": b'{"a":' * 64 + b'[]' + b'}' * 64,
    "depth-200": b'[' * 200 + b']' * 200,
    "unclosed": b'[[[{"a":',
    "trailing-data": b'{} {}',
    "trailing-comma": b'[1,]',
    "whitespace": b' \t\r\n{ "a" : [ 1 , 2 ] }\n ',
    "form-feed-whitespace": b'\x0c[]',
    "empty": b'',
    "scalars": b'"just a string"',
    "volatile-keys": b'{"status":1,"version":2,"x":3,"y":4,"w":5,"h":6,"keep":[{"created_at":0,"updated_at":0,"last_seen":0,"status_changed_at":0,"last_error":"e","k":1}]}',
    # duplicate keys, also spelled with escapes
    "duplicate-key": b'{"a":1,"a":2}',
    "duplicate-escaped-key": rb'{"hydrated":{"a":1},"hydr\u0061ted":{"a":2},"version_hash":"x"}',
    "duplicate-nested": b'{"k":[{"v":1,"v":1}]}',
    "duplicate-volatile": b'{"status":1,"status":2}',
    "sort-order": '{"b":1,"a":2,"A":3,"_":4,"\u00e9":5,"\U0001F600":6,"\uffff":7}'.encode(),
}


def main():
    CORPUS.mkdir(exist_ok=True)
    for old in CORPUS.glob("*.json"):
        old.unlink()
    for line in VECTORS.read_text(encoding="utf-8").split("\n"):
        if not line.strip():
            continue
        v = json.loads(line)
        (CORPUS / f"vector-{v['name']}.json").write_bytes(v["input"].encode("utf-8", "surrogatepass"))
    for name, data in EDGE.items():
        (CORPUS / f"edge-{name}.json").write_bytes(data)


if __name__ == "__main__":
    main()
