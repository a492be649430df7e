#include "agent/check.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <grp.h>
#include <netdb.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <pwd.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>
#include <set>

#include "agent/http_client.h"
#include "agent/tls_credentials.h"
#include "docker_obs/catalog.h"
#include "docker_obs/engine.h"

namespace edge {
namespace {

namespace fs = std::filesystem;

CheckResult pass(std::string name, std::string detail) {
  return {std::move(name), CheckLevel::kOk, std::move(detail), ""};
}
CheckResult fail(std::string name, std::string detail, std::string hint) {
  return {std::move(name), CheckLevel::kError, std::move(detail), std::move(hint)};
}
CheckResult warn(std::string name, std::string detail, std::string hint) {
  return {std::move(name), CheckLevel::kWarning, std::move(detail), std::move(hint)};
}

std::string user_name(uid_t uid) {
  if (const passwd* pw = ::getpwuid(uid)) return pw->pw_name;
  return std::to_string(uid);
}
std::string group_name(gid_t gid) {
  if (const group* gr = ::getgrgid(gid)) return gr->gr_name;
  return std::to_string(gid);
}

std::string mode_text(mode_t mode) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "%04o", static_cast<unsigned>(mode & 07777));
  return buf;
}

// Whether `user` has all of `want` (a combination of 4=r, 2=w, 1=x) on `st`,
// by the classic owner/group/other rule (root has everything but x on files
// nobody may execute, which does not matter here).
bool permitted(const struct stat& st, const ServiceUser& user, unsigned want) {
  if (user.uid == 0) return true;
  unsigned bits = 0;
  if (st.st_uid == user.uid) {
    bits = (st.st_mode >> 6) & 7;
  } else if (std::find(user.gids.begin(), user.gids.end(), st.st_gid) != user.gids.end()) {
    bits = (st.st_mode >> 3) & 7;
  } else {
    bits = st.st_mode & 7;
  }
  return (bits & want) == want;
}

// The first directory above `path` the user cannot search, or "".
std::string unsearchable_parent(const fs::path& path, const ServiceUser& user) {
  fs::path abs = fs::absolute(path).parent_path();
  std::vector<fs::path> dirs;
  for (fs::path p = abs; !p.empty(); p = p.parent_path()) {
    dirs.push_back(p);
    if (p == p.root_path()) break;
  }
  for (auto it = dirs.rbegin(); it != dirs.rend(); ++it) {
    struct stat st {};
    if (::stat(it->c_str(), &st) == 0 && !permitted(st, user, 1)) return it->string();
  }
  return "";
}

// One TLS file readable by the service user, with a fix when it is not.
CheckResult file_readable(const std::string& label, const std::string& path,
                          const ServiceUser& user) {
  const std::string name = "tls-" + label + "-readable";
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    return fail(name, path + ": " + std::strerror(errno),
                "put the file there, or point --tls-" + label + " at it");
  }
  if (!S_ISREG(st.st_mode)) {
    return fail(name, path + " is not a regular file", "point --tls-" + label + " at a PEM file");
  }
  if (std::string dir = unsearchable_parent(path, user); !dir.empty()) {
    return fail(name, "the service user " + user.name + " cannot enter " + dir,
                "chmod o+x " + dir + " (or make it group-searchable by " + user.name + ")");
  }
  const std::string owner = user_name(st.st_uid) + ":" + group_name(st.st_gid);
  const std::string file = fs::path(path).filename().string();
  if (!permitted(st, user, 4)) {
    std::string hint;
    if (label == "key") {
      hint = "chgrp " + user.name + " " + path + " && chmod 0640 " + path;
    } else {
      hint = "chmod 0644 " + path;
    }
    return fail(name,
                file + " is " + mode_text(st.st_mode) + " " + owner + "; the service user " +
                    user.name + " cannot read it",
                hint);
  }
  if (label == "key" && (st.st_mode & S_IROTH) != 0) {
    return warn(name, file + " is " + mode_text(st.st_mode) + " " + owner + ": anyone can read it",
                "chmod o-r " + path);
  }
  return pass(name,
              path + " (" + mode_text(st.st_mode) + " " + owner + ") is readable by " + user.name);
}

