// edge::validate_topology on 30- and 100-decky topologies (every plain decky
// runs one catalog service), and edge::scan_top_level on the apply body that
// carries the 100-decky one: the two passes an apply makes before the hash.

#include <benchmark/benchmark.h>

#include <nlohmann/json.hpp>
#include <string>

#include "agent/json_scan.h"
#include "agent/validate.h"
#include "tests/support/topology_builder.h"

namespace {

// `total` deckies: one bridge per internal LAN plus plain ones.
nlohmann::json topology_of(int total, int lans) {
  edge::testing::TopologyShape shape;
  shape.lans = lans;
  shape.deckies = total - (lans - 1);
  shape.service = "http";
  return edge::testing::make_topology(shape);
}

edge::docker::ServiceCatalog catalog() {
  edge::docker::ServiceCatalog c;
  c["http"].image = "edge-agent-test/busybox:latest";
  return c;
}

void BM_ValidateTopology(benchmark::State& state) {
  const int total = static_cast<int>(state.range(0));
  const nlohmann::json topology = topology_of(total, total >= 100 ? 4 : 2);
  const auto services = catalog();
  if (!edge::validate_topology(topology, services).empty()) {
    state.SkipWithError("the generated topology does not validate");
    return;
  }
  for (auto _ : state) {
    auto issues = edge::validate_topology(topology, services);
    benchmark::DoNotOptimize(issues);
  }
  state.SetItemsProcessed(state.iterations() * total);
}
BENCHMARK(BM_ValidateTopology)->Arg(30)->Arg(100)->Unit(benchmark::kMicrosecond);

void BM_ScanTopLevel(benchmark::State& state) {
  const int total = static_cast<int>(state.range(0));
  const nlohmann::json body = {{"hydrated", topology_of(total, total >= 100 ? 4 : 2)},
                               {"version_hash", std::string(64, 'a')}};
  const std::string text = body.dump();
  if (!edge::scan_top_level(text, 64).ok) {
    state.SkipWithError("the apply body does not scan");
    return;
  }
  for (auto _ : state) {
    auto scan = edge::scan_top_level(text, 64);
    benchmark::DoNotOptimize(scan);
  }
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(text.size()));
}
BENCHMARK(BM_ScanTopLevel)->Arg(30)->Arg(100)->Unit(benchmark::kMicrosecond);

}  // namespace
