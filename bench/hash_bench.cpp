// canonical_hash on a ~10 MB hydrated topology (bench/gen_topology.py).
// The document comes from $EDGE_BENCH_TOPOLOGY, else it is generated once to
// /tmp/edge_bench_topology.json. The label carries the hash so
// hash_vs_python.sh can check both sides hashed the same thing.

#include <benchmark/benchmark.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>

#include "agent/canonical_json.h"

namespace {

std::string load_topology() {
  std::string path;
  if (const char* env = std::getenv("EDGE_BENCH_TOPOLOGY"); env != nullptr && *env != '\0') {
    path = env;
  } else {
    path = "/tmp/edge_bench_topology.json";
    if (!std::ifstream(path).good()) {
      const std::string cmd =
          "python3 '" EDGE_SOURCE_DIR "/bench/gen_topology.py' --out '" + path + "'";
      if (std::system(cmd.c_str()) != 0) throw std::runtime_error("could not run: " + cmd);
    }
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read topology file " + path);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

const std::string& topology() {
  static const std::string text = load_topology();
  return text;
}

void BM_CanonicalHash(benchmark::State& state) {
  const std::string& text = topology();
  edge::CanonicalResult r;
  for (auto _ : state) {
    r = edge::canonical_hash(text);
    benchmark::DoNotOptimize(r);
  }
  if (!r.ok) {
    state.SkipWithError(r.error.c_str());
    return;
  }
  state.SetLabel(r.text);
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * text.size()));
}
BENCHMARK(BM_CanonicalHash)->Unit(benchmark::kMillisecond)->UseRealTime();

// The same without SHA-256: how much of the time is parse + print.
void BM_CanonicalJsonOnly(benchmark::State& state) {
  const std::string& text = topology();
  for (auto _ : state) {
    edge::CanonicalResult r = edge::canonical_json(text);
    benchmark::DoNotOptimize(r);
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * text.size()));
}
BENCHMARK(BM_CanonicalJsonOnly)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace
