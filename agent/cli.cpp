#include "agent/cli.h"

#include <fcntl.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "agent/build_info.h"
#include "agent/canonical_json.h"
#include "agent/check.h"
#include "agent/config.h"
#include "agent/daemon.h"
#include "agent/exit_codes.h"
#include "agent/logging.h"
#include "common/status.h"
#include "store/topology_store.h"

namespace edge {
namespace {

using nlohmann::json;

// One setting: its flag, env var and config-file key, bound to a string that
// CLI11 fills from the flag or the environment; the file and the default
// fill it only when neither was given.
struct Setting {
  std::string flag;  // without dashes, e.g. "state-dir"
  std::string help;
  std::string value;
  CLI::Option* option = nullptr;  // until forget_options()
  bool given = false;             // on the command line or in the environment
  std::string key() const {
    std::string k = flag;
    for (char& c : k) c = c == '-' ? '_' : c;
    return k;
  }
  std::string env() const {
    std::string e = "EDGE_AGENT_" + key();
    for (char& c : e) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    return e;
  }
};

class Settings {
 public:
  Settings() {
    for (const auto& [flag, help] : std::initializer_list<std::pair<const char*, const char*>>{
             {"listen", "HOST:PORT to serve (default 127.0.0.1:8765)"},
             {"state-dir",
              "directory of topology.db (default ./var, /var/lib/edge-agent installed)"},
             {"docker-socket", "Docker engine socket (default /var/run/docker.sock)"},
             {"base-image", "image of the deckies' base containers"},
             {"service-catalog", "JSON file mapping services to images and commands"},
             {"master-url", "master base URL for heartbeats (none: heartbeat off)"},
             {"host-uuid", "this host's uuid as the master knows it"},
             {"heartbeat-interval", "seconds between heartbeats (default 30)"},
             {"tls-cert", "agent certificate (PEM)"},
             {"tls-key", "agent private key (PEM)"},
             {"tls-ca", "the master's CA: verifies the master's client and server certs"},
             {"log-level", "trace|debug|info|warn|error|critical (default info)"},
             {"max-body-bytes", "largest accepted request body (default 16 MiB)"},
             {"max-memory", "memory ceiling for bodies and plans in flight (default 512 MiB)"}}) {
      items_.push_back(Setting{flag, help, "", nullptr, false});
    }
  }

  void add_to(CLI::App* cmd, std::initializer_list<std::string> only = {}) {
    for (auto& s : items_) {
      if (only.size() > 0 && std::find(only.begin(), only.end(), s.flag) == only.end()) continue;
      s.option = cmd->add_option("--" + s.flag, s.value, s.help)->envname(s.env());
    }
    if (only.size() == 0) {
      identity_option_ = cmd->add_option("--master-identity", identities_,
                                         "NAME|sha256:HEX the master's client certificate must "
                                         "show (repeatable; env: comma-separated)")
                             ->envname("EDGE_AGENT_MASTER_IDENTITY")
                             ->delimiter(',');
    }
  }

  // Records which settings the command line or the environment gave, then
  // drops the pointers into the CLI::App, so the App can be destroyed before
  // the daemon runs (a SIGHUP re-resolves from what is recorded here).
  void forget_options() {
    for (auto& s : items_) {
      s.given = s.option != nullptr && s.option->count() > 0;
      s.option = nullptr;
    }
    identity_given_ = identity_option_ != nullptr && identity_option_->count() > 0;
    identity_option_ = nullptr;
  }

  // Fills unset settings from the config file, then builds the Config.
  // Call forget_options() first.
  bool resolve(const std::string& config_file, Config* out, std::string* error) {
    json file = json::object();
    file_identities_.clear();  // a reload reads the file afresh, not on top of the last read
    if (!config_file.empty()) {
      std::ifstream in(config_file);
      if (!in) {
        *error = "cannot read --config '" + config_file + "'";
        return false;
      }
      std::stringstream ss;
      ss << in.rdbuf();
      file = json::parse(ss.str(), nullptr, false);
      if (file.is_discarded() || !file.is_object()) {
        *error = "--config '" + config_file + "' is not a JSON object";
        return false;
      }
      for (const auto& [k, v] : file.items()) {
        if (k == "master_identity") {
          if (!read_identities(v, &file_identities_)) {
            *error = "--config '" + config_file +
                     "': 'master_identity' must be a string or an array of strings";
            return false;
          }
          continue;
        }
        if (find_key(k) == nullptr) {
          *error = "--config '" + config_file + "': unknown key '" + k + "'";
          return false;
        }
        if (!v.is_string() && !v.is_number_integer()) {
          *error = "--config '" + config_file + "': '" + k + "' must be a string or integer";
          return false;
        }
      }
      out->config_file = config_file;
    }
    for (auto& s : items_) {
      bool given = s.given;
      if (!given && file.contains(s.key())) {
        const json& v = file[s.key()];
        s.value = v.is_string() ? v.get<std::string>() : v.dump();
        given = true;
      }
      if (given && !apply(s, out, error)) return false;
    }
    if (out->state_dir.empty()) out->state_dir = default_state_dir();
    out->master_identity = identity_given_ ? identities_ : file_identities_;
    return true;
  }

