#include "agent/http_client.h"

#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <cctype>
#include <optional>

namespace edge {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using ErrorCode = boost::system::error_code;
using Clock = std::chrono::steady_clock;

// How often a blocked phase looks at the cancel flag.
constexpr std::chrono::milliseconds kPollSlice{50};
// An answer's head; the master's are a few hundred bytes.
constexpr std::uint32_t kHeaderLimit = 16u << 10;
// Read (and dropped beyond keep_body) before an over-long answer is cut off.
constexpr std::uint64_t kBodyLimit = 1u << 20;
// A close_notify exchange is a courtesy; it never holds a caller long.
constexpr std::chrono::milliseconds kShutdownTime{250};

bool is_ip_literal(const std::string& host) {
  ErrorCode ec;
  asio::ip::make_address(host, ec);
  return !ec;
}

// Runs the I/O context until `done` is set, cancelling through `abort` once
// the caller's flag is up. Every operation here is bounded by its stream's
// expiry, so this always returns.
class Runner {
 public:
  Runner(asio::io_context& ioc, const std::atomic<bool>* cancel) : ioc_(ioc), cancel_(cancel) {}

  template <class Start, class Abort>
  ErrorCode run(Start&& start, Abort&& abort) {
    std::optional<ErrorCode> result;
    start([&result](ErrorCode ec) { result = ec; });
    ioc_.restart();
    while (!result) {
      ioc_.run_for(kPollSlice);
      if (!result && !cancelled_ && cancel_ != nullptr && cancel_->load()) {
        cancelled_ = true;
        abort();
      }
    }
    return cancelled_ ? ErrorCode(asio::error::operation_aborted) : *result;
  }
  bool cancelled() const { return cancelled_; }

 private:
  asio::io_context& ioc_;
  const std::atomic<bool>* cancel_;
  bool cancelled_ = false;
};

std::string describe(const ErrorCode& ec, const std::string& what,
                     std::chrono::milliseconds timeout) {
  if (ec == beast::error::timeout) {
    return what + ": no answer within " + std::to_string(timeout.count()) + " ms";
  }
  return what + ": " + ec.message();
}

// Sends the request on `stream` and reads the answer into `out`.
template <class Stream>
void exchange(Runner& runner, Stream& stream, beast::tcp_stream& lowest,
              const http::request<http::string_body>& req, const HttpCall& call,
              const std::string& where, HttpReply& out) {
  auto abort = [&lowest] { lowest.cancel(); };
  ErrorCode ec = runner.run(
      [&](auto done) {
        http::async_write(stream, req, [done](ErrorCode e, std::size_t) { done(e); });
      },
      abort);
  if (ec) {
    out.error = describe(ec, "sending the request to " + where, call.timeout);
    return;
  }
  beast::flat_buffer buffer;
  http::response_parser<http::string_body> parser;
  parser.header_limit(kHeaderLimit);
  parser.body_limit(kBodyLimit);
  ec = runner.run(
      [&](auto done) {
        http::async_read(stream, buffer, parser, [done](ErrorCode e, std::size_t) { done(e); });
      },
      abort);
  // A body cut off past the limit still carries a whole status line.
  if (ec && !(parser.is_header_done() && ec == http::error::body_limit)) {
    out.error = describe(ec, where + " did not answer", call.timeout);
    return;
  }
  out.status = parser.get().result_int();
  out.body = std::move(parser.get().body());
  if (out.body.size() > call.keep_body) out.body.resize(call.keep_body);
}

}  // namespace

Expected<HttpUrl> parse_http_url(const std::string& url) {
  auto invalid = [&url](const std::string& why) -> Status {
    return Status::failure("master URL '" + url + "' is not a valid absolute URL: " + why);
  };
  for (unsigned char c : url) {
    if (c <= 0x20 || c == 0x7f) return invalid("it contains a space or a control character");
  }
  const std::size_t sep = url.find("://");
  if (sep == std::string::npos || sep == 0) return invalid("it has no scheme (https://...)");
  HttpUrl out;
  for (char c : url.substr(0, sep)) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '+' && c != '-' && c != '.') {
      return invalid("the scheme is malformed");
    }
    out.scheme += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  const std::size_t auth_begin = sep + 3;
  const std::size_t auth_end = url.find_first_of("/?#", auth_begin);
  const std::string authority =
      url.substr(auth_begin, (auth_end == std::string::npos ? url.size() : auth_end) - auth_begin);
  if (authority.find('@') != std::string::npos) {
    return invalid("credentials in the URL are not supported");
  }
  std::string port;
  if (!authority.empty() && authority.front() == '[') {
    const std::size_t close = authority.find(']');
    if (close == std::string::npos) return invalid("an IPv6 address is missing its ']'");
    out.host = authority.substr(1, close - 1);
    const std::string rest = authority.substr(close + 1);
    if (!rest.empty() && rest.front() != ':') return invalid("junk after the IPv6 address");
    if (!rest.empty()) port = rest.substr(1);
  } else {
    const std::size_t colon = authority.find(':');
    out.host = authority.substr(0, colon);
    if (colon != std::string::npos) port = authority.substr(colon + 1);
  }
  if (out.host.empty()) return invalid("it has no host");
  if (!port.empty() || authority.back() == ':') {
    bool digits = !port.empty() && port.size() <= 5 &&
                  std::all_of(port.begin(), port.end(),
                              [](char c) { return std::isdigit(static_cast<unsigned char>(c)); });
    if (!digits || std::stoi(port) < 1 || std::stoi(port) > 65535) {
      return invalid("the port is not a number from 1 to 65535");
    }
    out.port = port;
  } else if (out.scheme == "https") {
    out.port = "443";
  } else if (out.scheme == "http") {
    out.port = "80";
  }
  if (auth_end != std::string::npos) {
    out.target = url.substr(auth_end, url.find('#', auth_end) - auth_end);
  }
  if (out.target.empty() || out.target.front() != '/') out.target.insert(0, "/");
  return out;
}

