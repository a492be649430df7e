#pragma once
// One HTTP/1.1 request to the master (or to this host's own agent), over TCP
// and, for https://, mutual TLS: Boost.Beast on the OpenSSL the server
// already links, instead of libcurl and its dependency tree.
//
// Every phase is bounded: the connect by connect_timeout, the whole exchange
// by timeout, and a cancel flag is looked at at least every 50 ms, so a hung
// peer never holds the caller longer than that once it asks to stop. Never
// throws; a failure comes back as status 0 with a reason for a person.
// Thread-safe: each call has its own I/O context; calls may run in parallel.

#include <atomic>
#include <chrono>
#include <memory>
#include <string>

#include "common/status.h"

namespace boost::asio::ssl {
class context;
}

namespace edge {

struct HttpUrl {
  std::string scheme;  // "http" or "https", lowercase
  std::string host;    // without the brackets of an IPv6 literal
  std::string port;    // the URL's, else 80 / 443
  std::string target;  // path and query, "/" when the URL has none
};

// Splits an absolute http:// or https:// URL. Fails with "is not a valid
// absolute URL: <why>" for anything else (no scheme, no host, a bad port,
// spaces or control characters).
Expected<HttpUrl> parse_http_url(const std::string& url);

struct HttpCall {
  std::string method = "GET";
  std::string url;
  std::string body;  // sent as application/json unless empty on a GET
  // Required for https://: what the client presents and trusts.
  std::shared_ptr<boost::asio::ssl::context> tls;
  bool verify_host = true;                   // https: the certificate must name the URL's host
  std::chrono::milliseconds timeout{10000};  // the whole exchange
  std::chrono::milliseconds connect_timeout{5000};  // within `timeout`
  const std::atomic<bool>* cancel = nullptr;
  std::size_t keep_body = 4096;  // bytes of the answer's body kept
};

struct HttpReply {
  long status = 0;    // 0: no answer (connect, TLS, timeout, cancelled)
  std::string body;   // the first keep_body bytes
  std::string error;  // why there was no answer, for a person
  bool cancelled = false;
  bool peer_unverified = false;  // the TLS peer's certificate did not verify
};

HttpReply http_call(const HttpCall& call);

}  // namespace edge
