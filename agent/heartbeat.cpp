#include "agent/heartbeat.h"

#include <curl/curl.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cctype>
#include <utility>

#include "agent/tls_credentials.h"
#include "common/text.h"

namespace edge {

namespace {

constexpr std::size_t kMaxResponseKept = 4096;  // enough for a {"detail": ...}
constexpr std::chrono::milliseconds kPollSlice{50};
constexpr std::chrono::milliseconds kMaxConnectTimeout{5000};
constexpr std::chrono::seconds kFailingNudgeGap{1};

void ensure_curl_global_init() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

struct UrlParts {
  std::string scheme, host, error;
};

UrlParts parse_url(const std::string& url) {
  UrlParts out;
  std::unique_ptr<CURLU, decltype(&curl_url_cleanup)> h(curl_url(), &curl_url_cleanup);
  if (!h) {
    out.error = "out of memory parsing the master URL";
    return out;
  }
  CURLUcode rc = curl_url_set(h.get(), CURLUPART_URL, url.c_str(), 0);
  if (rc != CURLUE_OK) {
    out.error = "master URL '" + url + "' is not a valid absolute URL: " + curl_url_strerror(rc);
    return out;
  }
  auto get = [&](CURLUPart part, std::string& into) {
    char* value = nullptr;
    if (curl_url_get(h.get(), part, &value, 0) == CURLUE_OK && value != nullptr) {
      into = value;
      curl_free(value);
    }
  };
  get(CURLUPART_SCHEME, out.scheme);
  get(CURLUPART_HOST, out.host);
  return out;
}

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

class CurlPoster final : public HttpPoster {
 public:
  explicit CurlPoster(TlsFiles tls) : tls_(std::move(tls)) { ensure_curl_global_init(); }
  explicit CurlPoster(std::shared_ptr<TlsCredentials> creds)
      : tls_(creds ? creds->files() : TlsFiles{}), creds_(std::move(creds)) {
    ensure_curl_global_init();
  }

