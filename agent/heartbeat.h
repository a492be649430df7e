#pragma once
// Heartbeat to the master (DESIGN §6): POST <master-url>/swarm/heartbeat every
// interval (with jitter), at once (debounced) when nudged, exponential backoff
// on failure. The HTTP side effect sits behind HttpPoster; production uses
// http_call (agent/http_client.h) with mutual TLS.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <random>
#include <string>

#include "agent/tls_files.h"
#include "common/clock.h"
#include "common/thread.h"

namespace edge {
class TlsCredentials;
}

namespace edge {

struct PostResult {
  long status = 0;    // HTTP status; 0 = transport failure (connect, TLS, timeout, cancel, refused)
  std::string error;  // empty on 2xx; otherwise why, for a person (may quote the master's detail)
};

// One JSON POST. Implementations must be safe to call from one thread at a time
// (the heartbeat thread); they never throw.
class HttpPoster {
 public:
  virtual ~HttpPoster() = default;
  // Must return promptly (<~200 ms) once *cancel is true, even if the peer hangs.
  virtual PostResult post_json(const std::string& url, const std::string& body,
                               std::chrono::milliseconds timeout,
                               const std::atomic<bool>& cancel) = 0;
};

// Production poster. https:// requires a complete bundle: the client
// presents tls.cert/tls.key, TLS >= 1.2, and the master's cert must chain to
// tls.ca (and only to it) and match the URL's host. Plain http:// is allowed
// only to a loopback host; anything else is refused without a connection.
// Never fails to construct; configuration problems come back from post_json.
// This one reads the files at each request.
std::unique_ptr<HttpPoster> make_master_poster(const TlsFiles& tls);
// The same, presenting whatever bundle `tls` holds when each request starts
// (from memory: a rotated certificate is used by the next request, and a
// refused reload leaves the last good bundle in use). `tls` may be null
// (plain http:// to a loopback master only).
std::unique_ptr<HttpPoster> make_master_poster(std::shared_ptr<TlsCredentials> tls);

// Empty when `url` is a master URL the poster will use (https://, or
// http:// to localhost/127.0.0.0/8/::1); otherwise the reason, for a person.
// Lets config refuse a bad --master-url at startup instead of at the first beat.
std::string check_master_url(const std::string& url);

struct HeartbeatOptions {
  std::string master_url;  // empty = heartbeat off
  std::string host_uuid;
  std::string agent_version;
  std::chrono::milliseconds interval{30000};
  double jitter = 0.1;  // +-10% on every wait
  std::chrono::milliseconds debounce{250};
  std::chrono::milliseconds request_timeout{10000};
  std::chrono::milliseconds backoff_initial{1000};  // doubles per failure, capped at interval
  std::uint64_t jitter_seed = 0;                    // 0 = from std::random_device
};

struct HeartbeatStatus {
  bool enabled = false;
  std::int64_t last_success_unix = 0;
  std::int64_t last_failure_unix = 0;
  std::string last_failure_reason;
  long last_http_status = 0;  // of the last attempt; 0 = transport failure or none yet
  std::int64_t next_due_unix = 0;
  int consecutive_failures = 0;
  std::uint64_t sent_ok = 0, sent_failed = 0;
  // The wait scheduled after the last attempt (interval or backoff, with
  // jitter); a nudge may cut it short.
  std::chrono::nanoseconds next_wait{0};
};

// Owns one thread ("heartbeat", an OwnedThread). All public methods are
// thread-safe and never block on the network: a slow or dead master delays
// only the heartbeat thread. Every wait and every timestamp comes from the
// injected TimeSource, so a test can move time instead of sleeping.
class HeartbeatLoop {
 public:
  // body() returns the full heartbeat body {"host_uuid","agent_version","status":{...},
  // "topology":{...}} or at least {"status":..., "topology":...} (the loop fills
  // host_uuid/agent_version when missing). Called on the heartbeat thread, once
  // per attempt, so every send carries fresh state. An exception from it counts
  // as a failed attempt.
  using BodyProvider = std::function<nlohmann::json()>;
  using ResultCallback = std::function<void(bool ok, long http_status)>;

  HeartbeatLoop(HeartbeatOptions options, std::unique_ptr<HttpPoster> poster, BodyProvider body,
                TimeSource& time = real_time());
  ~HeartbeatLoop();  // stops
  HeartbeatLoop(const HeartbeatLoop&) = delete;
  HeartbeatLoop& operator=(const HeartbeatLoop&) = delete;

  // Starts the thread; the first heartbeat goes out at once. Without a
  // master_url it logs once "heartbeat off: no --master-url" and does nothing.
  // A second call is a no-op.
  void start();
  // Cancels an in-flight request and joins; prompt even if the master hangs.
  // Idempotent; the loop cannot be restarted.
  void stop();
  // Send soon (after `debounce`; nudges within it coalesce into one send; a
  // nudge during an in-flight request sends once more after it; while failing,
  // at most one nudged send per second). Never blocks the caller.
  void nudge();
  HeartbeatStatus status() const;
  // Called on the heartbeat thread after every attempt (for metrics). Set before start().
  void on_result(ResultCallback cb);

 private:
  using Clock = std::chrono::steady_clock;  // time points come from time_

  void run();
  void send_once();
  Clock::duration jittered(Clock::duration d);
  Clock::time_point deadline_locked() const;

  const HeartbeatOptions options_;
  const std::unique_ptr<HttpPoster> poster_;
  const BodyProvider body_;
  TimeSource& time_;
  ResultCallback on_result_;  // written before start(), read by the thread only

  std::atomic<bool> cancel_{false};
  OwnedThread thread_;   // started and joined by the owner's thread only
  std::mt19937_64 rng_;  // heartbeat thread only

  mutable std::mutex mutex_;  // guards everything below
  std::condition_variable cv_;
  bool started_ = false;
  bool stopping_ = false;
  bool nudge_pending_ = false;
  Clock::time_point nudge_due_{};
  Clock::time_point next_due_{};
  Clock::time_point last_attempt_end_{};
  bool seen_non204_ok_ = false;
  HeartbeatStatus status_;
};

}  // namespace edge
