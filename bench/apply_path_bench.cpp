// CPU of an apply before it touches Docker or the store, on topologies that
// validate, made by bench/gen_topology.py --valid --deckies N (generated once
// to /tmp/edge_bench_valid_<N>.json; the same N gives the same bytes):
//   deckies:30     ~29 KB, as many deckies as the public vector v1-30
//                  (which itself is refused, DMZ_ORPHAN: lan1 has no bridge),
//   deckies:10500  ~10 MB.
// Each body is {"hydrated": <topology>, "version_hash": "<its hash>"} and
// every benchmark must get it to "ready to touch Docker": hash checked,
// topology validated and planned. A benchmark that cannot says so with
// SkipWithError rather than timing a rejection.
//
// BM_ApplyPathOneParse is the path as TopologyService::apply runs it. The
// path before the single-parse rework (scan_top_level, nlohmann parse,
// canonical_hash of the raw bytes, validate on the JSON, plan twice) was
// BM_ApplyPathToday at commit 1f4e114; the issue's before/after figures run
// that commit's binary and this one back to back.

#include <benchmark/benchmark.h>

#include <cstdlib>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <stdexcept>
#include <string>

#include "agent/canonical_json.h"
#include "agent/topology_model.h"
#include "agent/validate.h"
#include "docker_obs/plan.h"

namespace {

using nlohmann::json;

struct ApplyInput {
  std::string body;  // the apply request body, as the master sends it
  std::size_t deckies = 0;
  edge::docker::ServiceCatalog catalog;  // knows every service the topology uses
  std::string base_image = "edge-agent-test/busybox:latest";
};

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + path);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string generated(std::int64_t deckies) {
  const std::string n = std::to_string(deckies);
  const std::string path = "/tmp/edge_bench_valid_" + n + ".json";
  if (!std::ifstream(path).good()) {
    const std::string cmd = "python3 '" EDGE_SOURCE_DIR
                            "/bench/gen_topology.py' --valid --deckies " +
                            n + " --out '" + path + "'";
    if (std::system(cmd.c_str()) != 0) throw std::runtime_error("could not run: " + cmd);
  }
  return read_file(path);
}

ApplyInput make_input(const std::string& hydrated) {
  ApplyInput in;
  const json doc = json::parse(hydrated);
  in.deckies = doc.at("deckies").size();
  // A catalog entry for every service the topology names, shaped like the
  // example catalog's (image, command, an env placeholder).
  for (const json& d : doc.at("deckies")) {
    for (const json& s : d.at("services")) {
      auto& spec = in.catalog[s.get<std::string>()];
      spec.image = "decnet/" + s.get<std::string>() + ":1.0";
      spec.command = {"/entrypoint.sh", "--serve"};
      spec.env = {{"NODE_NAME", "{decky}"}};
    }
  }
  const edge::CanonicalResult hash = edge::canonical_hash(hydrated);
  if (!hash.ok) throw std::runtime_error("the topology does not hash: " + hash.error);
  in.body = R"({"hydrated":)" + hydrated + R"(,"version_hash":")" + hash.text + R"("})";
  return in;
}

// Built on first use, once per process and size.
const ApplyInput& apply_input(std::int64_t deckies) {
  static std::map<std::int64_t, ApplyInput> inputs;
  auto it = inputs.find(deckies);
  if (it == inputs.end()) it = inputs.emplace(deckies, make_input(generated(deckies))).first;
  return it->second;
}

void apply_path_cases(benchmark::internal::Benchmark* b) {
  b->ArgName("deckies")->Arg(30)->Arg(10500)->Unit(benchmark::kMillisecond);
}

void report(benchmark::State& state, const ApplyInput& in) {
  state.SetLabel(std::to_string(in.deckies) + " deckies, " + std::to_string(in.body.size()) +
                 " bytes");
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(in.body.size()));
}

// The path as TopologyService::apply runs it now, up to "ready to touch
// Docker": one parse (read_apply_request: the hash, the blob and the typed
// topology from one tree), the hash compare, validate_topology, and one
// plan_topology (handed to converge and to the observer alike).
void BM_ApplyPathOneParse(benchmark::State& state) {
  const ApplyInput& in = apply_input(state.range(0));
  for (auto _ : state) {
    auto req = edge::read_apply_request(in.body);
    if (!req) {
      state.SkipWithError(req.error().message().substr(0, 300).c_str());
      return;
    }
    if (req->local_hash != req->master_hash) {
      state.SkipWithError("the hash does not match");
      return;
    }
    auto valid = edge::validate_topology(std::move(req->topology), in.catalog);
    if (!valid) {
      state.SkipWithError(edge::format_validation_detail(valid.error()).substr(0, 300).c_str());
      return;
    }
    edge::docker::Plan plan =
        edge::docker::plan_topology(*valid, in.catalog, {in.base_image, "bench-owner"});
    benchmark::DoNotOptimize(req->blob);
    benchmark::DoNotOptimize(plan);
  }
  report(state, in);
}
BENCHMARK(BM_ApplyPathOneParse)->Apply(apply_path_cases);

// The steps one at a time, to see where the time goes.
enum Step { kParse, kValidate, kPlan };

void BM_ApplyStep(benchmark::State& state) {
  const ApplyInput& in = apply_input(state.range(0));
  const auto step = static_cast<Step>(state.range(1));
  auto req = edge::read_apply_request(in.body);
  if (!req) {
    state.SkipWithError("the body does not read");
    return;
  }
  auto valid = edge::validate_topology(req->topology, in.catalog);
  if (!valid) {
    state.SkipWithError("the topology does not validate");
    return;
  }
  for (auto _ : state) {
    switch (step) {
      case kParse:
        benchmark::DoNotOptimize(edge::read_apply_request(in.body));
        break;
      case kValidate:
        benchmark::DoNotOptimize(edge::validate_topology(req->topology, in.catalog));
        break;
      case kPlan:
        benchmark::DoNotOptimize(
            edge::docker::plan_topology(*valid, in.catalog, {in.base_image, "bench-owner"}));
        break;
    }
  }
  static const char* kNames[] = {"parse+hash", "validate", "plan"};
  state.SetLabel(kNames[step]);
}
BENCHMARK(BM_ApplyStep)
    ->ArgNames({"deckies", "step"})
    ->ArgsProduct({{30, 10500}, {kParse, kValidate, kPlan}})
    ->Unit(benchmark::kMillisecond);

}  // namespace
