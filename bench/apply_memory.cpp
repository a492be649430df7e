// Where an apply body's memory goes, step by step (issue 12: "parsing a body
// costs at most about 4x its size"). Runs the steps of
// TopologyService::prepare_apply in this process and prints the heap in use
// (glibc's mallinfo2: arenas + mmapped chunks) after each one, as bytes and
// as a multiple of the body's size, then the process's VmHWM over its level
// before the body was read.
//
//   bench_apply_memory BODY_FILE [CATALOG_FILE]
//
// BODY_FILE is an apply request body ({"hydrated": ..., "version_hash": ...});
// CATALOG_FILE a service catalog (without one, every service the body names
// gets a small entry, as bench/apply_path_bench.cpp makes them). Prints
// "KEY value" lines for bench/server.sh and run_all.sh.

#include <malloc.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <optional>
#include <string>

#include "agent/canonical_json.h"
#include "agent/topology_model.h"
#include "agent/validate.h"
#include "docker_obs/catalog.h"
#include "docker_obs/plan.h"

namespace {

std::size_t heap_in_use() {
  const struct mallinfo2 mi = ::mallinfo2();
  return mi.uordblks + mi.hblkhd;
}

long status_kib(const char* key) {
  std::ifstream in("/proc/self/status");
  std::string line;
  const std::string prefix = std::string(key) + ":";
  while (std::getline(in, line)) {
    if (line.rfind(prefix, 0) == 0) return std::stol(line.substr(prefix.size()));
  }
  return -1;
}

// Read into a string of exactly its size, as the server's body is (Beast
// reserves the declared Content-Length).
std::string slurp(const char* path) {
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  if (!in) throw std::runtime_error(std::string("cannot read ") + path);
  std::string text(static_cast<std::size_t>(in.tellg()), '\0');
  in.seekg(0);
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  return text;
}

edge::docker::ServiceCatalog catalog_for(const edge::Topology& t) {
  edge::docker::ServiceCatalog catalog;
  for (const edge::Decky& d : t.deckies) {
    for (const std::string& s : d.services) {
      auto& spec = catalog[s];
      spec.image = "decnet/" + s + ":1.0";
      spec.command = {"/entrypoint.sh", "--serve"};
      spec.env = {{"NODE_NAME", "{decky}"}};
    }
  }
  return catalog;
}

// Writing 5 to clear_refs resets VmHWM to the current RSS (Linux >= 4.0),
// so each step's peak is its own.
void reset_peak() { std::ofstream("/proc/self/clear_refs") << "5"; }

// Per step: the heap still in use after it (what the next step inherits) and
// the peak RSS during it, both over the level before the body was read.
class Report {
 public:
  Report() : heap_base_(heap_in_use()), rss_base_kib_(status_kib("VmRSS")) { reset_peak(); }
  void stage(const char* name, std::size_t body_size) {
    const double n = static_cast<double>(body_size);
    const double live = static_cast<double>(heap_in_use() - heap_base_);
    const double peak = static_cast<double>(status_kib("VmHWM") - rss_base_kib_) * 1024;
    overall_peak_ = std::max(overall_peak_, peak);
    std::printf("%s_live_x %.2f\n", name, live / n);
    std::printf("%s_peak_x %.2f\n", name, peak / n);
    reset_peak();
  }
  void finish(std::size_t body_size) const {
    std::printf("peak_kib %.0f\n", overall_peak_ / 1024);
    std::printf("peak_x %.2f\n", overall_peak_ / static_cast<double>(body_size));
  }

 private:
  std::size_t heap_base_;
  long rss_base_kib_;
  double overall_peak_ = 0;
};

int run(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s BODY_FILE [CATALOG_FILE]\n", argv[0]);
    return 2;
  }
  std::optional<edge::docker::ServiceCatalog> catalog;
  if (argc > 2) {
    auto loaded = edge::docker::load_service_catalog(argv[2]);
    if (!loaded) {
      std::fprintf(stderr, "catalog: %s\n", loaded.error().message().c_str());
      return 1;
    }
    catalog = std::move(loaded).value();
  }
  // As the daemon's HTTP server sets it (agent/http_server.cpp).
  ::mallopt(M_MMAP_THRESHOLD, 256 * 1024);
  ::malloc_trim(0);
  Report report;

  std::string body = slurp(argv[1]);
  const std::size_t n = body.size();
  std::printf("body_bytes %zu\n", n);
  report.stage("read", n);

  {
    // The tree alone (read_apply_request builds it, reads the model and the
    // hash from it, and drops it before it returns).
    auto tree = edge::JsonTree::parse(body, edge::JsonTree::Duplicates::kReject);
    report.stage("tree", n);
  }
  auto request = edge::read_apply_request(body);
  if (!request) {
    std::printf("outcome 422 %s\n", request.error().message().substr(0, 200).c_str());
    report.finish(n);
    return 0;
  }
  report.stage("parse", n);
  if (request->local_hash != request->master_hash) {
    std::printf("outcome 400 the hash does not match\n");
    report.finish(n);
    return 0;
  }
  if (!catalog) catalog = catalog_for(request->topology);
  auto valid = edge::validate_topology(std::move(request->topology), *catalog);
  if (!valid) {
    std::printf("validation_errors %zu\n", valid.error().size());
    report.stage("validate", n);
    std::printf("outcome 400 %s\n",
                edge::format_validation_detail(valid.error()).substr(0, 200).c_str());
  } else {
    report.stage("validate", n);
    const std::size_t bound =
        edge::docker::plan_bytes_bound(*valid, *catalog, {"busybox:latest", "bench-owner"});
    std::printf("plan_bound_x %.2f\n", static_cast<double>(bound) / n);
    const edge::docker::Plan plan =
        edge::docker::plan_topology(*valid, *catalog, {"busybox:latest", "bench-owner"});
    std::printf("containers %zu\n", plan.bases.size() + plan.services.size());
    report.stage("plan", n);
    std::printf("outcome ready\n");
  }
  report.finish(n);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_apply_memory: %s\n", e.what());
    return 1;
  }
}