std::string openssl_error() {
  unsigned long e = ERR_get_error();
  if (e == 0) return "no reason given";
  char buf[256];
  ERR_error_string_n(e, buf, sizeof buf);
  ERR_clear_error();
  return buf;
}

struct X509Free {
  void operator()(X509* x) const { X509_free(x); }
};
struct PkeyFree {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
struct StoreFree {
  void operator()(X509_STORE* s) const { X509_STORE_free(s); }
};
struct StoreCtxFree {
  void operator()(X509_STORE_CTX* c) const { X509_STORE_CTX_free(c); }
};
struct StackFree {
  void operator()(STACK_OF(X509) * s) const { sk_X509_pop_free(s, X509_free); }
};
struct FileClose {
  void operator()(FILE* f) const { std::fclose(f); }
};

// Every certificate in a PEM file, leaf first.
std::vector<std::unique_ptr<X509, X509Free>> read_certs(const std::string& path,
                                                        std::string* error) {
  std::vector<std::unique_ptr<X509, X509Free>> out;
  std::unique_ptr<FILE, FileClose> f(std::fopen(path.c_str(), "r"));
  if (!f) {
    *error = path + ": " + std::strerror(errno);
    return out;
  }
  while (X509* x = PEM_read_X509(f.get(), nullptr, nullptr, nullptr)) out.emplace_back(x);
  ERR_clear_error();  // the end of the file reads as an error
  if (out.empty()) *error = path + " holds no PEM certificate";
  return out;
}

std::string x509_subject(X509* x) {
  char buf[256];
  X509_NAME_oneline(X509_get_subject_name(x), buf, sizeof buf);
  return buf;
}

}  // namespace

ServiceUser default_service_user() {
  ServiceUser u;
  const passwd* pw = ::getpwnam("edge-agent");
  if (pw != nullptr) {
    u.name = pw->pw_name;
    u.uid = pw->pw_uid;
    u.is_service_account = true;
    int n = 64;
    std::vector<gid_t> groups(static_cast<std::size_t>(n));
    if (::getgrouplist(pw->pw_name, pw->pw_gid, groups.data(), &n) < 0) {
      groups.resize(static_cast<std::size_t>(n));
      ::getgrouplist(pw->pw_name, pw->pw_gid, groups.data(), &n);
    }
    groups.resize(static_cast<std::size_t>(std::max(n, 0)));
    u.gids.push_back(pw->pw_gid);
    for (gid_t g : groups) {
      if (g != pw->pw_gid) u.gids.push_back(g);
    }
    return u;
  }
  u.uid = ::geteuid();
  u.name = user_name(u.uid);
  u.gids.push_back(::getegid());
  int n = ::getgroups(0, nullptr);
  std::vector<gid_t> groups(static_cast<std::size_t>(std::max(n, 0)));
  if (n > 0 && ::getgroups(n, groups.data()) == n) {
    for (gid_t g : groups) {
      if (g != u.gids.front()) u.gids.push_back(g);
    }
  }
  return u;
}

CheckResult check_config(const Config& config, const std::string& config_error) {
  if (!config_error.empty()) {
    return fail("config", config_error, "fix the flag, EDGE_AGENT_* variable or config file named");
  }
  const auto problems = config.problems();
  if (!problems.empty()) {
    std::string all;
    for (const auto& p : problems) all += (all.empty() ? "" : "; ") + p;
    return fail("config", all, "set what the message names, then run edge-agent check again");
  }
  std::string from = config.config_file.empty() ? "flags, environment and defaults"
                                                : config.config_file + ", flags and environment";
  return pass("config", "settings read from " + from);
}