 private:
  const Setting* find_key(const std::string& key) const {
    for (const auto& s : items_) {
      if (s.key() == key) return &s;
    }
    return nullptr;
  }

  static bool read_identities(const json& v, std::vector<std::string>* out) {
    if (v.is_string()) {
      out->push_back(v.get<std::string>());
      return true;
    }
    if (!v.is_array()) return false;
    for (const auto& e : v) {
      if (!e.is_string()) return false;
      out->push_back(e.get<std::string>());
    }
    return true;
  }

  static bool to_int(const Setting& s, long lo, long hi, long* out, std::string* error) {
    char* end = nullptr;
    long v = std::strtol(s.value.c_str(), &end, 10);
    if (s.value.empty() || *end != '\0' || v < lo || v > hi) {
      *error = "--" + s.flag + " must be a whole number from " + std::to_string(lo) + " to " +
               std::to_string(hi) + " (got '" + s.value + "')";
      return false;
    }
    *out = v;
    return true;
  }

  static bool apply(const Setting& s, Config* c, std::string* error) {
    long n = 0;
    if (s.flag == "listen") return parse_listen(s.value, &c->listen_host, &c->listen_port, error);
    if (s.flag == "state-dir") c->state_dir = s.value;
    if (s.flag == "docker-socket") c->docker_socket = s.value;
    if (s.flag == "base-image") c->base_image = s.value;
    if (s.flag == "service-catalog") c->service_catalog = s.value;
    if (s.flag == "master-url") c->master_url = s.value;
    if (s.flag == "host-uuid") c->host_uuid = s.value;
    if (s.flag == "tls-cert") c->tls_cert = s.value;
    if (s.flag == "tls-key") c->tls_key = s.value;
    if (s.flag == "tls-ca") c->tls_ca = s.value;
    if (s.flag == "log-level") {
      if (spdlog::level::from_str(s.value) == spdlog::level::off && s.value != "off") {
        *error = "--log-level must be one of trace, debug, info, warn, error, critical";
        return false;
      }
      c->log_level = s.value;
    }
    if (s.flag == "heartbeat-interval") {
      if (!to_int(s, 1, 3600, &n, error)) return false;
      c->heartbeat_interval_s = static_cast<int>(n);
    }
    if (s.flag == "max-body-bytes") {
      if (!to_int(s, 1024, 1L << 30, &n, error)) return false;
      c->max_body_bytes = static_cast<std::size_t>(n);
    }
    if (s.flag == "max-memory") {
      if (!to_int(s, 16L << 20, 1L << 40, &n, error)) return false;
      c->max_memory = static_cast<std::size_t>(n);
    }
    return true;
  }

