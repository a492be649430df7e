#include "agent/metrics.h"

#include <charconv>
#include <cmath>
#include <string_view>
#include <utility>

#include "common/thread.h"

namespace edge {
namespace {

// Prometheus floats: Go ParseFloat syntax, so shortest round-trip digits and
// the spellings +Inf / -Inf / NaN.
std::string format_double(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  char buf[64];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  if (ec != std::errc()) return "NaN";  // cannot happen: 64 bytes hold any double
  return std::string(buf, end);
}

// Length of the valid UTF-8 sequence starting at s[i], or 0 if invalid.
std::size_t utf8_sequence_length(std::string_view s, std::size_t i) {
  const auto b = [&](std::size_t k) { return static_cast<unsigned char>(s[k]); };
  const unsigned char c = b(i);
  std::size_t n = 0;
  unsigned char lo = 0x80, hi = 0xBF;  // allowed range of the second byte
  if (c < 0x80) return 1;
  if (c >= 0xC2 && c <= 0xDF) {
    n = 2;
  } else if (c >= 0xE0 && c <= 0xEF) {
    n = 3;
    if (c == 0xE0) lo = 0xA0;  // overlong
    if (c == 0xED) hi = 0x9F;  // surrogates
  } else if (c >= 0xF0 && c <= 0xF4) {
    n = 4;
    if (c == 0xF0) lo = 0x90;  // overlong
    if (c == 0xF4) hi = 0x8F;  // above U+10FFFF
  } else {
    return 0;
  }
  if (i + n > s.size()) return 0;
  if (b(i + 1) < lo || b(i + 1) > hi) return 0;
  for (std::size_t k = 2; k < n; ++k) {
    if (b(i + k) < 0x80 || b(i + k) > 0xBF) return 0;
  }
  return n;
}

// Label value escaping per the text format (\\, \", \n). Invalid UTF-8 (the
// format requires UTF-8) becomes U+FFFD so one odd request path cannot make
// the whole scrape unparseable.
void append_label_value(std::string& out, std::string_view v) {
  for (std::size_t i = 0; i < v.size();) {
    const char c = v[i];
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '"') {
      out += "\\\"";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      const std::size_t n = utf8_sequence_length(v, i);
      if (n == 0) {
        out += "\xEF\xBF\xBD";
        ++i;
        continue;
      }
      out.append(v.substr(i, n));
      i += n;
      continue;
    }
    ++i;
  }
}

void append_labels(std::string& out, const std::vector<std::string_view>& names,
                   const std::vector<std::string>& values, std::string_view le = {}) {
  if (names.empty() && le.empty()) return;
  out += '{';
  bool first = true;
  for (std::size_t i = 0; i < names.size(); ++i) {
    if (!first) out += ',';
    first = false;
    out += names[i];
    out += "=\"";
    append_label_value(out, values[i]);
    out += '"';
  }
  if (!le.empty()) {
    if (!first) out += ',';
    out += "le=\"";
    out += le;
    out += '"';
  }
  out += '}';
}

void append_header(std::string& out, std::string_view name, std::string_view type,
                   std::string_view help) {
  out += "# HELP ";
  out += name;
  out += ' ';
  out += help;
  out += "\n# TYPE ";
  out += name;
  out += ' ';
  out += type;
  out += '\n';
}

// Durations come from a steady clock; a negative or NaN one is a caller bug
// that must not poison _sum for the life of the process.
double sane_seconds(double s) { return (std::isnan(s) || s < 0) ? 0.0 : s; }

}  // namespace

const std::vector<double>& Metrics::operation_buckets() {
  // An apply may pull images: from tens of milliseconds to minutes.
  static const std::vector<double> b{0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300};
  return b;
}

const std::vector<double>& Metrics::docker_call_buckets() {
  static const std::vector<double> b{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                     0.25,  0.5,    1,     2.5,  5,     10,   30};
  return b;
}