std::vector<CheckResult> check_tls(const Config& config, const ServiceUser& user) {
  std::vector<CheckResult> out;
  if (!config.tls_enabled()) {
    out.push_back(warn(
        "tls",
        "TLS is off: serving plaintext HTTP on " + config.listen_host + " (the master talks mTLS)",
        "set tls_cert, tls_key and tls_ca from the master's PKI"));
    return out;
  }
  bool readable = true;
  for (const auto& [label, path] : {std::pair<std::string, std::string>{"cert", config.tls_cert},
                                    {"key", config.tls_key},
                                    {"ca", config.tls_ca}}) {
    out.push_back(file_readable(label, path, user));
    readable = readable && out.back().level != CheckLevel::kError;
  }
  if (!readable) return out;

  std::string error;
  auto certs = read_certs(config.tls_cert, &error);
  if (certs.empty()) {
    out.push_back(fail("tls-key-matches-cert", error, "point --tls-cert at a PEM certificate"));
    return out;
  }
  X509* leaf = certs.front().get();
  {
    std::unique_ptr<FILE, FileClose> f(std::fopen(config.tls_key.c_str(), "r"));
    std::unique_ptr<EVP_PKEY, PkeyFree> key(
        f ? PEM_read_PrivateKey(f.get(), nullptr, nullptr, nullptr) : nullptr);
    if (!key) {
      out.push_back(
          fail("tls-key-matches-cert",
               config.tls_key + " holds no readable PEM private key (" + openssl_error() + ")",
               "point --tls-key at the unencrypted PEM key of " + config.tls_cert));
    } else if (X509_check_private_key(leaf, key.get()) != 1) {
      ERR_clear_error();
      out.push_back(fail("tls-key-matches-cert",
                         config.tls_key + " is not the key of " + config.tls_cert,
                         "install the key and certificate the master's PKI issued together"));
    } else {
      out.push_back(pass("tls-key-matches-cert", "the key belongs to " + x509_subject(leaf)));
    }
  }

  auto cas = read_certs(config.tls_ca, &error);
  if (cas.empty()) {
    out.push_back(fail("tls-cert-chains-to-ca", error, "point --tls-ca at the master's CA (PEM)"));
  } else {
    std::unique_ptr<X509_STORE, StoreFree> store(X509_STORE_new());
    for (auto& ca : cas) X509_STORE_add_cert(store.get(), ca.get());
    std::unique_ptr<STACK_OF(X509), StackFree> chain(sk_X509_new_null());
    for (std::size_t i = 1; i < certs.size(); ++i) {
      X509_up_ref(certs[i].get());
      sk_X509_push(chain.get(), certs[i].get());
    }
    std::unique_ptr<X509_STORE_CTX, StoreCtxFree> ctx(X509_STORE_CTX_new());
    X509_STORE_CTX_init(ctx.get(), store.get(), leaf, chain.get());
    if (X509_verify_cert(ctx.get()) == 1) {
      out.push_back(pass("tls-cert-chains-to-ca",
                         x509_subject(leaf) + " is signed by " + x509_subject(cas.front().get())));
    } else {
      int err = X509_STORE_CTX_get_error(ctx.get());
      out.push_back(fail("tls-cert-chains-to-ca",
                         config.tls_cert + " does not verify against " + config.tls_ca + ": " +
                             X509_verify_cert_error_string(err),
                         err == X509_V_ERR_CERT_NOT_YET_VALID
                             ? "check the host's clock (timedatectl): the certificate's validity "
                               "has not begun"
                             : "enrol again: the certificate must be issued by the master's CA"));
    }
    ERR_clear_error();
  }

  int days = 0, secs = 0;
  if (ASN1_TIME_diff(&days, &secs, nullptr, X509_get0_notAfter(leaf)) != 1) {
    out.push_back(fail("tls-cert-expiry", "cannot read the expiry of " + config.tls_cert,
                       "install a well-formed certificate"));
  } else if (days < 0 || (days == 0 && secs <= 0)) {
    out.push_back(fail("tls-cert-expiry", config.tls_cert + " has expired",
                       "renew the agent certificate from the master's PKI, then "
                       "systemctl reload edge-agent"));
  } else if (days < 30) {
    out.push_back(warn("tls-cert-expiry",
                       config.tls_cert + " expires in " + std::to_string(days) + " days",
                       "renew the agent certificate before it expires"));
  } else {
    out.push_back(pass("tls-cert-expiry", "valid for " + std::to_string(days) + " more days"));
  }
  return out;
}

CheckResult check_master_identity(const std::vector<std::string>& identities) {
  if (identities.empty()) {
    return warn("master-identity",
                "no master identity pinned: any certificate the CA signed (every agent's too) is "
                "accepted as the master",
                "set master_identity to decnet-master (or sha256:<fingerprint>)");
  }
  std::string all;
  for (const auto& i : identities) all += (all.empty() ? "" : ", ") + i;
  return pass("master-identity", "only " + all + " is accepted as the master");
}

