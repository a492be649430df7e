#include "docker_obs/engine.h"

#include <curl/curl.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cctype>
#include <cstdio>
#include <exception>
#include <memory>
#include <utility>
#include <vector>

namespace edge::docker {
namespace {

// The newest Engine API this client speaks. An engine that speaks a newer one
// still serves this version; an older engine is spoken to in its own version.
constexpr int kMaxApiMajor = 1;
constexpr int kMaxApiMinor = 43;
// Docker 19.03. Older engines lack fields the create bodies rely on.
constexpr int kMinApiMajor = 1;
constexpr int kMinApiMinor = 40;
// A list of every container on a big host is a few MiB; anything far larger
// is a broken engine, not data worth holding.
constexpr std::size_t kMaxBodyBytes = 64u << 20;
// How often a stream looks at its stop flag and idle deadline while idle.
constexpr int kStreamPollMs = 100;
// Idle handles kept for reuse; more than the apply parallelism plus the
// observer's calls would only hold memory and engine connections.
constexpr std::size_t kMaxPooledHandles = 16;

void curl_init_once() {
  static std::once_flag once;
  std::call_once(once, [] {
    CURLcode rc = curl_global_init(CURL_GLOBAL_ALL);
    if (rc != CURLE_OK) {
      spdlog::error("docker: curl_global_init failed: {}", curl_easy_strerror(rc));
    }
  });
}

struct CurlMultiDeleter {
  void operator()(CURLM* m) const { curl_multi_cleanup(m); }
};
struct SlistDeleter {
  void operator()(curl_slist* l) const { curl_slist_free_all(l); }
};
using MultiPtr = std::unique_ptr<CURLM, CurlMultiDeleter>;
using SlistPtr = std::unique_ptr<curl_slist, SlistDeleter>;

bool parse_api_version(const std::string& v, int* major, int* minor) {
  int a = 0, b = 0;
  char tail = 0;
  if (std::sscanf(v.c_str(), "%d.%d%c", &a, &b, &tail) != 2 || a < 0 || b < 0) return false;
  *major = a;
  *minor = b;
  return true;
}

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::string trim(std::string_view s) {
  std::size_t b = 0, e = s.size();
  while (b < e && std::isspace(static_cast<unsigned char>(s[b]))) ++b;
  while (e > b && std::isspace(static_cast<unsigned char>(s[e - 1]))) --e;
  return std::string(s.substr(b, e - b));
}

const char* reason_phrase(long status) {
  switch (status) {
    case 200:
      return "OK";
    case 201:
      return "Created";
    case 204:
      return "No Content";
    case 304:
      return "Not Modified";
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 406:
      return "Not Acceptable";
    case 409:
      return "Conflict";
    case 500:
      return "Internal Server Error";
    case 501:
      return "Not Implemented";
    case 503:
      return "Service Unavailable";
    default:
      return "";
  }
}

// A reason a person can act on, instead of curl's "Failed to connect to
// localhost port 80" (there is no port on a Unix socket).
std::string describe_transport_error(CURLcode rc, const char* errbuf, const std::string& socket,
                                     long timeout_ms) {
  switch (rc) {
    case CURLE_COULDNT_CONNECT:
    case CURLE_COULDNT_RESOLVE_HOST: {
      struct stat st {};
      if (::stat(socket.c_str(), &st) != 0) {
        return "cannot reach the Docker engine: socket " + socket +
               " does not exist (is dockerd running?)";
      }
      if (!S_ISSOCK(st.st_mode)) {
        return "cannot reach the Docker engine: " + socket + " is not a Unix socket";
      }
      if (::access(socket.c_str(), R_OK | W_OK) != 0) {
        return "cannot reach the Docker engine: permission denied on " + socket +
               " (run as root or in the docker group)";
      }
      return "cannot reach the Docker engine: connection refused on " + socket +
             " (is dockerd running?)";
    }
    case CURLE_OPERATION_TIMEDOUT:
      return "the Docker engine at " + socket + " did not answer within " +
             std::to_string(timeout_ms) + " ms";
    case CURLE_GOT_NOTHING:
      return "the Docker engine at " + socket + " closed the connection without answering";
    default: {
      std::string detail = errbuf != nullptr && errbuf[0] != '\0' ? errbuf : curl_easy_strerror(rc);
      return "Docker engine at " + socket + ": " + detail;
    }
  }
}

// Metric label for a call: method plus the path with object ids and names
// replaced by placeholders, so metrics do not grow one series per container.
std::string route_template(const char* method, const std::string& path) {
  std::string p = path.substr(0, path.find('?'));
  std::vector<std::string> segs;
  std::size_t i = 1;
  while (i <= p.size()) {
    std::size_t j = p.find('/', i);
    if (j == std::string::npos) j = p.size();
    segs.push_back(p.substr(i, j - i));
    i = j + 1;
  }
  if (segs.size() >= 2 && (segs[0] == "containers" || segs[0] == "networks" ||
                           segs[0] == "volumes" || segs[0] == "exec")) {
    static const char* kVerbs[] = {"json", "create", "prune"};
    bool verb = false;
    for (const char* v : kVerbs) verb = verb || segs[1] == v;
    if (!verb) segs[1] = "{id}";
  } else if (segs.size() >= 2 && segs[0] == "images") {
    static const char* kVerbs[] = {"json", "create", "prune", "search", "load", "get"};
    bool verb = false;
    for (const char* v : kVerbs) verb = verb || segs[1] == v;
    if (!verb) {
      // Image names contain '/', so everything up to a known trailing verb is the name.
      std::string last = segs.back();
      bool tail = segs.size() > 2 && (last == "json" || last == "history" || last == "push" ||
                                      last == "tag" || last == "get");
      segs = {"images", "{name}"};
      if (tail) segs.push_back(last);
    }
  }
  std::string out = std::string(method) + " ";
  for (const auto& s : segs) out += "/" + s;
  return out;
}

size_t append_body(char* data, size_t size, size_t nmemb, void* userp) {
  auto* body = static_cast<std::string*>(userp);
  size_t n = size * nmemb;
  if (body->size() + n > kMaxBodyBytes) return 0;  // aborts with CURLE_WRITE_ERROR
  body->append(data, n);
  return n;
}

size_t capture_api_version(char* data, size_t size, size_t nitems, void* userp) {
  size_t n = size * nitems;
  std::string_view line(data, n);
  auto colon = line.find(':');
  if (colon != std::string_view::npos &&
      lower(std::string(line.substr(0, colon))) == "api-version") {
    *static_cast<std::string*>(userp) = trim(line.substr(colon + 1));
  }
  return n;
}

struct Transfer {
  std::string body;
  std::string api_version_header;
  char errbuf[CURL_ERROR_SIZE] = {0};
  std::string content_type;
};

// Sets what every call needs on a fresh or reset handle: the socket, the URL,
// timeouts, no signals.
void setup_handle(CURL* c, const EngineOptions& o, const std::string& url_path, Transfer* t) {
  curl_easy_setopt(c, CURLOPT_UNIX_SOCKET_PATH, o.socket_path.c_str());
  std::string url = "http://localhost" + url_path;
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());  // libcurl copies the string
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(o.connect_timeout.count()));
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, t->errbuf);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, append_body);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &t->body);
  curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, capture_api_version);
  curl_easy_setopt(c, CURLOPT_HEADERDATA, &t->api_version_header);
  curl_easy_setopt(c, CURLOPT_USERAGENT, "edge-agent");
}

}  // namespace

