// put() and current() on the real SQLite store (WAL, synchronous=FULL): put is bounded by
// fsync, current by reading the blob back.

#include <benchmark/benchmark.h>
#include <stdlib.h>

#include <filesystem>
#include <stdexcept>
#include <string>

#include "store/topology_store.h"

namespace {

namespace fs = std::filesystem;
using edge::store::OpenMode;
using edge::store::OpenResult;
using edge::store::StoreStatus;
using edge::store::TopologyStore;

class BenchDir {
 public:
  BenchDir() {
    std::string templ = (fs::temp_directory_path() / "edge-store-bench-XXXXXX").string();
    if (mkdtemp(templ.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    path_ = templ;
  }
  ~BenchDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  BenchDir(const BenchDir&) = delete;
  BenchDir& operator=(const BenchDir&) = delete;
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

void BM_StorePut(benchmark::State& state) {
  BenchDir dir;
  OpenResult r = TopologyStore::open(dir.path(), OpenMode::kDaemon);
  if (!r.status.ok()) {
    state.SkipWithError(r.status.message.c_str());
    return;
  }
  const std::string blob(static_cast<std::size_t>(state.range(0)), 'x');
  std::int64_t n = 0;
  for (auto _ : state) {
    StoreStatus st = r.store->put("bench-topology", n % 2 ? "h1" : "h2", blob, n);
    ++n;
    if (!st.ok()) {
      state.SkipWithError(st.message.c_str());
      break;
    }
  }
  state.SetBytesProcessed(state.iterations() * state.range(0));
}
BENCHMARK(BM_StorePut)->Arg(1 << 10)->Arg(200 << 10)->Unit(benchmark::kMicrosecond)->UseRealTime();

void BM_StoreCurrent(benchmark::State& state) {
  BenchDir dir;
  OpenResult r = TopologyStore::open(dir.path(), OpenMode::kDaemon);
  if (!r.status.ok()) {
    state.SkipWithError(r.status.message.c_str());
    return;
  }
  const std::string blob(static_cast<std::size_t>(state.range(0)), 'x');
  if (StoreStatus st = r.store->put("bench-topology", "h", blob, 1); !st.ok()) {
    state.SkipWithError(st.message.c_str());
    return;
  }
  for (auto _ : state) {
    StoreStatus st;
    auto row = r.store->current(&st);
    if (!st.ok() || !row) {
      state.SkipWithError("current() returned no row");
      break;
    }
    benchmark::DoNotOptimize(row);
  }
  state.SetBytesProcessed(state.iterations() * state.range(0));
}
BENCHMARK(BM_StoreCurrent)->Arg(1 << 10)->Arg(200 << 10)->Unit(benchmark::kMicrosecond);

}  // namespace