HttpReply http_call(const HttpCall& call) {
  HttpReply out;
  auto url = parse_http_url(call.url);
  if (!url) {
    out.error = url.error().message();
    return out;
  }
  const bool https = url->scheme == "https";
  if (!https && url->scheme != "http") {
    out.error = "URL scheme '" + url->scheme + "' is not supported";
    return out;
  }
  if (https && !call.tls) {
    out.error = "an https:// URL needs the TLS bundle";
    return out;
  }
  const bool ipv6 = url->host.find(':') != std::string::npos;
  const std::string where = (ipv6 ? "[" + url->host + "]" : url->host) + ":" + url->port;
  const auto deadline = Clock::now() + call.timeout;

  asio::io_context ioc;
  Runner runner(ioc, call.cancel);
  auto finish = [&]() {
    if (runner.cancelled()) {
      out = HttpReply{};
      out.cancelled = true;
      out.error = "cancelled";
    }
    return out;
  };

  // An address is used as it is; a name is resolved (on Asio's resolver thread).
  tcp::resolver::results_type endpoints;
  tcp::resolver resolver(ioc);
  ErrorCode ec = runner.run(
      [&](auto done) {
        resolver.async_resolve(url->host, url->port, tcp::resolver::numeric_service,
                               [&endpoints, done](ErrorCode e, tcp::resolver::results_type r) {
                                 endpoints = std::move(r);
                                 done(e);
                               });
      },
      [&resolver] { resolver.cancel(); });
  if (ec) {
    out.error = "cannot resolve " + url->host + ": " + ec.message();
    return finish();
  }

  std::optional<beast::ssl_stream<beast::tcp_stream>> tls;
  std::optional<beast::tcp_stream> plain;
  if (https) {
    tls.emplace(ioc, *call.tls);
  } else {
    plain.emplace(ioc);
  }
  beast::tcp_stream& lowest = https ? beast::get_lowest_layer(*tls) : *plain;
  auto abort = [&lowest] { lowest.cancel(); };

  lowest.expires_at(std::min(deadline, Clock::now() + call.connect_timeout));
  ec = runner.run(
      [&](auto done) {
        lowest.async_connect(endpoints, [done](ErrorCode e, const tcp::endpoint&) { done(e); });
      },
      abort);
  if (ec) {
    out.error =
        describe(ec, "cannot connect to " + where, std::min(call.timeout, call.connect_timeout));
    return finish();
  }
  lowest.expires_at(deadline);

  http::request<http::string_body> req{http::string_to_verb(call.method), url->target, 11};
  req.set(http::field::host, url->port == (https ? "443" : "80") ? url->host : where);
  req.set(http::field::user_agent, "edge-agent");
  req.set(http::field::accept, "application/json");
  if (!call.body.empty() || req.method() == http::verb::post) {
    req.set(http::field::content_type, "application/json");
    req.body() = call.body;
  }
  req.prepare_payload();

  if (!https) {
    exchange(runner, *plain, lowest, req, call, where, out);
    ErrorCode ignored;
    plain->socket().shutdown(tcp::socket::shutdown_both, ignored);
    return finish();
  }

  SSL* ssl = tls->native_handle();
  if (!is_ip_literal(url->host)) SSL_set_tlsext_host_name(ssl, url->host.c_str());
  if (call.verify_host) {
    if (is_ip_literal(url->host)) {
      X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), url->host.c_str());
    } else {
      SSL_set1_host(ssl, url->host.c_str());
    }
  }
  ec = runner.run(
      [&](auto done) {
        tls->async_handshake(asio::ssl::stream_base::client, [done](ErrorCode e) { done(e); });
      },
      abort);
  if (ec) {
    const long verify = SSL_get_verify_result(ssl);
    if (verify != X509_V_OK) {
      out.peer_unverified = true;
      out.error = "TLS handshake with " + where + " failed: its certificate did not verify (" +
                  X509_verify_cert_error_string(verify) + ")";
    } else {
      out.error = describe(ec, "TLS handshake with " + where + " failed", call.timeout);
    }
    return finish();
  }
  exchange(runner, *tls, lowest, req, call, where, out);
  if (!runner.cancelled() && out.error.empty()) {
    // close_notify, so the peer sees a clean end and not a truncation.
    lowest.expires_after(kShutdownTime);
    runner.run([&](auto done) { tls->async_shutdown([done](ErrorCode e) { done(e); }); }, abort);
  }
  return finish();
}

}  // namespace edge
