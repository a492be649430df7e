#include "agent/tls_credentials.h"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <spdlog/spdlog.h>

#include <boost/asio/ssl/context.hpp>
#include <chrono>
#include <ctime>
#include <fstream>
#include <sstream>

#include "agent/metrics.h"
#include "common/text.h"

namespace edge {
namespace {

namespace ssl = boost::asio::ssl;

constexpr std::int64_t kDay = 24 * 3600;

std::string ssl_error_text() {
  unsigned long e = ERR_get_error();
  ERR_clear_error();
  if (e == 0) return "no OpenSSL detail";
  char buf[256];
  ERR_error_string_n(e, buf, sizeof buf);
  return buf;
}

Expected<std::string> read_whole(const std::string& path, const char* flag) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::failure(std::string("cannot read ") + flag + " '" + path + "'");
  std::stringstream ss;
  ss << in.rdbuf();
  if (ss.str().empty()) return Status::failure(std::string(flag) + " '" + path + "' is empty");
  return ss.str();
}

using X509Ptr = std::unique_ptr<X509, decltype(&X509_free)>;

X509Ptr first_cert(const std::string& pem) {
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(
      BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())), &BIO_free);
  return X509Ptr(bio ? PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr) : nullptr,
                 &X509_free);
}

std::int64_t not_after_unix(X509* cert) {
  std::tm tm{};
  if (ASN1_TIME_to_tm(X509_get0_notAfter(cert), &tm) != 1) return 0;
  return static_cast<std::int64_t>(timegm(&tm));
}

std::string der_sha256(X509* cert) {
  unsigned char* der = nullptr;
  int len = i2d_X509(cert, &der);
  if (len <= 0) return "";
  std::string out = sha256_hex(std::string_view(reinterpret_cast<char*>(der), len));
  OPENSSL_free(der);
  return out;
}

std::int64_t now_unix() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Loads what both sides share into `ctx`: TLS >= 1.2, the certificate chain
// and its key (checked to match), and the CA as the only trust anchor.
Status load_identity(ssl::context& ctx, const std::string& cert_pem, const std::string& key_pem,
                     const std::string& ca_pem, const TlsFiles& where) {
  SSL_CTX* native = ctx.native_handle();
  boost::system::error_code ec;
  SSL_CTX_set_min_proto_version(native, TLS1_2_VERSION);
  ctx.set_options(ssl::context::default_workarounds | ssl::context::no_compression, ec);
  ctx.use_certificate_chain(boost::asio::buffer(cert_pem), ec);
  if (ec) {
    return Status::failure("cannot load --tls-cert '" + where.cert + "': " + ec.message());
  }
  ctx.use_private_key(boost::asio::buffer(key_pem), ssl::context::pem, ec);
  if (ec) {
    // OpenSSL refuses a key that does not match the certificate here too;
    // tell the two apart, they need different fixes.
    std::unique_ptr<BIO, decltype(&BIO_free)> bio(
        BIO_new_mem_buf(key_pem.data(), static_cast<int>(key_pem.size())), &BIO_free);
    EVP_PKEY* parsed =
        bio ? PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr) : nullptr;
    ERR_clear_error();
    if (parsed != nullptr) {
      EVP_PKEY_free(parsed);
      return Status::failure("--tls-key '" + where.key + "' does not match --tls-cert '" +
                             where.cert + "'");
    }
    return Status::failure("cannot load --tls-key '" + where.key + "': " + ec.message());
  }
  if (SSL_CTX_check_private_key(native) != 1) {
    return Status::failure("--tls-key '" + where.key + "' does not match --tls-cert '" +
                           where.cert + "'");
  }
  ctx.add_certificate_authority(boost::asio::buffer(ca_pem), ec);
  if (ec) {
    return Status::failure("cannot load --tls-ca '" + where.ca + "': " + ec.message());
  }
  return Status::success();
}

}  // namespace