std::vector<CheckResult> check_docker(const Config& config, const CheckOptions& options,
                                      const ServiceUser& user) {
  std::vector<CheckResult> out;
  docker::EngineOptions eo;
  eo.socket_path = config.docker_socket;
  eo.connect_timeout = options.timeout;
  eo.call_timeout = options.timeout;
  docker::DockerEngine engine(eo);
  std::string error;
  if (!engine.negotiate(&error)) {
    out.push_back(fail("docker", error,
                       "start Docker (systemctl start docker) or point --docker-socket at its "
                       "socket"));
    return out;
  }
  out.push_back(pass("docker", "Docker " + engine.engine_version() + " at " + config.docker_socket +
                                   ", API " + engine.api_version()));
  struct stat st {};
  if (::stat(config.docker_socket.c_str(), &st) != 0) return out;
  const std::string group = group_name(st.st_gid);
  const std::string owner = user_name(st.st_uid) + ":" + group;
  if (permitted(st, user, 6)) {
    out.push_back(pass("docker-access", user.name + " can use " + config.docker_socket + " (" +
                                            mode_text(st.st_mode) + " " + owner + ")"));
  } else if (user.is_service_account && (st.st_mode & 060) == 060 &&
             std::find(options.unit_groups.begin(), options.unit_groups.end(), group) !=
                 options.unit_groups.end()) {
    out.push_back(pass("docker-access", "the unit's SupplementaryGroups=" + group + " gives " +
                                            user.name + " " + config.docker_socket));
  } else {
    out.push_back(fail("docker-access",
                       config.docker_socket + " is " + mode_text(st.st_mode) + " " + owner +
                           "; the service user " + user.name + " cannot use it",
                       "add SupplementaryGroups=" + group +
                           " to the unit (systemctl edit edge-agent) or usermod -aG " + group +
                           " " + user.name));
  }
  return out;
}

CheckResult check_state_dir(const Config& config, const ServiceUser& user) {
  const std::string dir = config.state_dir.string();
  struct stat st {};
  if (::stat(dir.c_str(), &st) != 0) {
    if (errno != ENOENT) return fail("state-dir", dir + ": " + std::strerror(errno), "");
    fs::path parent = fs::absolute(config.state_dir).parent_path();
    struct stat pst {};
    if (dir == "/var/lib/edge-agent") {
      return pass("state-dir", dir + " does not exist yet; the unit's StateDirectory= creates it");
    }
    if (::stat(parent.c_str(), &pst) == 0 && permitted(pst, user, 3)) {
      return pass("state-dir", dir + " does not exist yet; " + user.name + " can create it");
    }
    return fail("state-dir", dir + " does not exist and " + user.name + " cannot create it",
                "mkdir -p " + dir + " && chown " + user.name + " " + dir);
  }
  if (!S_ISDIR(st.st_mode)) {
    return fail("state-dir", dir + " is not a directory", "point --state-dir at a directory");
  }
  if (!permitted(st, user, 3)) {
    return fail("state-dir",
                dir + " is " + mode_text(st.st_mode) + " " + user_name(st.st_uid) + ":" +
                    group_name(st.st_gid) + "; " + user.name + " cannot write it",
                "chown -R " + user.name + " " + dir);
  }
  // A running agent holds an exclusive flock on the lock file: probe it
  // without creating anything and without taking it for longer than a call.
  const fs::path lock = config.state_dir / "edge-agent.lock";
  int fd = ::open(lock.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd >= 0) {
    bool held = ::flock(fd, LOCK_SH | LOCK_NB) != 0 && errno == EWOULDBLOCK;
    char buf[32] = {};
    ssize_t n = held ? ::pread(fd, buf, sizeof buf - 1, 0) : 0;
    ::close(fd);
    if (held) {
      std::string pid(buf, n > 0 ? static_cast<std::size_t>(n) : 0);
      while (!pid.empty() && (pid.back() == '\n' || pid.back() == ' ')) pid.pop_back();
      return pass("state-dir", dir + " is writable and in use by a running edge-agent" +
                                   (pid.empty() ? "" : " (pid " + pid + ")"));
    }
  }
  return pass("state-dir", dir + " is writable by " + user.name);
}

