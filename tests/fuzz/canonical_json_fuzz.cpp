// libFuzzer target: edge::canonical_json / edge::canonical_hash against the
// master's own function, CPython's json, run in-process as a differential
// oracle (DESIGN §2):
//
//   hashlib.sha256(json.dumps(strip(json.loads(data.decode("utf-8"))),
//                             sort_keys=True, separators=(",", ":")).encode())
//
// (with CPython's built-in _sha256, which hashlib falls back to, so the
// digest does not come from OpenSSL, as ours does).
//
// The bytes are decoded as strict UTF-8 before json.loads: a decode failure
// is Python rejecting the input (the master reads the body as UTF-8 text).
//
// Property: both accept and print the same canonical text and the same hash,
// or both reject. Any other outcome aborts (libFuzzer keeps the input).
//
// Allowed divergences, each checked precisely rather than waved through:
//  1. Nesting: we reject a document nested deeper than kMaxJsonDepth (64)
//     containers, with a "nesting deeper than" error, where CPython goes on
//     to its recursion limit. Allowed only when Python's own tree is deeper
//     than kMaxJsonDepth; and a deeper tree that Python accepts MUST be
//     rejected by us with that error.
//  2. Duplicate keys (DESIGN §3: a duplicate key anywhere is a 422): we may
//     reject with an error naming a "duplicate" key while Python (last one
//     wins) accepts, only when Python's object_pairs_hook saw two equal keys
//     (after unescaping) in one object. If the parser under test rejects
//     {"a":1,"a":2} (probed once at start-up), every document in which Python
//     sees a duplicate MUST be rejected that way; otherwise (a parser that
//     takes the last duplicate, as Python does) the hashes must match.
//  3. A UTF-8 byte order mark and integers of more than 4300 digits: we
//     reject them by design. CPython 3.11 rejects them too (json.loads of a
//     str starting with U+FEFF, int max_str_digits), so they fall under
//     "both reject" and need no exception; should a Python build take them,
//     the run fails and says so.
//
// Everything else Python accepts, we must accept with the same bytes.

#include <Python.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "agent/canonical_json.h"

namespace {

// The oracle, as the master computes its hash, plus what the checks above
// need to know about the document: did any object repeat a key, how deep is
// the tree. Returns (accepted, canonical text or reason, hash, duplicate, depth).
constexpr const char* kOracle = R"PY(
import json
# CPython's own SHA-256 (built in, not OpenSSL): the digest is checked by an
# implementation independent of the one under test, and no OpenSSL state is
# left behind for LeakSanitizer to report at exit.
from _sha256 import sha256

VOLATILE = frozenset({"created_at", "status_changed_at", "updated_at", "last_seen",
                      "status", "version", "last_error", "x", "y", "w", "h"})

def strip(v):
    if isinstance(v, dict):
        return {k: strip(x) for k, x in v.items() if k not in VOLATILE}
    if isinstance(v, list):
        return [strip(x) for x in v]
    return v

def depth(v):
    deepest, stack = 0, [(v, 1)]
    while stack:
        node, d = stack.pop()
        if isinstance(node, dict):
            deepest = max(deepest, d)
            stack.extend((x, d + 1) for x in node.values())
        elif isinstance(node, list):
            deepest = max(deepest, d)
            stack.extend((x, d + 1) for x in node)
    return deepest

def oracle(data):
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        return (False, "not UTF-8: %s" % e, "", False, 0)
    seen_duplicate = [False]
    def pairs(items):
        d = {}
        for k, v in items:
            if k in d:
                seen_duplicate[0] = True
            d[k] = v
        return d
    try:
        doc = json.loads(text, object_pairs_hook=pairs)
    except (ValueError, RecursionError) as e:
        return (False, "json.loads: %s" % e, "", seen_duplicate[0], 0)
    try:
        out = json.dumps(strip(doc), sort_keys=True, separators=(",", ":"))
    except (ValueError, RecursionError) as e:
        return (False, "json.dumps: %s" % e, "", seen_duplicate[0], depth(doc))
    return (True, out, sha256(out.encode()).hexdigest(), seen_duplicate[0], depth(doc))
)PY";

PyObject* g_oracle = nullptr;
bool g_parser_rejects_duplicates = false;

struct PythonVerdict {
  bool ok = false;
  std::string text;  // canonical JSON when ok, else why Python refused
  std::string hash;
  bool duplicate = false;
  long depth = 0;
};

[[noreturn]] void die_python(const char* what) {
  std::fprintf(stderr, "canonical_json_fuzz: %s\n", what);
  if (PyErr_Occurred() != nullptr) PyErr_Print();
  std::abort();
}

std::string str_item(PyObject* tuple, Py_ssize_t i) {
  Py_ssize_t n = 0;
  const char* s = PyUnicode_AsUTF8AndSize(PyTuple_GetItem(tuple, i), &n);
  // Python's reasons may quote lone surrogates, which have no UTF-8 form.
  if (s == nullptr) {
    PyErr_Clear();
    return "<text with lone surrogates>";
  }
  return std::string(s, static_cast<std::size_t>(n));
}