std::string EngineResponse::message() const {
  if (status == 0) {
    return transport_error.empty() ? "no answer from the Docker engine" : transport_error;
  }
  std::string status_text = "HTTP " + std::to_string(status);
  if (const char* phrase = reason_phrase(status); phrase[0] != '\0') {
    status_text += std::string(" ") + phrase;
  }
  nlohmann::json j = json();
  if (j.is_object()) {
    auto it = j.find("message");
    if (it != j.end() && it->is_string() && !it->get<std::string>().empty()) {
      return it->get<std::string>() + " (" + status_text + ")";
    }
  }
  if (status == 304) return status_text + ": the object is already in that state";
  std::string text = trim(body);
  if (!text.empty() && !j.is_structured()) {
    if (text.size() > 200) text = text.substr(0, 200) + "...";
    return status_text + ": " + text;
  }
  return status_text;
}

nlohmann::json EngineResponse::json() const {
  if (body.empty()) return nullptr;
  nlohmann::json j = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return nullptr;
  return j;
}

DockerEngine::DockerEngine(EngineOptions options) : options_(std::move(options)) {
  curl_init_once();
}

DockerEngine::~DockerEngine() {
  std::lock_guard<std::mutex> lock(pool_mu_);
  for (void* h : pool_) curl_easy_cleanup(static_cast<CURL*>(h));
  pool_.clear();
}

void* DockerEngine::acquire_handle() {
  {
    std::lock_guard<std::mutex> lock(pool_mu_);
    if (!pool_.empty()) {
      void* h = pool_.back();
      pool_.pop_back();
      return h;
    }
  }
  return curl_easy_init();
}

