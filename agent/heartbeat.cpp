#include "agent/heartbeat.h"

#include <malloc.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cctype>
#include <utility>

#include "agent/http_client.h"
#include "agent/tls_credentials.h"
#include "common/text.h"

namespace edge {

namespace {

constexpr std::size_t kMaxResponseKept = 4096;  // enough for a {"detail": ...}
constexpr std::chrono::milliseconds kMaxConnectTimeout{5000};
constexpr std::chrono::seconds kFailingNudgeGap{1};

// The master's error body is {"detail": "..."} (FastAPI); quote it, else a
// printable prefix of whatever came back.
std::string describe_response(long status, const std::string& body) {
  std::string text = "HTTP " + std::to_string(status);
  auto doc = nlohmann::json::parse(body, nullptr, false);
  std::string detail;
  if (!doc.is_discarded() && doc.is_object() && doc.contains("detail")) {
    const auto& d = doc["detail"];
    detail = d.is_string() ? d.get<std::string>()
                           : d.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  } else {
    for (char c : body.substr(0, 200))
      detail += std::isprint(static_cast<unsigned char>(c)) ? c : ' ';
  }
  if (!detail.empty()) text += ": " + detail;
  return text;
}

class MasterPoster final : public HttpPoster {
 public:
  explicit MasterPoster(TlsFiles tls) : tls_(std::move(tls)) {}
  explicit MasterPoster(std::shared_ptr<TlsCredentials> creds)
      : tls_(creds ? creds->files() : TlsFiles{}), creds_(std::move(creds)) {}

  PostResult post_json(const std::string& url, const std::string& body,
                       std::chrono::milliseconds timeout,
                       const std::atomic<bool>& cancel) override {
    if (std::string why = check_master_url(url); !why.empty()) return {0, why};
    HttpCall call;
    call.method = "POST";
    call.url = url;
    call.body = body;
    call.timeout = timeout;
    call.connect_timeout = std::min(timeout, kMaxConnectTimeout);
    call.cancel = &cancel;
    call.keep_body = kMaxResponseKept;
    if (parse_http_url(url)->scheme == "https") {
      if (!tls_.complete()) {
        return {0,
                "an https:// master needs the mTLS bundle: set --tls-cert, --tls-key and --tls-ca"};
      }
      // The bundle this request presents, held until it ends: the live one
      // (a rotation is used by the next request; a refused reload leaves the
      // last good one), or the files as they are now.
      std::shared_ptr<const TlsBundle> bundle;
      if (creds_) {
        bundle = creds_->current();
      } else {
        auto loaded = load_tls_bundle(tls_);
        if (!loaded) return {0, loaded.error().message()};
        bundle = *loaded;
      }
      call.tls = bundle->client_context;
    }
    const HttpReply reply = http_call(call);
    if (reply.cancelled) return {0, "cancelled: the heartbeat is stopping"};
    if (reply.status == 0) return {0, reply.error};
    if (reply.status >= 200 && reply.status < 300) return {reply.status, ""};
    return {reply.status, describe_response(reply.status, reply.body)};
  }