Expected<std::shared_ptr<const TlsBundle>> make_tls_bundle(std::string cert_pem,
                                                           std::string key_pem, std::string ca_pem,
                                                           const TlsFiles& where) {
  ERR_clear_error();
  auto bundle = std::make_shared<TlsBundle>();
  X509Ptr leaf = first_cert(cert_pem);
  if (!leaf) {
    return Status::failure("--tls-cert '" + where.cert +
                           "' holds no PEM certificate: " + ssl_error_text());
  }
  X509Ptr ca = first_cert(ca_pem);
  if (!ca) {
    return Status::failure("--tls-ca '" + where.ca +
                           "' holds no PEM certificate: " + ssl_error_text());
  }
  auto server = std::make_shared<ssl::context>(ssl::context::tls_server);
  if (Status s = load_identity(*server, cert_pem, key_pem, ca_pem, where); !s.ok()) return s;
  SSL_CTX* native = server->native_handle();
  // Tell clients which CA we accept (the master's TLS stack picks its cert by it).
  SSL_CTX_add_client_CA(native, ca.get());
  boost::system::error_code ec;
  server->set_verify_mode(ssl::verify_peer | ssl::verify_fail_if_no_peer_cert, ec);
  // One session cache per bundle; tickets off so a resumed session never
  // skips the client-certificate check of a newer policy.
  SSL_CTX_set_options(native, SSL_OP_NO_TICKET);
  SSL_CTX_set_session_cache_mode(native, SSL_SESS_CACHE_OFF);

  // The heartbeat's side: presents the same cert+key, trusts exactly the CA
  // (no system store), and the caller checks the master's name per request.
  auto client = std::make_shared<ssl::context>(ssl::context::tls_client);
  if (Status s = load_identity(*client, cert_pem, key_pem, ca_pem, where); !s.ok()) return s;
  client->set_verify_mode(ssl::verify_peer, ec);

  bundle->cert_not_after_unix = not_after_unix(leaf.get());
  bundle->ca_not_after_unix = not_after_unix(ca.get());
  bundle->cert_sha256 = der_sha256(leaf.get());
  bundle->server_context = std::move(server);
  bundle->client_context = std::move(client);
  bundle->cert_pem = std::move(cert_pem);
  bundle->key_pem = std::move(key_pem);
  bundle->ca_pem = std::move(ca_pem);
  return std::shared_ptr<const TlsBundle>(std::move(bundle));
}

Expected<std::shared_ptr<const TlsBundle>> load_tls_bundle(const TlsFiles& files) {
  auto cert = read_whole(files.cert, "--tls-cert");
  if (!cert) return cert.error();
  auto key = read_whole(files.key, "--tls-key");
  if (!key) return key.error();
  auto ca = read_whole(files.ca, "--tls-ca");
  if (!ca) return ca.error();
  return make_tls_bundle(std::move(*cert), std::move(*key), std::move(*ca), files);
}

Expected<std::shared_ptr<TlsCredentials>> TlsCredentials::load(const TlsFiles& files,
                                                               Metrics* metrics) {
  std::shared_ptr<TlsCredentials> self(new TlsCredentials(files, metrics));
  if (Status s = self->reload(); !s.ok()) return s;
  return self;
}

std::vector<TlsCredentials::FileStamp> TlsCredentials::stamps() const {
  std::vector<FileStamp> out;
  for (const std::string* path : {&files_.cert, &files_.key, &files_.ca}) {
    struct stat st {};
    FileStamp f;
    if (::stat(path->c_str(), &st) == 0) {
      f.mtime_ns =
          static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec;
      f.size = static_cast<std::int64_t>(st.st_size);
      f.inode = static_cast<std::int64_t>(st.st_ino);
    }
    out.push_back(f);
  }
  return out;
}

Status TlsCredentials::reload() {
  // Stamp before reading, so a write that lands during the read is seen next time.
  std::vector<FileStamp> seen = stamps();
  auto fail = [&](const Status& why) {
    std::lock_guard lock(mu_);
    last_stamps_ = seen;
    if (current_) {
      spdlog::warn("TLS reload refused, still serving certificate sha256:{}: {}",
                   current_->cert_sha256, why.message());
    }
    return why;
  };
  auto bundle = load_tls_bundle(files_);
  if (!bundle) return fail(bundle.error());

  std::shared_ptr<const TlsBundle> fresh;
  {
    std::lock_guard lock(mu_);
    last_stamps_ = seen;
    if (current_ && current_->cert_pem == (*bundle)->cert_pem &&
        current_->key_pem == (*bundle)->key_pem && current_->ca_pem == (*bundle)->ca_pem) {
      return Status::success();  // touched but unchanged: keep the bundle (and its warnings)
    }
    auto next = std::const_pointer_cast<TlsBundle>(*bundle);
    next->generation = current_ ? current_->generation + 1 : 1;
    current_ = next;
    warned_level_ = 0;
    fresh = current_;
  }
  spdlog::info("TLS bundle {} loaded: certificate sha256:{} valid until unix {}, CA until unix {}",
               fresh->generation, fresh->cert_sha256, fresh->cert_not_after_unix,
               fresh->ca_not_after_unix);
  check_expiry(now_unix());
  return Status::success();
}

bool TlsCredentials::reload_if_changed() {
  bool changed = false;
  {
    std::lock_guard lock(mu_);
    changed = stamps() != last_stamps_;
  }
  bool reloaded = false;
  if (changed) {
    std::uint64_t before = current()->generation;
    reloaded = reload().ok() && current()->generation != before;
  }
  check_expiry(now_unix());
  return reloaded;
}