void DockerEngine::release_handle(void* handle) {
  if (handle == nullptr) return;
  auto* c = static_cast<CURL*>(handle);
  // Forgets every option (they point into the finished call's buffers) but
  // keeps the live connection for the next call.
  curl_easy_reset(c);
  {
    std::lock_guard<std::mutex> lock(pool_mu_);
    if (pool_.size() < kMaxPooledHandles) {
      pool_.push_back(c);
      return;
    }
  }
  curl_easy_cleanup(c);
}

std::size_t DockerEngine::pooled_handles() const {
  std::lock_guard<std::mutex> lock(pool_mu_);
  return pool_.size();
}

StreamProgress DockerEngine::progress() const {
  StreamProgress p;
  p.active = streams_active_.load();
  p.last_bytes =
      std::chrono::steady_clock::time_point(std::chrono::nanoseconds(last_stream_bytes_ns_.load()));
  return p;
}

std::string DockerEngine::api_version() const {
  std::lock_guard<std::mutex> lock(mu_);
  return api_version_;
}

std::string DockerEngine::engine_version() const {
  std::lock_guard<std::mutex> lock(mu_);
  return engine_version_;
}

namespace {

// One plain request/response exchange on a borrowed handle.
EngineResponse perform(CURL* c, const EngineOptions& o, const char* method,
                       const std::string& url_path, const std::string* body,
                       std::string* api_version_header) {
  EngineResponse r;
  Transfer t;
  if (c == nullptr) {
    r.transport_error = "cannot allocate a curl handle";
    return r;
  }
  setup_handle(c, o, url_path, &t);
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, static_cast<long>(o.call_timeout.count()));
  SlistPtr headers;
  std::string m = method;
  if (m == "POST") {
    curl_easy_setopt(c, CURLOPT_POST, 1L);
    if (body != nullptr) {
      curl_easy_setopt(c, CURLOPT_POSTFIELDS, body->data());
      curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body->size()));
      headers.reset(curl_slist_append(headers.release(), "Content-Type: application/json"));
    } else {
      curl_easy_setopt(c, CURLOPT_POSTFIELDS, "");
      curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(0));
    }
    headers.reset(curl_slist_append(headers.release(), "Expect:"));
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers.get());
  } else if (m != "GET") {
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
  }
  CURLcode rc = curl_easy_perform(c);
  if (rc != CURLE_OK) {
    r.transport_error = describe_transport_error(rc, t.errbuf, o.socket_path,
                                                 static_cast<long>(o.call_timeout.count()));
    return r;
  }
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r.status);
  r.body = std::move(t.body);
  if (api_version_header != nullptr) *api_version_header = t.api_version_header;
  return r;
}

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace

bool DockerEngine::negotiate(std::string* error) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!api_version_.empty()) return true;
  }
  auto report = [this](const std::string& route, bool ok, double s) {
    if (options_.on_call) options_.on_call(route, ok, s);
  };
  auto call = [this](const char* method, const std::string& path, std::string* api_header) {
    void* h = acquire_handle();
    EngineResponse r = perform(static_cast<CURL*>(h), options_, method, path, nullptr, api_header);
    release_handle(h);
    return r;
  };
  auto start = std::chrono::steady_clock::now();
  std::string api;
  EngineResponse ping = call("GET", "/_ping", &api);
  report("GET /_ping", ping.ok(), seconds_since(start));
  if (ping.status == 0) {
    if (error != nullptr) *error = ping.message();
    return false;
  }
  start = std::chrono::steady_clock::now();
  EngineResponse ver = call("GET", "/version", nullptr);
  report("GET /version", ver.ok(), seconds_since(start));
  std::string engine;
  if (ver.ok()) {
    nlohmann::json j = ver.json();
    if (j.is_object()) {
      if (api.empty() && j.contains("ApiVersion") && j["ApiVersion"].is_string()) {
        api = j["ApiVersion"].get<std::string>();
      }
      if (j.contains("Version") && j["Version"].is_string())
        engine = j["Version"].get<std::string>();
    }
  }
  int major = 0, minor = 0;
  if (api.empty() || !parse_api_version(api, &major, &minor)) {
    if (error != nullptr) {
      *error = "the Docker engine at " + options_.socket_path +
               " did not report a usable API version (" +
               (ver.ok() ? "got '" + api + "'" : ver.message()) + ")";
    }
    return false;
  }
  if (std::pair(major, minor) < std::pair(kMinApiMajor, kMinApiMinor)) {
    if (error != nullptr) {
      *error = "the Docker engine at " + options_.socket_path + " speaks API " + api +
               "; edge-agent needs at least " + std::to_string(kMinApiMajor) + "." +
               std::to_string(kMinApiMinor) + " (Docker 19.03)";
    }
    return false;
  }
  if (std::pair(major, minor) > std::pair(kMaxApiMajor, kMaxApiMinor)) {
    major = kMaxApiMajor;
    minor = kMaxApiMinor;
  }
  std::string chosen = std::to_string(major) + "." + std::to_string(minor);
  bool first = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (api_version_.empty()) {
      first = true;
      api_version_ = chosen;
      engine_version_ = engine;
    }
  }
  if (first) {
    spdlog::info("docker: engine {} at {}, speaking API {} (engine offers {})",
                 engine.empty() ? "(version unknown)" : engine, options_.socket_path, chosen, api);
  }
  return true;
}