  std::vector<Setting> items_;
  std::vector<std::string> identities_;       // from --master-identity or its env var
  std::vector<std::string> file_identities_;  // from the config file
  CLI::Option* identity_option_ = nullptr;    // until forget_options()
  bool identity_given_ = false;
};

int print_state(const Config& config) {
  auto opened = store::TopologyStore::open(config.state_dir, store::OpenMode::kReadOnly);
  if (!opened.status.ok()) {
    std::cerr << "edge-agent state: " << opened.status.message << "\n";
    return exit_code::kFailure;
  }
  store::StoreStatus st;
  auto row = opened.store->current(&st);
  if (!st.ok()) {
    std::cerr << "edge-agent state: " << st.message << "\n";
    return exit_code::kFailure;
  }
  json out = {{"state_dir", config.state_dir.string()},
              {"topology_id", nullptr},
              {"applied_version_hash", nullptr},
              {"applied_at", nullptr},
              {"last_error", nullptr}};
  if (row) {
    out["topology_id"] = row->topology_id;
    out["applied_version_hash"] = row->version_hash;
    out["applied_at"] = row->applied_at;
    out["last_error"] = row->last_error ? json(*row->last_error) : json(nullptr);
    out["blob_bytes"] = row->hydrated_json.size();
    json blob = json::parse(row->hydrated_json, nullptr, false);
    out["hydrated"] = blob.is_discarded() ? json(row->hydrated_json) : blob;
    if (!blob.is_discarded() && !row->hydrated_json.empty()) {
      auto h = canonical_hash(row->hydrated_json);
      out["blob_hash_matches"] = h.ok && h.text == row->version_hash;
    }
  }
  std::cout << out.dump(2, ' ', false, json::error_handler_t::replace) << "\n";
  return 0;
}

// The whole of `fd` in one buffer: one read() of the size fstat() reports
// for a regular file (a short read or growth while reading is followed up),
// 1 MiB chunks for a pipe. Not an istreambuf_iterator: going through it one
// character at a time cost a third of `hash` on a 10 MB topology.
Expected<std::string> read_all(int fd, const std::string& name) {
  struct stat st {};
  std::size_t chunk = 1 << 20;
  if (::fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0) {
    chunk = static_cast<std::size_t>(st.st_size) + 1;  // + 1: EOF seen in the same read
  }
  std::string text;
  std::size_t used = 0;
  for (;;) {
    if (text.size() - used < chunk) text.resize(used + chunk);
    const ssize_t n = ::read(fd, text.data() + used, text.size() - used);
    if (n == 0) break;
    if (n < 0) {
      if (errno == EINTR) continue;
      return Status::failure("cannot read '" + name + "': " + std::strerror(errno));
    }
    used += static_cast<std::size_t>(n);
  }
  text.resize(used);
  return text;
}

int print_hash(const std::string& file) {
  int fd = STDIN_FILENO;
  if (file != "-") {
    fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      std::cerr << "edge-agent hash: cannot read '" << file << "': " << std::strerror(errno)
                << "\n";
      return exit_code::kFailure;
    }
  }
  Expected<std::string> text = read_all(fd, file == "-" ? "stdin" : file);
  if (fd != STDIN_FILENO) ::close(fd);
  if (!text) {
    std::cerr << "edge-agent hash: " << text.error().message() << "\n";
    return exit_code::kFailure;
  }
  auto h = canonical_hash(*text);
  if (!h.ok) {
    std::cerr << "edge-agent hash: " << h.error << "\n";
    return exit_code::kFailure;
  }
  std::cout << h.text << "\n";
  return 0;
}

// A usage error names what was wrong and where to look.
int usage_error(const std::string& what) {
  std::cerr << "edge-agent: " << what
            << "\nRun 'edge-agent --help' for the commands and options.\n";
  return exit_code::kUsage;
}

// Extras CLI11 let through (allow_extras): the first one is the bad argument.
int extras_error(const CLI::App& cmd) {
  std::string bad = cmd.remaining().front();
  if (bad.rfind("--", 0) == 0 && bad.find('=') != std::string::npos) bad.erase(bad.find('='));
  const std::string where = " for '" + cmd.get_name() + "'";
  if (!bad.empty() && bad.front() == '-')
    return usage_error("unknown option '" + bad + "'" + where);
  return usage_error("unexpected argument '" + bad + "'" + where);
}

constexpr const char* kExitCodesHelp =
    "Exit codes:\n"
    "  0   ok (a clean shutdown for run)\n"
    "  1   runtime failure (store, port, Docker, I/O)\n"
    "  2   usage error: unknown command or option\n"
    "  78  configuration error (EX_CONFIG): bad flag value, config file, service catalog,\n"
    "      TLS bundle that does not load, plaintext HTTP on a non-loopback address;\n"
    "      systemd does not restart it (RestartPreventExitStatus=78)\n"
    "SIGHUP reloads the service catalog, the log level and the TLS files.";

// What argv asks for, parsed. The CLI::App that parsed it is gone by then:
// its option objects are only needed to parse, and the daemon runs for
// months (idle RssAnon -36 KiB).
struct Command {
  enum class Kind { kDone, kRun, kState, kCheck, kHash };
  Kind kind = Kind::kDone;
  int exit_code = 0;        // kDone: --help or --version printed, or a usage error
  Settings settings;        // run, state or check: what the flags and environment gave
  std::string config_file;  // that command's --config
  bool check_online = false, check_as_json = false;
  std::string hash_file = "-";
};

Command done(int exit_code) {
  Command c;
  c.exit_code = exit_code;
  return c;
}

Command parse_command(int argc, char** argv) {
  CLI::App app{"edge-agent: materialises the master's topology in the local Docker engine"};
  app.set_version_flag("--version", std::string("edge-agent ") + build::kVersion + " (" +
                                        build::kGitRev + ", committed " + build::kBuildDate + ")");
  app.footer(kExitCodesHelp);

  std::string config_file;
  Settings run_settings;
  auto* run = app.add_subcommand("run", "run the daemon");
  run->add_option("--config", config_file, "JSON config file (flags and env override it)")
      ->envname("EDGE_AGENT_CONFIG");
  run_settings.add_to(run);

  Settings state_settings;
  std::string state_config;
  auto* state = app.add_subcommand("state", "print the cached row from the state dir");
  state->add_option("--config", state_config, "JSON config file")->envname("EDGE_AGENT_CONFIG");
  state_settings.add_to(state, {"state-dir"});

  // check: the same settings as run, read the same way (DESIGN §8).
  Settings check_settings;
  std::string check_config;
  bool check_online = false, check_as_json = false;
  auto* check = app.add_subcommand("check",
                                   "preflight: config, TLS, Docker, state dir, port, "
                                   "catalog (exit 1 when a check fails)");
  check->add_option("--config", check_config, "JSON config file (flags and env override it)")
      ->envname("EDGE_AGENT_CONFIG");
  check->add_flag("--online", check_online, "also reach the master over mTLS");
  check->add_flag("--json", check_as_json, "print the checks as JSON");
  check_settings.add_to(check);

  std::string hash_file = "-";
  auto* hash =
      app.add_subcommand("hash", "print the canonical version hash of a hydrated topology");
  hash->add_option("file", hash_file, "hydrated topology JSON, or - for stdin");

  // The command is named first; anything else there is named back.
  if (argc < 2) return done(usage_error("a command is required"));
  const std::string first = argv[1];
  if (first != "--help" && first != "-h" && first != "--version") {
    if (!first.empty() && first.front() == '-')
      return done(usage_error("unknown option '" + first + "'"));
    bool known = false;
    for (const CLI::App* sub : app.get_subcommands({})) known = known || sub->get_name() == first;
    if (!known) return done(usage_error("unknown command '" + first + "'"));
  }
  for (CLI::App* sub : app.get_subcommands({})) sub->allow_extras();

  try {
    app.parse(argc, argv);
  } catch (const CLI::Success& e) {
    return done(app.exit(e));  // --help, --version
  } catch (const CLI::ParseError& e) {
    return done(usage_error(e.what()));
  }
  for (const CLI::App* sub : app.get_subcommands({})) {
    if (sub->parsed() && !sub->remaining().empty()) return done(extras_error(*sub));
  }

  Command c;
  if (hash->parsed()) {
    c.kind = Command::Kind::kHash;
    c.hash_file = hash_file;
  } else if (check->parsed()) {
    c.kind = Command::Kind::kCheck;
    check_settings.forget_options();
    c.settings = std::move(check_settings);
    c.config_file = check_config;
    c.check_online = check_online;
    c.check_as_json = check_as_json;
  } else if (state->parsed()) {
    c.kind = Command::Kind::kState;
    state_settings.forget_options();
    c.settings = std::move(state_settings);
    c.config_file = state_config;
  } else {
    c.kind = Command::Kind::kRun;
    run_settings.forget_options();
    c.settings = std::move(run_settings);
    c.config_file = config_file;
  }
  return c;
}

}  // namespace

