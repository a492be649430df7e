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
// BM_ApplyPathToday is the path as TopologyService::apply and DockerRuntime
// run it before the single-parse rework: scan_top_level, nlohmann parse,
// canonical_hash of the raw "hydrated" bytes, validate_topology, and
// plan_topology twice (runtime apply, then watch). To compare another path,
// add one function taking the same ApplyInput and register it the same way:
//   BENCHMARK(BM_ApplyPathOneParse)->Apply(apply_path_cases);

#include <benchmark/benchmark.h>

#include <cstdlib>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <stdexcept>
#include <string>

#include "agent/canonical_json.h"
#include "agent/json_scan.h"
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

void BM_ApplyPathToday(benchmark::State& state) {
  const ApplyInput& in = apply_input(state.range(0));
  for (auto _ : state) {
    edge::TopLevelScan scan = edge::scan_top_level(in.body, edge::kMaxJsonDepth + 1);
    const json doc = json::parse(in.body);
    const json& hydrated = doc.at("hydrated");
    auto raw = scan.members.find("hydrated");
    if (!scan.ok || raw == scan.members.end()) {
      state.SkipWithError("the body does not scan");
      return;
    }
    const edge::CanonicalResult hash = edge::canonical_hash(raw->second);
    if (!hash.ok || hash.text != doc.at("version_hash").get<std::string>()) {
      state.SkipWithError("the hash does not match");
      return;
    }
    const auto issues = edge::validate_topology(hydrated, in.catalog);
    if (!issues.empty()) {
      state.SkipWithError(edge::format_validation_detail(issues).substr(0, 300).c_str());
      return;
    }
    const std::string blob(raw->second);  // what the store is given
    edge::docker::Plan applied = edge::docker::plan_topology(hydrated, in.catalog, in.base_image);
    edge::docker::Plan watched = edge::docker::plan_topology(hydrated, in.catalog, in.base_image);
    benchmark::DoNotOptimize(blob);
    benchmark::DoNotOptimize(applied);
    benchmark::DoNotOptimize(watched);
  }
  report(state, in);
}
BENCHMARK(BM_ApplyPathToday)->Apply(apply_path_cases);

// Today's steps one at a time, to see where BM_ApplyPathToday's time goes.
enum Step { kScan, kParse, kHash, kValidate, kPlan };

void BM_ApplyStepToday(benchmark::State& state) {
  const ApplyInput& in = apply_input(state.range(0));
  const auto step = static_cast<Step>(state.range(1));
  const json doc = json::parse(in.body);
  const json& hydrated = doc.at("hydrated");
  const edge::TopLevelScan scan = edge::scan_top_level(in.body, edge::kMaxJsonDepth + 1);
  const std::string_view raw = scan.members.at("hydrated");
  for (auto _ : state) {
    switch (step) {
      case kScan:
        benchmark::DoNotOptimize(edge::scan_top_level(in.body, edge::kMaxJsonDepth + 1));
        break;
      case kParse:
        benchmark::DoNotOptimize(json::parse(in.body));
        break;
      case kHash:
        benchmark::DoNotOptimize(edge::canonical_hash(raw));
        break;
      case kValidate:
        benchmark::DoNotOptimize(edge::validate_topology(hydrated, in.catalog));
        break;
      case kPlan:
        benchmark::DoNotOptimize(edge::docker::plan_topology(hydrated, in.catalog, in.base_image));
        break;
    }
  }
  static constexpr const char* kNames[] = {"scan_top_level", "nlohmann::json::parse",
                                           "canonical_hash", "validate_topology",
                                           "plan_topology (once)"};
  state.SetLabel(kNames[step]);
}
BENCHMARK(BM_ApplyStepToday)
    ->ArgNames({"deckies", "step"})
    ->ArgsProduct({{30, 10500}, {kScan, kParse, kHash, kValidate, kPlan}})
    ->Unit(benchmark::kMillisecond);

}  // namespace