PythonVerdict ask_python(const std::uint8_t* data, std::size_t size) {
  PyObject* bytes =
      PyBytes_FromStringAndSize(reinterpret_cast<const char*>(data), static_cast<Py_ssize_t>(size));
  if (bytes == nullptr) die_python("cannot make a bytes object");
  PyObject* result = PyObject_CallOneArg(g_oracle, bytes);
  Py_DECREF(bytes);
  if (result == nullptr || !PyTuple_Check(result) || PyTuple_Size(result) != 5) {
    die_python("the Python oracle raised or returned something unexpected");
  }
  PythonVerdict v;
  v.ok = PyObject_IsTrue(PyTuple_GetItem(result, 0)) == 1;
  v.text = str_item(result, 1);
  v.hash = str_item(result, 2);
  v.duplicate = PyObject_IsTrue(PyTuple_GetItem(result, 3)) == 1;
  v.depth = PyLong_AsLong(PyTuple_GetItem(result, 4));
  Py_DECREF(result);
  return v;
}

void start_python() {
  PyConfig config;
  // Isolated: no PYTHON* environment, no user site, no current directory
  // on sys.path; the standard library of the libpython we link against.
  PyConfig_InitIsolatedConfig(&config);
  PyStatus st = PyConfig_SetBytesString(&config, &config.home, EDGE_PYTHON_HOME);
  if (PyStatus_Exception(st)) Py_ExitStatusException(st);
  st = Py_InitializeFromConfig(&config);
  PyConfig_Clear(&config);
  if (PyStatus_Exception(st)) Py_ExitStatusException(st);

  PyObject* globals = PyDict_New();
  PyDict_SetItemString(globals, "__builtins__", PyEval_GetBuiltins());
  PyObject* ran = PyRun_String(kOracle, Py_file_input, globals, globals);
  if (ran == nullptr) die_python("the oracle's source does not run");
  Py_DECREF(ran);
  g_oracle = PyDict_GetItemString(globals, "oracle");  // borrowed; globals is kept
  if (g_oracle == nullptr) die_python("no oracle() defined");
}

bool mentions(const std::string& error, std::string_view what) {
  return error.find(what) != std::string::npos;
}

std::string excerpt(std::string_view s, std::size_t n = 300) {
  std::string out;
  for (char c : s.substr(0, n)) {
    const auto u = static_cast<unsigned char>(c);
    if (u >= 0x20 && u < 0x7f) {
      out += c;
    } else {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", u);
      out += buf;
    }
  }
  if (s.size() > n) out += "...(" + std::to_string(s.size()) + " bytes)";
  return out;
}

[[noreturn]] void finding(const char* what, std::string_view input,
                          const edge::CanonicalResult& ours, const PythonVerdict& py) {
  std::fprintf(stderr,
               "\n=== canonical_json differs from CPython's json: %s\n"
               "input:   %s\n"
               "edge:    ok=%d %s\n"
               "python:  ok=%d duplicate=%d depth=%ld %s\n",
               what, excerpt(input).c_str(), ours.ok ? 1 : 0,
               excerpt(ours.ok ? ours.text : ours.error).c_str(), py.ok ? 1 : 0,
               py.duplicate ? 1 : 0, py.depth, excerpt(py.text).c_str());
  std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  start_python();
  g_parser_rejects_duplicates = !edge::canonical_json(R"({"a":1,"a":2})").ok;
  std::fprintf(stderr, "canonical_json_fuzz: the parser under test %s duplicate keys\n",
               g_parser_rejects_duplicates ? "rejects" : "accepts (last wins)");
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const edge::CanonicalResult ours = edge::canonical_json(input);
  const PythonVerdict py = ask_python(data, size);

  if (ours.ok) {
    // canonical_hash must be the digest of exactly what canonical_json prints.
    const edge::CanonicalResult hashed = edge::canonical_hash(input);
    if (!hashed.ok) finding("canonical_json accepts what canonical_hash rejects", input, ours, py);
    if (!py.ok) finding("edge accepts what Python rejects", input, ours, py);
    if (py.duplicate && g_parser_rejects_duplicates) {
      finding("edge accepts a duplicate key", input, ours, py);
    }
    if (py.depth > static_cast<long>(edge::kMaxJsonDepth)) {
      finding("edge accepts nesting deeper than kMaxJsonDepth", input, ours, py);
    }
    if (ours.text != py.text) finding("canonical text differs", input, ours, py);
    if (hashed.text != py.hash) finding("hash differs", input, hashed, py);
    return 0;
  }
  if (!mentions(ours.error, "invalid JSON: ")) {
    finding("an error without the documented 'invalid JSON: ' prefix", input, ours, py);
  }
  if (!py.ok) return 0;  // both reject
  if (mentions(ours.error, "nesting deeper than") &&
      py.depth > static_cast<long>(edge::kMaxJsonDepth)) {
    return 0;  // divergence 1
  }
  if (mentions(ours.error, "duplicate") && py.duplicate) return 0;  // divergence 2
  finding("edge rejects what Python accepts", input, ours, py);
}