 private:
  const TlsFiles tls_;
  const std::shared_ptr<TlsCredentials> creds_;  // null: files read per request
};

}  // namespace

std::string check_master_url(const std::string& url) {
  if (url.empty()) return "no master URL configured";
  auto parts = parse_http_url(url);
  if (!parts) return parts.error().message();
  if (parts->scheme == "https") return "";
  if (parts->scheme == "http") {
    if (is_loopback_host(parts->host)) return "";
    return "refusing plaintext http:// to non-loopback master host '" + parts->host +
           "': use https:// with --tls-cert, --tls-key and --tls-ca";
  }
  return "master URL scheme '" + parts->scheme + "' is not supported: use https://";
}

std::unique_ptr<HttpPoster> make_master_poster(const TlsFiles& tls) {
  return std::make_unique<MasterPoster>(tls);
}

std::unique_ptr<HttpPoster> make_master_poster(std::shared_ptr<TlsCredentials> tls) {
  return std::make_unique<MasterPoster>(std::move(tls));
}

HeartbeatLoop::HeartbeatLoop(HeartbeatOptions options, std::unique_ptr<HttpPoster> poster,
                             BodyProvider body, TimeSource& time)
    : options_(std::move(options)),
      poster_(std::move(poster)),
      body_(std::move(body)),
      time_(time),
      rng_(options_.jitter_seed != 0 ? options_.jitter_seed : std::random_device{}()) {}

HeartbeatLoop::~HeartbeatLoop() { stop(); }

void HeartbeatLoop::on_result(ResultCallback cb) {
  std::lock_guard lock(mutex_);
  on_result_ = std::move(cb);
}

void HeartbeatLoop::start() {
  {
    std::lock_guard lock(mutex_);
    if (started_ || stopping_) return;
    started_ = true;
    if (options_.master_url.empty()) {
      spdlog::info("heartbeat off: no --master-url");
      return;
    }
    if (!poster_ || !body_) {
      spdlog::error("heartbeat off: constructed without a poster or a body provider (a bug)");
      return;
    }
    status_.enabled = true;
    next_due_ = time_.steady_now();
    status_.next_due_unix = time_.unix_now();
    spdlog::info("heartbeat on: {}/swarm/heartbeat every {} ms (+-{:.0f}%)", options_.master_url,
                 options_.interval.count(), options_.jitter * 100);
  }
  thread_ = OwnedThread("heartbeat", [this] { run(); });
}

void HeartbeatLoop::stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  cancel_ = true;
  cv_.notify_all();
  // The poster returns within ~200 ms of cancel_; the deadline only bounds a bug.
  while (!thread_.join_for(std::chrono::seconds(5))) {
    spdlog::warn("heartbeat thread still running 5 s after stop; waiting for it");
  }
}

void HeartbeatLoop::nudge() {
  std::lock_guard lock(mutex_);
  if (!status_.enabled || stopping_ || nudge_pending_) return;  // pending: coalesce
  nudge_pending_ = true;
  Clock::time_point due = time_.steady_now() + options_.debounce;
  // A failing master gets the fresh state on the next backoff retry anyway;
  // nudges (e.g. a flapping container) must not turn into a request storm.
  if (status_.consecutive_failures > 0) due = std::max(due, last_attempt_end_ + kFailingNudgeGap);
  nudge_due_ = due;
  cv_.notify_all();
}

HeartbeatStatus HeartbeatLoop::status() const {
  std::lock_guard lock(mutex_);
  return status_;
}

HeartbeatLoop::Clock::time_point HeartbeatLoop::deadline_locked() const {
  return nudge_pending_ ? std::min(next_due_, nudge_due_) : next_due_;
}

HeartbeatLoop::Clock::duration HeartbeatLoop::jittered(Clock::duration d) {
  if (options_.jitter <= 0) return d;
  std::uniform_real_distribution<double> factor(1.0 - options_.jitter, 1.0 + options_.jitter);
  return std::chrono::duration_cast<Clock::duration>(d * factor(rng_));
}

void HeartbeatLoop::run() {
  try {
    std::unique_lock lock(mutex_);
    while (!stopping_) {
      const Clock::time_point due = deadline_locked();
      if (time_.steady_now() < due) {
        // Woken early by nudge()/stop(): recompute.
        time_.wait_until(cv_, lock, due, [&] { return stopping_ || deadline_locked() != due; });
        continue;
      }
      nudge_pending_ = false;  // this send carries the state the nudge was about
      lock.unlock();
      send_once();
      // A beat (body, TLS handshake, buffers) leaves free pages in this
      // thread's arena, under glibc's 128 KiB trim threshold, that would
      // stay resident between beats (56 KiB with a master that answers);
      // give them back (well under 1 ms, once per interval or nudge).
      ::malloc_trim(0);
      lock.lock();
    }
  } catch (const std::exception& e) {
    // Nothing in the loop is expected to throw; show it in /debug/state too,
    // then let the thread helper log and count it.
    {
      std::lock_guard lock(mutex_);
      status_.last_failure_reason = std::string("heartbeat thread stopped: ") + e.what();
    }
    throw;
  }
}