Metrics::Metrics(std::string version, std::string git_rev)
    : Metrics(std::move(version), std::move(git_rev),
              [] { return std::chrono::steady_clock::now(); }) {}

Metrics::Metrics(std::string version, std::string git_rev, Clock clock)
    : version_(std::move(version)),
      git_rev_(std::move(git_rev)),
      clock_(std::move(clock)),
      started_(clock_()),
      operation_duration_{&operation_buckets(), {}},
      docker_call_duration_{&docker_call_buckets(), {}} {
  // Known label sets start at 0 so rate() and absent() work from the first scrape.
  for (const char* op : {"apply", "teardown"}) {
    for (const char* outcome : {"ok", "error", "rejected"}) operations_.series[{op, outcome}] = 0;
    operation_duration_.series[{op}] =
        Histogram{std::vector<std::uint64_t>(operation_buckets().size() + 1, 0), 0, 0};
  }
  for (const char* outcome : {"ok", "error"}) heartbeats_.series[{outcome}] = 0;
}

void Metrics::add(CounterFamily& f, Labels labels) {
  auto it = f.series.find(labels);
  if (it == f.series.end()) {
    if (f.series.size() >= kMaxSeriesPerFamily) {
      for (auto& v : labels) v = "other";
    }
    it = f.series.try_emplace(std::move(labels), 0).first;
  }
  ++it->second;
}

void Metrics::observe(HistogramFamily& f, Labels labels, double seconds) {
  auto it = f.series.find(labels);
  if (it == f.series.end()) {
    if (f.series.size() >= kMaxSeriesPerFamily) {
      for (auto& v : labels) v = "other";
    }
    it = f.series
             .try_emplace(std::move(labels),
                          Histogram{std::vector<std::uint64_t>(f.bounds->size() + 1, 0), 0, 0})
             .first;
  }
  Histogram& h = it->second;
  std::size_t i = 0;
  while (i < f.bounds->size() && seconds > (*f.bounds)[i]) ++i;  // le is inclusive
  ++h.counts[i];
  h.sum += seconds;
  ++h.count;
}

void Metrics::http_request(const std::string& route, int code) {
  Labels labels{route, std::to_string(code)};
  std::lock_guard lock(mu_);
  add(http_requests_, std::move(labels));
}

void Metrics::operation(const std::string& op, const std::string& outcome, double seconds) {
  seconds = sane_seconds(seconds);
  std::lock_guard lock(mu_);
  add(operations_, {op, outcome});
  observe(operation_duration_, {op}, seconds);
}

void Metrics::heartbeat(const std::string& outcome) {
  std::lock_guard lock(mu_);
  add(heartbeats_, {outcome});
}

void Metrics::docker_call(const std::string& call, bool ok, double seconds) {
  seconds = sane_seconds(seconds);
  std::lock_guard lock(mu_);
  add(docker_calls_, {call, ok ? "ok" : "error"});
  observe(docker_call_duration_, {call}, seconds);
}

void Metrics::set_drift(bool drifting) {
  std::lock_guard lock(mu_);
  drift_ = drifting;
}

void Metrics::store_error() {
  std::lock_guard lock(mu_);
  ++store_errors_;
}

void Metrics::set_tls_cert_expiry(const std::string& role, double seconds) {
  std::lock_guard lock(mu_);
  if (tls_expiry_.size() < kMaxSeriesPerFamily || tls_expiry_.count(role) > 0) {
    tls_expiry_[role] = seconds;
  }
}