EngineResponse DockerEngine::request(const char* method, const std::string& path,
                                     const std::string* body, const std::string& route) {
  const std::string label = route.empty() ? route_template(method, path) : route;
  auto start = std::chrono::steady_clock::now();
  EngineResponse r;
  std::string error;
  if (!negotiate(&error)) {
    r.transport_error = error;
  } else {
    void* h = acquire_handle();
    r = perform(static_cast<CURL*>(h), options_, method, "/v" + api_version() + path, body,
                nullptr);
    release_handle(h);
  }
  if (options_.on_call) options_.on_call(label, r.ok(), seconds_since(start));
  return r;
}

EngineResponse DockerEngine::get(const std::string& path, const std::string& route) {
  return request("GET", path, nullptr, route);
}

EngineResponse DockerEngine::post(const std::string& path, const nlohmann::json& body,
                                  const std::string& route) {
  if (body.is_null()) return request("POST", path, nullptr, route);
  // replace: a stray invalid UTF-8 byte must not throw out of the engine client.
  std::string text = body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  return request("POST", path, &text, route);
}

EngineResponse DockerEngine::del(const std::string& path, const std::string& route) {
  return request("DELETE", path, nullptr, route);
}

namespace {

std::int64_t steady_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

std::string describe_duration(std::chrono::milliseconds d) {
  if (d.count() % 1000 == 0) return std::to_string(d.count() / 1000) + " s";
  return std::to_string(d.count()) + " ms";
}

struct StreamState {
  CURL* handle = nullptr;
  const std::function<void(std::string_view)>* on_line = nullptr;
  std::string pending;     // bytes after the last newline
  std::string error_body;  // body of a non-200 answer
  std::string callback_error;
  std::int64_t last_bytes_ns = 0;               // when this stream last received bytes
  std::atomic<std::int64_t>* shared = nullptr;  // the engine's progress() clock
};

size_t stream_write(char* data, size_t size, size_t nmemb, void* userp) {
  auto* s = static_cast<StreamState*>(userp);
  size_t n = size * nmemb;
  s->last_bytes_ns = steady_ns();
  if (s->shared != nullptr) s->shared->store(s->last_bytes_ns);
  long code = 0;
  curl_easy_getinfo(s->handle, CURLINFO_RESPONSE_CODE, &code);
  if (code != 200) {
    if (s->error_body.size() + n > 1u << 20) return 0;
    s->error_body.append(data, n);
    return n;
  }
  s->pending.append(data, n);
  if (s->pending.size() > kMaxBodyBytes) return 0;  // a "line" this long is not an event
  try {
    std::size_t start = 0;
    for (std::size_t nl = s->pending.find('\n'); nl != std::string::npos;
         nl = s->pending.find('\n', start)) {
      std::string_view line(s->pending.data() + start, nl - start);
      if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
      if (!line.empty()) (*s->on_line)(line);
      start = nl + 1;
    }
    s->pending.erase(0, start);
  } catch (const std::exception& e) {
    // An exception must not unwind through libcurl's C frames: end the stream.
    s->callback_error = e.what();
    return 0;
  }
  return n;
}

// Headers are bytes from the engine too: they count against the idle timeout.
size_t stream_header(char*, size_t size, size_t nitems, void* userp) {
  auto* s = static_cast<StreamState*>(userp);
  s->last_bytes_ns = steady_ns();
  if (s->shared != nullptr) s->shared->store(s->last_bytes_ns);
  return size * nitems;
}

}  // namespace

