#include "docker_obs/catalog.h"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <optional>
#include <set>
#include <sstream>

namespace edge::docker {
namespace {

using nlohmann::json;

// One parsed piece of a template: literal text, or a placeholder.
struct Piece {
  enum class Kind { kText, kDecky, kService, kConfig };
  Kind kind = Kind::kText;
  std::string text;                     // kText: the text; kConfig: the KEY
  std::optional<std::string> default_;  // kConfig with ":-DEFAULT"
};

const char* const kKnownPlaceholders = "{decky}, {service}, {config.KEY} and {config.KEY:-DEFAULT}";

bool is_config_key(std::string_view key) {
  if (key.empty()) return false;
  for (char c : key) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-' || c == '.';
    if (!ok) return false;
  }
  return true;
}

// Splits `tmpl` into pieces. Every '{' opens a placeholder that must be one of
// the known ones and must close; a '}' outside a placeholder is literal text.
Expected<std::vector<Piece>> parse_template(std::string_view tmpl) {
  std::vector<Piece> out;
  std::string text;
  std::size_t i = 0;
  while (i < tmpl.size()) {
    char c = tmpl[i];
    if (c != '{') {
      text.push_back(c);
      ++i;
      continue;
    }
    std::size_t close = tmpl.find('}', i + 1);
    if (close == std::string_view::npos) {
      return Status::failure("'{' at offset " + std::to_string(i) +
                             " is never closed by '}'; placeholders are " + kKnownPlaceholders);
    }
    std::string_view inner = tmpl.substr(i + 1, close - i - 1);
    if (inner.find('{') != std::string_view::npos) {
      return Status::failure("placeholder at offset " + std::to_string(i) +
                             " contains a '{'; placeholders do not nest");
    }
    Piece p;
    if (inner == "decky") {
      p.kind = Piece::Kind::kDecky;
    } else if (inner == "service") {
      p.kind = Piece::Kind::kService;
    } else if (inner.rfind("config.", 0) == 0) {
      std::string_view rest = inner.substr(7);
      std::size_t dflt = rest.find(":-");
      std::string_view key = rest.substr(0, dflt);
      if (!is_config_key(key)) {
        return Status::failure("placeholder {" + std::string(inner) +
                               "} has no valid KEY (letters, digits, '_', '-', '.')");
      }
      p.kind = Piece::Kind::kConfig;
      p.text = std::string(key);
      if (dflt != std::string_view::npos) p.default_ = std::string(rest.substr(dflt + 2));
    } else {
      return Status::failure("unknown placeholder {" + std::string(inner) + "}; placeholders are " +
                             kKnownPlaceholders);
    }
    if (!text.empty()) out.push_back(Piece{Piece::Kind::kText, std::move(text), std::nullopt});
    text.clear();
    out.push_back(std::move(p));
    i = close + 1;
  }
  if (!text.empty()) out.push_back(Piece{Piece::Kind::kText, std::move(text), std::nullopt});
  return out;
}

// Renders a template the parser accepted; nullopt when a config placeholder
// has neither a value nor a default.
std::optional<std::string> render(std::string_view tmpl, std::string_view decky,
                                  std::string_view service, const ServiceConfig* config) {
  Expected<std::vector<Piece>> pieces = parse_template(tmpl);
  if (!pieces) return std::string(tmpl);  // cannot happen for a parsed catalog
  std::string out;
  for (const Piece& p : *pieces) {
    switch (p.kind) {
      case Piece::Kind::kText:
        out += p.text;
        break;
      case Piece::Kind::kDecky:
        out += decky;
        break;
      case Piece::Kind::kService:
        out += service;
        break;
      case Piece::Kind::kConfig: {
        auto it = config != nullptr ? config->find(p.text) : ServiceConfig::const_iterator{};
        if (config != nullptr && it != config->end()) {
          out += it->second;
        } else if (p.default_) {
          out += *p.default_;
        } else {
          return std::nullopt;
        }
        break;
      }
    }
  }
  return out;
}

bool is_env_name(std::string_view name) {
  if (name.empty() || (name[0] >= '0' && name[0] <= '9')) return false;
  for (char c : name) {
    bool ok =
        (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
    if (!ok) return false;
  }
  return true;
}

bool is_capability(std::string_view cap) {
  if (cap.rfind("CAP_", 0) == 0) cap.remove_prefix(4);
  if (cap.empty() || cap.front() == '_') return false;
  for (char c : cap) {
    if (!((c >= 'A' && c <= 'Z') || c == '_')) return false;
  }
  return true;
}

// Service names become part of container names (decnet_t_<tid8>_<decky>-<service>).
bool is_service_name(std::string_view name) {
  if (name.empty() || name.size() > 64) return false;
  for (char c : name) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-' || c == '.';
    if (!ok) return false;
  }
  return true;
}

std::vector<std::string_view> split(std::string_view s, char sep) {
  std::vector<std::string_view> out;
  std::size_t start = 0;
  for (std::size_t i = 0; i <= s.size(); ++i) {
    if (i == s.size() || s[i] == sep) {
      out.push_back(s.substr(start, i - start));
      start = i + 1;
    }
  }
  return out;
}

Status check_volume(std::string_view volume) {
  Expected<std::vector<Piece>> pieces = parse_template(volume);
  if (!pieces) return pieces.error();
  for (const Piece& p : *pieces) {
    if (p.kind == Piece::Kind::kConfig) {
      return Status::failure("takes only {decky} and {service}, not {config." + p.text +
                             "}: a value from the master must never choose a host path");
    }
  }
  std::vector<std::string_view> parts = split(volume, ':');
  if (parts.size() < 2 || parts.size() > 3) {
    return Status::failure("must be \"host:container\" or \"host:container:ro|rw\"");
  }
  if (parts[0].empty() || parts[0][0] != '/') {
    return Status::failure("host side \"" + std::string(parts[0]) +
                           "\" must be an absolute path (a bare name would be a Docker volume)");
  }
  if (parts[1].empty() || parts[1][0] != '/') {
    return Status::failure("container side \"" + std::string(parts[1]) +
                           "\" must be an absolute path");
  }
  for (std::string_view seg : split(parts[0], '/')) {
    if (seg == "..") return Status::failure("host side must not contain \"..\"");
  }
  if (parts.size() == 3 && parts[2] != "ro" && parts[2] != "rw") {
    return Status::failure("mode \"" + std::string(parts[2]) + "\" must be \"ro\" or \"rw\"");
  }
  return Status::success();
}

Expected<std::vector<int>> parse_ports(const json& v, const std::string& where) {
  if (!v.is_array()) return Status::failure(where + " must be an array of port numbers");
  std::vector<int> ports;
  std::set<int> seen;
  for (const auto& p : v) {
    if (!p.is_number_integer()) {
      return Status::failure(where + " must be an array of integers, got " + p.dump());
    }
    auto n = p.get<std::int64_t>();
    if (n < 1 || n > 65535) {
      return Status::failure(where + ": " + std::to_string(n) + " is not a port (1-65535)");
    }
    if (!seen.insert(static_cast<int>(n)).second) {
      return Status::failure(where + " lists " + std::to_string(n) + " twice");
    }
    ports.push_back(static_cast<int>(n));
  }
  return ports;
}

Expected<std::vector<std::string>> parse_strings(const json& v, const std::string& where) {
  if (!v.is_array()) return Status::failure(where + " must be an array of strings");
  std::vector<std::string> out;
  for (const auto& s : v) {
    if (!s.is_string()) {
      return Status::failure(where + " must be an array of strings, got " + s.dump());
    }
    out.push_back(s.get<std::string>());
  }
  return out;
}

Expected<ServiceSpec> parse_entry(const json& entry, const std::string& where) {
  if (!entry.is_object()) {
    return Status::failure(where + "must be an object, got " + entry.type_name());
  }
  static const std::set<std::string> kKeys = {"image",     "command", "env",     "tcp_ports",
                                              "udp_ports", "cap_add", "volumes", "singleton"};
  for (const auto& [key, value] : entry.items()) {
    if (kKeys.count(key) == 0) {
      return Status::failure(where + "unknown key \"" + key +
                             "\" (known: image, command, env, tcp_ports, udp_ports, cap_add, "
                             "volumes, singleton)");
    }
  }
  ServiceSpec spec;
  auto image = entry.find("image");
  if (image == entry.end() || !image->is_string() || image->get_ref<const std::string&>().empty()) {
    return Status::failure(where + "\"image\" must be a non-empty string");
  }
  spec.image = image->get<std::string>();
  // Optional keys: absent and null both mean "not set".
  auto present = [&entry](const char* key) -> const json* {
    auto it = entry.find(key);
    return it == entry.end() || it->is_null() ? nullptr : &*it;
  };

  if (const json* command = present("command")) {
    auto args = parse_strings(*command, where + "\"command\"");
    if (!args) return args.error();
    spec.command = std::move(*args);
  }
  if (const json* env = present("env")) {
    if (!env->is_object()) {
      return Status::failure(where + "\"env\" must be an object of variable name to template");
    }
    for (const auto& [key, value] : env->items()) {
      if (!is_env_name(key)) {
        return Status::failure(where + "\"env\" key \"" + key +
                               "\" is not a variable name ([A-Za-z_][A-Za-z0-9_]*)");
      }
      if (!value.is_string()) {
        return Status::failure(where + "\"env\" value of \"" + key + "\" must be a string, got " +
                               value.type_name());
      }
      const auto& tmpl = value.get_ref<const std::string&>();
      if (auto pieces = parse_template(tmpl); !pieces) {
        return Status::failure(where + "\"env\" value of \"" + key +
                               "\": " + pieces.error().message());
      }
      spec.env.emplace(key, tmpl);
    }
  }
  if (const json* tcp = present("tcp_ports")) {
    auto ports = parse_ports(*tcp, where + "\"tcp_ports\"");
    if (!ports) return ports.error();
    spec.tcp_ports = std::move(*ports);
  }
  if (const json* udp = present("udp_ports")) {
    auto ports = parse_ports(*udp, where + "\"udp_ports\"");
    if (!ports) return ports.error();
    spec.udp_ports = std::move(*ports);
  }
  if (const json* caps = present("cap_add")) {
    auto list = parse_strings(*caps, where + "\"cap_add\"");
    if (!list) return list.error();
    for (const auto& cap : *list) {
      if (!is_capability(cap)) {
        return Status::failure(where + "\"cap_add\" entry \"" + cap +
                               "\" is not a capability name like NET_BIND_SERVICE (upper-case "
                               "letters and '_', optional CAP_ prefix)");
      }
    }
    spec.cap_add = std::move(*list);
  }
  if (const json* volumes = present("volumes")) {
    auto list = parse_strings(*volumes, where + "\"volumes\"");
    if (!list) return list.error();
    for (const auto& v : *list) {
      if (Status st = check_volume(v); !st.ok()) {
        return Status::failure(where + "volume \"" + v + "\" " + st.message());
      }
    }
    spec.volumes = std::move(*list);
  }
  if (const json* singleton = present("singleton")) {
    if (!singleton->is_boolean()) {
      return Status::failure(where + "\"singleton\" must be true or false, got " +
                             singleton->dump());
    }
    spec.singleton = singleton->get<bool>();
  }
  return spec;
}

}  // namespace

