#pragma once
// The agent's TLS bundle as a live, reloadable object (DESIGN §7): one
// cert+key and one CA, shared by the HTTPS server and the heartbeat client.
//
// A reload reads the three files, checks that they load (PEM parses, the key
// matches the certificate, the CA parses) and only then swaps the current
// bundle; a bundle that does not load is refused with a log line saying why
// and the old one stays. Connections hold the bundle they started with
// (std::shared_ptr), so requests in flight finish on the old one while new
// connections and the heartbeat's next request use the new one.
//
// Thread-safety: every method may be called from any thread.

#include <openssl/x509.h>
#include <sys/stat.h>

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "agent/tls_files.h"
#include "common/status.h"

namespace boost::asio::ssl {
class context;
}

namespace edge {

class Metrics;

// One loaded bundle. Immutable once published.
struct TlsBundle {
  std::string cert_pem, key_pem, ca_pem;  // as read (to tell a touched file from a new one)
  // Server-side context: TLS >= 1.2, this cert+key, client certificates
  // required and verified against the CA.
  std::shared_ptr<boost::asio::ssl::context> server_context;
  // Client-side context (the heartbeat): TLS >= 1.2, presents this
  // cert+key, trusts only the CA; the peer's name is checked per request.
  std::shared_ptr<boost::asio::ssl::context> client_context;
  std::int64_t cert_not_after_unix = 0;
  std::int64_t ca_not_after_unix = 0;
  std::string cert_sha256;       // of the leaf's DER, lowercase hex (for logs)
  std::uint64_t generation = 0;  // 1 for the first bundle, +1 per accepted reload
};

class TlsCredentials {
 public:
  // Loads the bundle once; fails (with the reason) when it does not load.
  // `metrics` (may be null) receives edge_agent_tls_cert_expiry_seconds.
  static Expected<std::shared_ptr<TlsCredentials>> load(const TlsFiles& files,
                                                        Metrics* metrics = nullptr);

  // Re-reads cert, key and CA. On success the new bundle becomes current()
  // and an info line names its fingerprint and expiry; on failure the old
  // bundle stays, a warning says why, and the Status carries the reason.
  // This is what the daemon calls on SIGHUP.
  Status reload();

  // Reloads when any of the three files changed (mtime, size, inode) since
  // the last attempt; a failed attempt is not retried until a file changes
  // again. Also re-checks the expiry warnings. Cheap: three stat() calls.
  // Returns true when a new bundle was installed.
  bool reload_if_changed();

  // Updates the expiry gauge and logs a warning once per loaded certificate
  // when it crosses 30 days and 7 days before expiry (and once expired).
  void check_expiry(std::int64_t now_unix);

  std::shared_ptr<const TlsBundle> current() const;
  const TlsFiles& files() const { return files_; }

 private:
  struct FileStamp {
    std::int64_t mtime_ns = 0, size = 0, inode = 0;
    bool operator==(const FileStamp&) const = default;
  };
  TlsCredentials(TlsFiles files, Metrics* metrics) : files_(std::move(files)), metrics_(metrics) {}
  std::vector<FileStamp> stamps() const;

  const TlsFiles files_;
  Metrics* const metrics_;

  mutable std::mutex mu_;  // guards everything below
  std::shared_ptr<const TlsBundle> current_;
  std::vector<FileStamp> last_stamps_;
  int warned_level_ = 0;  // for current_: 0 none, 1 <30 days, 2 <7 days, 3 expired
};

// Builds a bundle from PEM text; the Status says which part did not load.
// `where` names the files for the message.
Expected<std::shared_ptr<const TlsBundle>> make_tls_bundle(std::string cert_pem,
                                                           std::string key_pem, std::string ca_pem,
                                                           const TlsFiles& where);

// Reads the three files and builds a bundle from them, without logging; the
// Status names the file that does not load.
Expected<std::shared_ptr<const TlsBundle>> load_tls_bundle(const TlsFiles& files);

// Who may call the master-facing API (DESIGN §7 --master-identity): a
// subject CN or DNS SAN, or "sha256:<hex>" of the certificate's DER (hex
// case-insensitive, ':' separators allowed). Empty: any CA-signed caller.
class MasterIdentity {
 public:
  // Fails naming the first entry that is neither a name nor sha256:<64 hex>.
  static Expected<MasterIdentity> parse(const std::vector<std::string>& entries);

  bool pinned() const { return !names_.empty() || !fingerprints_.empty(); }
  // "" when `peer` matches (or nothing is pinned); otherwise why not, for
  // the 403 detail (names what the certificate shows, never key material).
  std::string check(X509* peer) const;

 private:
  std::vector<std::string> names_;         // exact, case-insensitive (DNS rules)
  std::vector<std::string> fingerprints_;  // lowercase hex, no separators
};

}  // namespace edge