EngineResponse DockerEngine::stream_lines(const std::string& path,
                                          const std::function<void(std::string_view line)>& on_line,
                                          const std::atomic<bool>& stop) {
  // No idle timeout: an events stream is quiet for hours on a quiet host. A
  // dead engine closes the socket (EOF); a hung one is caught by the caller's
  // periodic re-list, which has timeouts.
  return stream("GET", path, on_line, std::chrono::milliseconds(0), stop, "");
}

EngineResponse DockerEngine::stream_post(const std::string& path,
                                         const std::function<void(std::string_view line)>& on_line,
                                         std::chrono::milliseconds idle_timeout,
                                         const std::atomic<bool>& stop, const std::string& route) {
  streams_active_.fetch_add(1);
  last_stream_bytes_ns_.store(steady_ns());  // starting counts as progress
  EngineResponse r = stream("POST", path, on_line, idle_timeout, stop, route);
  streams_active_.fetch_sub(1);
  return r;
}

EngineResponse DockerEngine::stream(const char* method, const std::string& path,
                                    const std::function<void(std::string_view line)>& on_line,
                                    std::chrono::milliseconds idle_timeout,
                                    const std::atomic<bool>& stop, const std::string& route) {
  const bool post = std::string_view(method) == "POST";
  const std::string label = route.empty() ? route_template(method, path) : route;
  auto start = std::chrono::steady_clock::now();
  EngineResponse r;
  auto finish = [&]() {
    if (options_.on_call) {
      options_.on_call(label, r.ok() && r.transport_error.empty(), seconds_since(start));
    }
    return r;
  };
  std::string error;
  if (!negotiate(&error)) {
    r.transport_error = error;
    return finish();
  }
  Transfer t;
  auto* h = static_cast<CURL*>(acquire_handle());
  MultiPtr m(curl_multi_init());
  if (h == nullptr || !m) {
    release_handle(h);
    r.transport_error = "cannot allocate a curl handle";
    return finish();
  }
  setup_handle(h, options_, "/v" + api_version() + path, &t);
  StreamState st;
  st.handle = h;
  st.on_line = &on_line;
  st.last_bytes_ns = steady_ns();
  if (post) st.shared = &last_stream_bytes_ns_;
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, stream_write);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, &st);
  curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, stream_header);
  curl_easy_setopt(h, CURLOPT_HEADERDATA, &st);
  SlistPtr headers;
  if (post) {
    curl_easy_setopt(h, CURLOPT_POST, 1L);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, "");
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(0));
    headers.reset(curl_slist_append(headers.release(), "Expect:"));
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers.get());
  }
  curl_multi_add_handle(m.get(), h);

  bool stopped = false;
  bool idle = false;
  CURLcode result = CURLE_OK;
  bool done = false;
  while (!done) {
    if (stop.load()) {
      stopped = true;
      break;
    }
    if (idle_timeout.count() > 0 &&
        steady_ns() - st.last_bytes_ns >
            std::chrono::duration_cast<std::chrono::nanoseconds>(idle_timeout).count()) {
      idle = true;
      break;
    }
    int running = 0;
    CURLMcode mc = curl_multi_perform(m.get(), &running);
    if (mc != CURLM_OK) {
      r.transport_error = "Docker " + label + " stream: " + curl_multi_strerror(mc);
      break;
    }
    int queued = 0;
    while (CURLMsg* msg = curl_multi_info_read(m.get(), &queued)) {
      if (msg->msg == CURLMSG_DONE) {
        result = msg->data.result;
        done = true;
      }
    }
    if (done || running == 0) break;
    curl_multi_poll(m.get(), nullptr, 0, kStreamPollMs, nullptr);
  }
  curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &r.status);
  curl_multi_remove_handle(m.get(), h);
  release_handle(h);

  if (!st.callback_error.empty()) {
    r.transport_error = "stream line handler failed: " + st.callback_error;
  } else if (idle) {
    r.transport_error = "the Docker engine at " + options_.socket_path + " sent nothing on " +
                        label + " for " + describe_duration(idle_timeout) + " (idle timeout)";
  } else if (!stopped && result != CURLE_OK && r.transport_error.empty()) {
    r.transport_error =
        describe_transport_error(result, t.errbuf, options_.socket_path,
                                 static_cast<long>(options_.connect_timeout.count()));
    if (r.status == 200) r.transport_error = label + " stream broke: " + r.transport_error;
  }
  if (r.status != 200) {
    r.body = std::move(st.error_body);
  }
  if (!r.transport_error.empty()) r.status = 0;
  return finish();
}

std::string url_encode(std::string_view s) {
  static const char* kHex = "0123456789ABCDEF";
  std::string out;
  out.reserve(s.size() * 3);
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  return out;
}

}  // namespace edge::docker
