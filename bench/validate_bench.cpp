// edge::validate_topology on 30- and 100-decky topologies (every plain decky
// runs one catalog service), and edge::read_apply_request on the apply body
// that carries them: the one parse an apply makes (hash, blob and model).

#include <benchmark/benchmark.h>

#include <nlohmann/json.hpp>
#include <string>

#include "agent/canonical_json.h"
#include "agent/topology_model.h"
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

std::string body_of(int total) {
  const std::string hydrated = topology_of(total, total >= 100 ? 4 : 2).dump();
  return R"({"hydrated":)" + hydrated + R"(,"version_hash":")" +
         edge::canonical_hash(hydrated).text + "\"}";
}

void BM_ValidateTopology(benchmark::State& state) {
  const int total = static_cast<int>(state.range(0));
  auto req = edge::read_apply_request(body_of(total));
  const auto services = catalog();
  if (!req || !edge::validate_topology(req->topology, services)) {
    state.SkipWithError("the generated topology does not validate");
    return;
  }
  for (auto _ : state) {
    auto valid = edge::validate_topology(req->topology, services);
    benchmark::DoNotOptimize(valid);
  }
  state.SetItemsProcessed(state.iterations() * total);
}
BENCHMARK(BM_ValidateTopology)->Arg(30)->Arg(100)->Unit(benchmark::kMicrosecond);

void BM_ReadApplyRequest(benchmark::State& state) {
  const std::string text = body_of(static_cast<int>(state.range(0)));
  if (!edge::read_apply_request(text)) {
    state.SkipWithError("the apply body does not read");
    return;
  }
  for (auto _ : state) {
    auto req = edge::read_apply_request(text);
    benchmark::DoNotOptimize(req);
  }
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(text.size()));
}
BENCHMARK(BM_ReadApplyRequest)->Arg(30)->Arg(100)->Unit(benchmark::kMicrosecond);

}  // namespace