namespace {

// Whether something at host:port answers GET /health like an edge-agent
// (any HTTP answer counts when TLS is on: the caller may not be the master).
bool edge_agent_answers(const Config& config, std::chrono::milliseconds timeout) {
  std::string host = config.listen_host;
  if (host.find(':') != std::string::npos) host = "[" + host + "]";
  if (host == "0.0.0.0") host = "127.0.0.1";
  if (host == "[::]") host = "[::1]";
  const bool tls = config.tls_enabled();
  HttpCall call;
  call.url = std::string(tls ? "https://" : "http://") + host + ":" +
             std::to_string(config.listen_port) + "/health";
  call.timeout = timeout;
  call.connect_timeout = timeout;
  if (tls) {
    auto bundle = load_tls_bundle(TlsFiles{config.tls_cert, config.tls_key, config.tls_ca});
    if (!bundle) return false;
    call.tls = (*bundle)->client_context;
    call.verify_host = false;  // any name: only "is it us" matters
  }
  const HttpReply reply = http_call(call);
  if (reply.status == 0) return false;
  return tls || reply.body.find("\"status\":\"ok\"") != std::string::npos;
}

}  // namespace

CheckResult check_listen_port(const Config& config, std::chrono::milliseconds timeout) {
  const std::string where = config.listen_host + ":" + std::to_string(config.listen_port);
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* res = nullptr;
  const std::string port = std::to_string(config.listen_port);
  std::string host = config.listen_host;
  if (host.size() > 2 && host.front() == '[') host = host.substr(1, host.size() - 2);
  int rc = ::getaddrinfo(host.c_str(), port.c_str(), &hints, &res);
  if (rc != 0) {
    return fail("listen", "cannot resolve " + config.listen_host + ": " + gai_strerror(rc),
                "set --listen to an address of this host");
  }
  int err = 0;
  int fd = ::socket(res->ai_family, res->ai_socktype | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    err = errno;
  } else {
    int one = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (::bind(fd, res->ai_addr, res->ai_addrlen) != 0) err = errno;
    ::close(fd);
  }
  ::freeaddrinfo(res);
  if (err == 0) return pass("listen", where + " is free to bind");
  if (err == EADDRINUSE) {
    if (edge_agent_answers(config, timeout)) {
      return pass("listen", where + " is held by a running edge-agent");
    }
    return fail("listen", where + " is in use by another program",
                "find it with ss -ltnp 'sport = :" + port + "' or choose another --listen");
  }
  return fail("listen", "cannot bind " + where + ": " + std::strerror(err),
              err == EACCES ? "ports below 1024 need CAP_NET_BIND_SERVICE; pick a higher port"
                            : "set --listen to an address of this host");
}

std::vector<CheckResult> check_catalog(const Config& config, std::chrono::milliseconds timeout) {
  std::vector<CheckResult> out;
  auto catalog = docker::load_service_catalog(config.service_catalog);
  if (!catalog) {
    out.push_back(fail("catalog", catalog.error().message(),
                       "fix the entry named (DESIGN §5 lists the rules), then "
                       "systemctl reload edge-agent"));
    return out;
  }
  if (config.service_catalog.empty()) {
    out.push_back(warn("catalog", "no service catalog: deckies can run no services",
                       "set service_catalog (an example is packaging/services.decnet.json)"));
  } else {
    out.push_back(pass(
        "catalog", config.service_catalog + ": " + std::to_string(catalog->size()) + " services"));
  }
  std::set<std::string> images = {config.base_image};
  for (const auto& [name, spec] : *catalog) {
    if (!spec.singleton) images.insert(spec.image);
  }
  docker::EngineOptions eo;
  eo.socket_path = config.docker_socket;
  eo.connect_timeout = timeout;
  eo.call_timeout = timeout;
  docker::DockerEngine engine(eo);
  std::string error;
  if (!engine.negotiate(&error)) {
    out.push_back(warn("images", "cannot look for the images: Docker is unreachable",
                       "fix the docker check first"));
    return out;
  }
  std::vector<std::string> missing;
  std::string failure;
  for (const auto& image : images) {
    docker::EngineResponse r = engine.get("/images/" + image + "/json", "GET /images/{name}/json");
    if (r.status == 404) {
      missing.push_back(image);
    } else if (!r.ok() && failure.empty()) {
      failure = image + ": " + r.message();
    }
  }
  if (!failure.empty()) {
    out.push_back(fail("images", "cannot inspect " + failure, "check the docker line above"));
  } else if (!missing.empty()) {
    std::string list;
    for (const auto& m : missing) list += (list.empty() ? "" : " ") + m;
    out.push_back(warn("images",
                       std::to_string(images.size() - missing.size()) + " of " +
                           std::to_string(images.size()) + " images present; missing: " + list,
                       "the agent pulls them at the first apply; a host without registry access "
                       "needs docker pull or docker load of: " +
                           list));
  } else {
    out.push_back(pass("images", "all " + std::to_string(images.size()) +
                                     " images (base and catalog) are present locally"));
  }
  return out;
}