  PostResult post_json(const std::string& url, const std::string& body,
                       std::chrono::milliseconds timeout,
                       const std::atomic<bool>& cancel) override {
    if (std::string why = check_master_url(url); !why.empty()) return {0, why};
    const bool https = parse_url(url).scheme == "https";
    if (https && !tls_.complete()) {
      return {0,
              "an https:// master needs the mTLS bundle: set --tls-cert, --tls-key and --tls-ca"};
    }

    std::unique_ptr<CURL, decltype(&curl_easy_cleanup)> easy(curl_easy_init(), &curl_easy_cleanup);
    std::unique_ptr<CURLM, decltype(&curl_multi_cleanup)> multi(curl_multi_init(),
                                                                &curl_multi_cleanup);
    if (!easy || !multi) return {0, "libcurl could not allocate a handle"};

    curl_slist* raw_headers = nullptr;
    for (const char* h :
         {"Content-Type: application/json", "Accept: application/json", "Expect:"}) {
      raw_headers = curl_slist_append(raw_headers, h);
    }
    std::unique_ptr<curl_slist, decltype(&curl_slist_free_all)> headers(raw_headers,
                                                                        &curl_slist_free_all);
    Transfer xfer{&cancel, {}};
    char errbuf[CURL_ERROR_SIZE] = {0};
    CURL* c = easy.get();
    curl_easy_setopt(c, CURLOPT_URL, url.c_str());
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_POST, 1L);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body.data());
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers.get());
    curl_easy_setopt(c, CURLOPT_USERAGENT, "edge-agent");
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, static_cast<long>(timeout.count()));
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS,
                     static_cast<long>(std::min(timeout, kMaxConnectTimeout).count()));
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, &CurlPoster::on_write);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &xfer);
    curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, &CurlPoster::on_progress);
    curl_easy_setopt(c, CURLOPT_XFERINFODATA, &xfer);
    // The bundle this request presents; held until the request ends.
    std::shared_ptr<const TlsBundle> bundle = creds_ ? creds_->current() : nullptr;
    if (https) {
      curl_easy_setopt(c, CURLOPT_SSLVERSION, static_cast<long>(CURL_SSLVERSION_TLSv1_2));
      curl_easy_setopt(c, CURLOPT_SSLCERTTYPE, "PEM");
      curl_easy_setopt(c, CURLOPT_SSLKEYTYPE, "PEM");
      if (bundle) {
        // From memory (libcurl copies blobs): the last bundle that loaded.
        auto blob = [](const std::string& pem) {
          return curl_blob{const_cast<char*>(pem.data()), pem.size(), CURL_BLOB_COPY};
        };
        curl_blob cert = blob(bundle->cert_pem), key = blob(bundle->key_pem),
                  ca = blob(bundle->ca_pem);
        curl_easy_setopt(c, CURLOPT_SSLCERT_BLOB, &cert);
        curl_easy_setopt(c, CURLOPT_SSLKEY_BLOB, &key);
        curl_easy_setopt(c, CURLOPT_CAINFO_BLOB, &ca);
        curl_easy_setopt(c, CURLOPT_CAINFO, nullptr);
      } else {
        curl_easy_setopt(c, CURLOPT_SSLCERT, tls_.cert.c_str());
        curl_easy_setopt(c, CURLOPT_SSLKEY, tls_.key.c_str());
        curl_easy_setopt(c, CURLOPT_CAINFO, tls_.ca.c_str());
      }
      // Trust exactly our CA: no system bundle, no CA directory.
      curl_easy_setopt(c, CURLOPT_CAPATH, nullptr);
      curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
      curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
    }

    // The multi interface, polled in short slices, so cancel is noticed within
    // ~50 ms in every phase (DNS, connect, TLS, waiting for the answer); the
    // progress callback alone may only run once a second while idle.
    curl_multi_add_handle(multi.get(), c);
    int running = 1;
    bool cancelled = false;
    std::string multi_error;
    while (true) {
      CURLMcode mc = curl_multi_perform(multi.get(), &running);
      if (mc != CURLM_OK) {
        multi_error = curl_multi_strerror(mc);
        break;
      }
      if (running == 0) break;
      if (cancel.load()) {
        cancelled = true;
        break;
      }
      mc = curl_multi_poll(multi.get(), nullptr, 0, static_cast<int>(kPollSlice.count()), nullptr);
      if (mc != CURLM_OK) {
        multi_error = curl_multi_strerror(mc);
        break;
      }
    }
    CURLcode result = CURLE_OK;
    int queued = 0;
    while (CURLMsg* msg = curl_multi_info_read(multi.get(), &queued)) {
      if (msg->msg == CURLMSG_DONE) result = msg->data.result;
    }
    curl_multi_remove_handle(multi.get(), c);

    if (cancelled || result == CURLE_ABORTED_BY_CALLBACK)
      return {0, "cancelled: the heartbeat is stopping"};
    if (!multi_error.empty()) return {0, "libcurl: " + multi_error};
    if (result != CURLE_OK) {
      std::string why = curl_easy_strerror(result);
      if (errbuf[0] != '\0') why += std::string(": ") + errbuf;
      return {0, why};
    }
    long status = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    if (status >= 200 && status < 300) return {status, ""};
    return {status, describe_response(status, xfer.response)};
  }

 private:
  struct Transfer {
    const std::atomic<bool>* cancel;
    std::string response;
  };

  static size_t on_write(char* data, size_t size, size_t nmemb, void* user) {
    auto* xfer = static_cast<Transfer*>(user);
    const size_t n = size * nmemb;
    if (xfer->response.size() < kMaxResponseKept) {
      xfer->response.append(data, std::min(n, kMaxResponseKept - xfer->response.size()));
    }
    return n;
  }

  static int on_progress(void* user, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
    return static_cast<Transfer*>(user)->cancel->load() ? 1 : 0;
  }

  const TlsFiles tls_;
  const std::shared_ptr<TlsCredentials> creds_;  // null: files read per request
};

}  // namespace

std::string check_master_url(const std::string& url) {
  if (url.empty()) return "no master URL configured";
  ensure_curl_global_init();
  UrlParts parts = parse_url(url);
  if (!parts.error.empty()) return parts.error;
  if (parts.scheme == "https") return "";
  if (parts.scheme == "http") {
    if (is_loopback_host(parts.host)) return "";
    return "refusing plaintext http:// to non-loopback master host '" + parts.host +
           "': use https:// with --tls-cert, --tls-key and --tls-ca";
  }
  return "master URL scheme '" + parts.scheme + "' is not supported: use https://";
}

std::unique_ptr<HttpPoster> make_curl_poster(const TlsFiles& tls) {
  return std::make_unique<CurlPoster>(tls);
}

std::unique_ptr<HttpPoster> make_curl_poster(std::shared_ptr<TlsCredentials> tls) {
  return std::make_unique<CurlPoster>(std::move(tls));
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