std::string Metrics::render() const {
  CounterFamily http, ops, beats, docker;
  std::map<std::string, double> tls_expiry;
  HistogramFamily op_dur{nullptr, {}}, docker_dur{nullptr, {}};
  bool drift = false;
  std::uint64_t store_errors = 0;
  {
    std::lock_guard lock(mu_);
    http = http_requests_;
    ops = operations_;
    beats = heartbeats_;
    docker = docker_calls_;
    op_dur = operation_duration_;
    docker_dur = docker_call_duration_;
    drift = drift_;
    store_errors = store_errors_;
    tls_expiry = tls_expiry_;
  }
  const double uptime = std::chrono::duration<double>(clock_() - started_).count();

  std::string out;
  out.reserve(8192);

  const auto counter = [&](std::string_view name, std::string_view help,
                           const std::vector<std::string_view>& names, const CounterFamily& f) {
    append_header(out, name, "counter", help);
    for (const auto& [labels, value] : f.series) {
      out += name;
      append_labels(out, names, labels);
      out += ' ';
      out += std::to_string(value);
      out += '\n';
    }
  };
  const auto histogram = [&](std::string_view name, std::string_view help,
                             const std::vector<std::string_view>& names, const HistogramFamily& f) {
    append_header(out, name, "histogram", help);
    for (const auto& [labels, h] : f.series) {
      std::uint64_t cumulative = 0;
      for (std::size_t i = 0; i < h.counts.size(); ++i) {
        cumulative += h.counts[i];
        out += name;
        out += "_bucket";
        const std::string le = i < f.bounds->size() ? format_double((*f.bounds)[i]) : "+Inf";
        append_labels(out, names, labels, le);
        out += ' ';
        out += std::to_string(cumulative);
        out += '\n';
      }
      out += name;
      out += "_sum";
      append_labels(out, names, labels);
      out += ' ';
      out += format_double(h.sum);
      out += '\n';
      out += name;
      out += "_count";
      append_labels(out, names, labels);
      out += ' ';
      out += std::to_string(h.count);
      out += '\n';
    }
  };
  const auto gauge = [&](std::string_view name, std::string_view help, std::string_view value) {
    append_header(out, name, "gauge", help);
    out += name;
    out += ' ';
    out += value;
    out += '\n';
  };

  append_header(out, "edge_agent_build_info", "gauge",
                "Build of the running agent; the value is always 1.");
  out += "edge_agent_build_info";
  append_labels(out, {"version", "git_rev"}, {version_, git_rev_});
  out += " 1\n";
  gauge("edge_agent_uptime_seconds", "Seconds since the agent started.", format_double(uptime));
  counter("edge_agent_http_requests_total", "HTTP requests answered, by route and status code.",
          {"route", "code"}, http);
  counter("edge_agent_operations_total",
          "Apply and teardown operations, by outcome (ok, error, rejected).", {"op", "outcome"},
          ops);
  histogram("edge_agent_operation_duration_seconds",
            "Duration of apply and teardown operations in seconds.", {"op"}, op_dur);
  counter("edge_agent_heartbeats_total", "Heartbeats sent to the master, by outcome.", {"outcome"},
          beats);
  counter("edge_agent_docker_calls_total", "Docker Engine API calls, by call and outcome.",
          {"call", "outcome"}, docker);
  histogram("edge_agent_docker_call_duration_seconds",
            "Duration of Docker Engine API calls in seconds.", {"call"}, docker_dur);
  gauge("edge_agent_drift", "1 while what Docker runs differs from the applied topology, else 0.",
        drift ? "1" : "0");
  counter("edge_agent_store_errors_total", "Errors reading or writing the topology store.", {},
          CounterFamily{{{Labels{}, store_errors}}});
  CounterFamily thread_failures;
  for (const auto& [name, count] : thread_failure_counts()) {
    thread_failures.series.emplace(Labels{name}, count);
  }
  counter("edge_agent_thread_failures_total",
          "Threads of the agent that stopped on an unexpected error, by thread name.", {"thread"},
          thread_failures);
  if (!tls_expiry.empty()) {
    append_header(out, "edge_agent_tls_cert_expiry_seconds", "gauge",
                  "Seconds until the loaded TLS certificate of each role expires.");
    for (const auto& [role, seconds] : tls_expiry) {
      out += "edge_agent_tls_cert_expiry_seconds";
      append_labels(out, {"role"}, {role});
      out += ' ';
      out += format_double(seconds);
      out += '\n';
    }
  }
  return out;
}

}  // namespace edge