void TlsCredentials::check_expiry(std::int64_t now) {
  std::shared_ptr<const TlsBundle> b;
  int level = 0;
  int previous = 0;
  {
    std::lock_guard lock(mu_);
    b = current_;
    if (!b) return;
    const std::int64_t left = b->cert_not_after_unix - now;
    level = left <= 0 ? 3 : left < 7 * kDay ? 2 : left < 30 * kDay ? 1 : 0;
    previous = warned_level_;
    if (level > warned_level_) warned_level_ = level;
  }
  if (metrics_ != nullptr) {
    metrics_->set_tls_cert_expiry("server", static_cast<double>(b->cert_not_after_unix - now));
    metrics_->set_tls_cert_expiry("ca", static_cast<double>(b->ca_not_after_unix - now));
  }
  if (level > previous) {
    const std::int64_t days = (b->cert_not_after_unix - now) / kDay;
    if (level == 3) {
      spdlog::error(
          "the agent's TLS certificate '{}' has EXPIRED: the master will refuse it; "
          "replace it (the agent reloads it without a restart)",
          files_.cert);
    } else {
      spdlog::warn(
          "the agent's TLS certificate '{}' expires in {} day(s) (under {} days): "
          "replace it (the agent reloads it without a restart)",
          files_.cert, days, level == 2 ? 7 : 30);
    }
  }
}

std::shared_ptr<const TlsBundle> TlsCredentials::current() const {
  std::lock_guard lock(mu_);
  return current_;
}

Expected<MasterIdentity> MasterIdentity::parse(const std::vector<std::string>& entries) {
  MasterIdentity out;
  for (const std::string& raw : entries) {
    if (raw.empty()) continue;  // "a,,b" in the environment
    if (ascii_lower(raw.substr(0, 7)) == "sha256:") {
      std::string hex;
      for (char c : raw.substr(7)) {
        if (c == ':') continue;
        if (!std::isxdigit(static_cast<unsigned char>(c))) {
          hex.clear();
          break;
        }
        hex += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      }
      if (hex.size() != 64) {
        return Status::failure("--master-identity '" + excerpt(raw, 80) +
                               "': a fingerprint is sha256: followed by 64 hex digits "
                               "(openssl x509 -noout -fingerprint -sha256 prints it)");
      }
      out.fingerprints_.push_back(hex);
      continue;
    }
    for (unsigned char c : raw) {
      if (c < 0x21 || c > 0x7e) {
        return Status::failure("--master-identity '" + excerpt(raw, 80) +
                               "': a name is the certificate's CN or DNS name, printable "
                               "ASCII without spaces (e.g. decnet-master)");
      }
    }
    out.names_.push_back(ascii_lower(raw));
  }
  return out;
}

std::string MasterIdentity::check(X509* peer) const {
  if (!pinned()) return "";
  if (peer == nullptr) return "no client certificate was presented";
  std::vector<std::string> shown;
  // Subject CN(s).
  X509_NAME* subject = X509_get_subject_name(peer);
  for (int i = -1; (i = X509_NAME_get_index_by_NID(subject, NID_commonName, i)) >= 0;) {
    ASN1_STRING* data = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subject, i));
    unsigned char* utf8 = nullptr;
    int len = ASN1_STRING_to_UTF8(&utf8, data);
    if (len >= 0) {
      shown.emplace_back("CN=" + std::string(reinterpret_cast<char*>(utf8), len));
      OPENSSL_free(utf8);
    }
  }
  // DNS SANs.
  auto* sans =
      static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(peer, NID_subject_alt_name, nullptr, nullptr));
  if (sans != nullptr) {
    for (int i = 0; i < sk_GENERAL_NAME_num(sans); ++i) {
      const GENERAL_NAME* gn = sk_GENERAL_NAME_value(sans, i);
      if (gn->type != GEN_DNS) continue;
      const ASN1_IA5STRING* s = gn->d.dNSName;
      shown.emplace_back("DNS=" +
                         std::string(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)),
                                     static_cast<std::size_t>(ASN1_STRING_length(s))));
    }
    GENERAL_NAMES_free(sans);
  }
  for (const std::string& s : shown) {
    const std::string value = ascii_lower(s.substr(s.find('=') + 1));
    for (const std::string& n : names_) {
      if (value == n) return "";
    }
  }
  const std::string fp = der_sha256(peer);
  for (const std::string& f : fingerprints_) {
    if (fp == f) return "";
  }
  std::string names;
  for (const std::string& s : shown) names += (names.empty() ? "" : ", ") + excerpt(s, 80);
  return "client certificate (" + (names.empty() ? std::string("no CN or DNS name") : names) +
         ", sha256:" + fp +
         ") is signed by the CA but is not the master's: it matches no --master-identity";
}

}  // namespace edge