void HeartbeatLoop::send_once() {
  PostResult result;
  std::string payload;
  try {
    nlohmann::json body = body_();
    if (!body.is_object()) {
      result.error = "could not build the heartbeat body: the provider returned no JSON object";
    } else {
      if (!body.contains("host_uuid")) body["host_uuid"] = options_.host_uuid;
      if (!body.contains("agent_version")) body["agent_version"] = options_.agent_version;
      // Non-UTF-8 bytes (e.g. from an odd container name) must not cost the beat.
      payload = body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    }
  } catch (const std::exception& e) {
    result.error = std::string("could not build the heartbeat body: ") + e.what();
  }
  if (!payload.empty()) {
    result = poster_->post_json(options_.master_url + "/swarm/heartbeat", payload,
                                options_.request_timeout, cancel_);
  }
  if (cancel_) return;  // stopping: a cancelled attempt is neither success nor failure

  const bool ok = result.status >= 200 && result.status < 300;
  const Clock::time_point now = time_.steady_now();
  ResultCallback callback;
  int failures_before = 0;
  bool first_success = false, log_non204 = false, reason_changed = false;
  std::string reason;
  Clock::duration wait{};
  {
    std::lock_guard lock(mutex_);
    callback = on_result_;
    last_attempt_end_ = now;
    failures_before = status_.consecutive_failures;
    status_.last_http_status = result.status;
    if (ok) {
      first_success = status_.sent_ok == 0;
      if (result.status != 204 && !seen_non204_ok_) log_non204 = seen_non204_ok_ = true;
      status_.consecutive_failures = 0;
      ++status_.sent_ok;
      status_.last_success_unix = time_.unix_now();
      wait = jittered(options_.interval);
    } else {
      reason = !result.error.empty() ? result.error : "HTTP " + std::to_string(result.status);
      reason_changed = reason != status_.last_failure_reason;
      ++status_.consecutive_failures;
      ++status_.sent_failed;
      status_.last_failure_unix = time_.unix_now();
      status_.last_failure_reason = reason;
      const int doublings = std::min(status_.consecutive_failures - 1, 30);
      Clock::duration backoff = options_.backoff_initial;
      for (int i = 0; i < doublings && backoff < options_.interval; ++i) backoff *= 2;
      wait = jittered(std::min<Clock::duration>(backoff, options_.interval));
    }
    next_due_ = now + wait;
    status_.next_wait = std::chrono::duration_cast<std::chrono::nanoseconds>(wait);
    status_.next_due_unix =
        time_.unix_now() + std::chrono::duration_cast<std::chrono::seconds>(wait).count();
  }

  const auto wait_ms = std::chrono::duration_cast<std::chrono::milliseconds>(wait).count();
  if (ok) {
    if (failures_before > 0) {
      spdlog::info("heartbeat ok again: master answered {} after {} failed attempt(s)",
                   result.status, failures_before);
    } else if (first_success) {
      spdlog::info("heartbeat ok: master answered {}", result.status);
    }
    if (log_non204) {
      spdlog::warn("master answered {} instead of 204 to a heartbeat; accepted as success",
                   result.status);
    }
  } else if (result.status == 403 || result.status == 404) {
    spdlog::error(
        "master rejected this host: {} - check the host uuid ({}) / cert fingerprint enrolment "
        "on the master; retrying in {} ms",
        reason, options_.host_uuid, wait_ms);
  } else if (failures_before == 0 || reason_changed) {
    spdlog::warn("heartbeat failing: {}; retrying in {} ms (backoff up to {} ms)", reason, wait_ms,
                 options_.interval.count());
  } else {
    spdlog::debug("heartbeat still failing ({} attempts): {}", failures_before + 1, reason);
  }
  if (callback) callback(ok, result.status);
}

}  // namespace edge