int run_cli(int argc, char** argv) {
  Command cmd = parse_command(argc, argv);
  if (cmd.kind == Command::Kind::kDone) return cmd.exit_code;
  if (cmd.kind == Command::Kind::kHash) return print_hash(cmd.hash_file);

  Config config;
  std::string error;
  if (cmd.kind == Command::Kind::kCheck) {
    std::string config_error;
    if (!cmd.settings.resolve(cmd.config_file, &config, &config_error)) {
      if (config.state_dir.empty()) config.state_dir = default_state_dir();
    }
    // The checks say everything; library chatter (the engine's "speaking API"
    // line) would only break --json on stdout.
    spdlog::set_level(spdlog::level::warn);
    CheckOptions options;
    options.online = cmd.check_online;
    auto results = run_checks(config, config_error, options);
    if (cmd.check_as_json) {
      std::cout << checks_json(results).dump(2, ' ', false, json::error_handler_t::replace) << "\n";
    } else {
      std::cout << format_checks(results);
    }
    return checks_exit_code(results);
  }
  if (cmd.kind == Command::Kind::kState) {
    if (!cmd.settings.resolve(cmd.config_file, &config, &error)) {
      std::cerr << "edge-agent state: " << error << "\n";
      return exit_code::kConfig;
    }
    return print_state(config);
  }

  if (!cmd.settings.resolve(cmd.config_file, &config, &error)) {
    std::cerr << "edge-agent run: " << error << "\n";
    return exit_code::kConfig;
  }
  setup_logging(config.log_level);
  // SIGHUP: the same flags and environment, the config file as it is now.
  ConfigSource reread = [&cmd]() -> Expected<Config> {
    Config fresh;
    std::string why;
    if (!cmd.settings.resolve(cmd.config_file, &fresh, &why)) {
      return Status(exit_code::kConfig, why);
    }
    return fresh;
  };
  return run_daemon(config, reread);
}

}  // namespace edge
