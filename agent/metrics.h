#pragma once
// Prometheus metrics of the agent, rendered as text exposition format 0.0.4
// for `GET /metrics` (DESIGN §8).
//
// Thread-safety: every method may be called from any thread at any time; one
// mutex guards all series, held only for a map lookup and an add (no I/O,
// no formatting), so recording is cheap on the request path. render() formats
// outside the lock from a snapshot.
//
// Cardinality: label values should come from a small fixed set (route
// *patterns* such as "/topology/apply", not raw request paths). As a guard,
// a family holds at most kMaxSeriesPerFamily label sets; further new label
// sets are counted under the value "other" for every label, so a scanner
// probing random paths cannot grow memory without bound.
//
// Nothing here throws except std::bad_alloc.

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <vector>

namespace edge {

class Metrics {
 public:
  using Clock = std::function<std::chrono::steady_clock::time_point()>;

  static constexpr std::size_t kMaxSeriesPerFamily = 256;

  // version and git_rev become edge_agent_build_info{version,git_rev} 1.
  Metrics(std::string version, std::string git_rev);
  // Same, with the clock that measures edge_agent_uptime_seconds (tests).
  Metrics(std::string version, std::string git_rev, Clock clock);

  Metrics(const Metrics&) = delete;
  Metrics& operator=(const Metrics&) = delete;

  // edge_agent_http_requests_total{route,code}
  void http_request(const std::string& route, int code);
  // op = apply|teardown, outcome = ok|error|rejected:
  // edge_agent_operations_total{op,outcome} and
  // edge_agent_operation_duration_seconds{op} (histogram).
  void operation(const std::string& op, const std::string& outcome, double seconds);
  // outcome = ok|error: edge_agent_heartbeats_total{outcome}
  void heartbeat(const std::string& outcome);
  // edge_agent_docker_calls_total{call,outcome=ok|error} and
  // edge_agent_docker_call_duration_seconds{call} (histogram).
  void docker_call(const std::string& call, bool ok, double seconds);
  // edge_agent_drift gauge, 1 while the observed state drifts from the cache.
  void set_drift(bool drifting);
  // edge_agent_store_errors_total
  void store_error();
  // edge_agent_tls_cert_expiry_seconds{role} gauge: seconds until the
  // certificate of `role` ("server", "ca") expires (negative once expired).
  // Absent until first set (no TLS: no series).
  void set_tls_cert_expiry(const std::string& role, double seconds);

  // The whole exposition: # HELP / # TYPE per family, families and series in
  // a stable order, plus edge_agent_build_info and edge_agent_uptime_seconds.
  std::string render() const;

  // Bucket upper bounds (seconds) of the two histograms, ascending; +Inf is
  // implicit. Public so tests and dashboards agree on them.
  static const std::vector<double>& operation_buckets();
  static const std::vector<double>& docker_call_buckets();

 private:
  using Labels = std::vector<std::string>;  // values, in the family's label order

  struct Histogram {
    std::vector<std::uint64_t> counts;  // per bucket, not cumulative; last is +Inf
    double sum = 0;
    std::uint64_t count = 0;
  };
  struct CounterFamily {
    std::map<Labels, std::uint64_t> series;
  };
  struct HistogramFamily {
    const std::vector<double>* bounds;
    std::map<Labels, Histogram> series;
  };

  static void add(CounterFamily& f, Labels labels);
  static void observe(HistogramFamily& f, Labels labels, double seconds);

  const std::string version_;
  const std::string git_rev_;
  const Clock clock_;
  const std::chrono::steady_clock::time_point started_;

  mutable std::mutex mu_;  // guards everything below
  CounterFamily http_requests_;
  CounterFamily operations_;
  HistogramFamily operation_duration_;
  CounterFamily heartbeats_;
  CounterFamily docker_calls_;
  HistogramFamily docker_call_duration_;
  bool drift_ = false;
  std::uint64_t store_errors_ = 0;
  std::map<std::string, double> tls_expiry_;  // role -> seconds; few fixed roles
};

}  // namespace edge