Expected<ServiceCatalog> parse_service_catalog(const json& doc) {
  if (!doc.is_object()) {
    return Status::failure(
        std::string("service catalog must be a JSON object mapping service name to "
                    "{\"image\", ...}, got ") +
        doc.type_name());
  }
  ServiceCatalog parsed;
  for (const auto& [name, entry] : doc.items()) {
    if (!is_service_name(name)) {
      return Status::failure("service catalog entry \"" + name +
                             "\": the name must be 1-64 characters of [A-Za-z0-9_.-] (it becomes "
                             "part of container names)");
    }
    auto spec = parse_entry(entry, "service catalog entry \"" + name + "\": ");
    if (!spec) return spec.error();
    parsed.emplace(name, std::move(*spec));
  }
  return parsed;
}

Expected<ServiceCatalog> load_service_catalog(const std::string& path) {
  if (path.empty()) return ServiceCatalog{};
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return Status::failure("cannot read the service catalog '" + path +
                           "': " + std::strerror(errno));
  }
  std::stringstream ss;
  ss << in.rdbuf();
  if (in.bad()) {
    return Status::failure("cannot read the service catalog '" + path +
                           "': " + std::strerror(errno));
  }
  json doc;
  try {
    doc = json::parse(ss.str());
  } catch (const json::parse_error& e) {
    return Status::failure("the service catalog '" + path + "' is not valid JSON: " + e.what());
  }
  auto catalog = parse_service_catalog(doc);
  if (!catalog) return Status::failure("'" + path + "': " + catalog.error().message());
  return catalog;
}

std::map<std::string, std::string> render_env(const ServiceSpec& spec, std::string_view decky,
                                              std::string_view service,
                                              const ServiceConfig& config) {
  std::map<std::string, std::string> out;
  for (const auto& [name, tmpl] : spec.env) {
    if (auto value = render(tmpl, decky, service, &config)) out.emplace(name, std::move(*value));
  }
  return out;
}

std::vector<std::string> render_volumes(const ServiceSpec& spec, std::string_view decky,
                                        std::string_view service) {
  std::vector<std::string> out;
  out.reserve(spec.volumes.size());
  for (const auto& tmpl : spec.volumes) {
    // Volumes hold no config placeholders (the parser refuses them), so this
    // always renders.
    out.push_back(render(tmpl, decky, service, nullptr).value_or(tmpl));
  }
  return out;
}

}  // namespace edge::docker