CheckResult check_master_online(const Config& config, std::chrono::milliseconds timeout) {
  if (config.master_url.empty()) {
    return fail("master-online", "no master_url is set", "set master_url to the master's URL");
  }
  std::string url = config.master_url;
  if (url.empty() || url.back() != '/') url += "/";
  HttpCall call;
  call.url = url;
  call.timeout = timeout;
  call.connect_timeout = timeout;
  if (url.rfind("https://", 0) == 0) {
    auto bundle = load_tls_bundle(TlsFiles{config.tls_cert, config.tls_key, config.tls_ca});
    if (!bundle) {
      return fail("master-online", url + ": " + bundle.error().message(),
                  "fix the TLS bundle first (see the tls line above)");
    }
    call.tls = (*bundle)->client_context;
  }
  const HttpReply reply = http_call(call);
  if (reply.status == 0) {
    std::string hint =
        "check master_url, the network path to the master, and that the CA is "
        "the master's";
    if (reply.peer_unverified) {
      hint = "the master's certificate does not verify against --tls-ca: install the master's CA";
    }
    return fail("master-online", url + ": " + reply.error, hint);
  }
  return pass("master-online", url + " answered HTTP " + std::to_string(reply.status) +
                                   (url.rfind("https://", 0) == 0 ? " over mTLS" : ""));
}

std::vector<CheckResult> run_checks(const Config& config, const std::string& config_error,
                                    const CheckOptions& options) {
  std::vector<CheckResult> out;
  out.push_back(check_config(config, config_error));
  if (!config_error.empty()) return out;
  const ServiceUser user = options.user ? *options.user : default_service_user();
  auto append = [&out](std::vector<CheckResult> more) {
    for (auto& r : more) out.push_back(std::move(r));
  };
  append(check_tls(config, user));
  out.push_back(check_master_identity(options.master_identity));
  append(check_docker(config, options, user));
  out.push_back(check_state_dir(config, user));
  out.push_back(check_listen_port(config, options.timeout));
  append(check_catalog(config, options.timeout));
  if (options.online) out.push_back(check_master_online(config, options.timeout));
  return out;
}

std::string format_checks(const std::vector<CheckResult>& results) {
  std::string text;
  for (const auto& r : results) {
    const char* mark = r.level == CheckLevel::kOk        ? "\u2713"
                       : r.level == CheckLevel::kWarning ? "\u26a0"
                                                         : "\u2717";
    text += std::string(mark) + " " + r.name + ": " + r.detail + "\n";
    if (!r.hint.empty()) text += "    \u2192 " + r.hint + "\n";
  }
  return text;
}

nlohmann::json checks_json(const std::vector<CheckResult>& results) {
  nlohmann::json checks = nlohmann::json::array();
  for (const auto& r : results) {
    const char* level = r.level == CheckLevel::kOk        ? "ok"
                        : r.level == CheckLevel::kWarning ? "warning"
                                                          : "error";
    checks.push_back({{"name", r.name},
                      {"ok", r.ok()},
                      {"level", level},
                      {"detail", r.detail},
                      {"hint", r.hint}});
  }
  return {{"checks", checks}, {"ok", checks_exit_code(results) == 0}};
}

int checks_exit_code(const std::vector<CheckResult>& results) {
  for (const auto& r : results) {
    if (r.level == CheckLevel::kError) return 1;
  }
  return 0;
}

}  // namespace edge
