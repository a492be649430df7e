#include "agent/topology_model.h"

#include <vector>

#include "common/text.h"

namespace edge {
namespace {

constexpr const char* kApplyShape = R"({"hydrated": {...}, "version_hash": "<sha256 hex>"})";
constexpr const char* kTeardownShape = R"({"topology_id": "<id>"})";

// Collects every shape problem of one document, each with its path.
class ShapeReader {
 public:
  void problem(const std::string& path, const std::string& what) {
    problems_.push_back(path + " " + what);
  }
  bool ok() const { return problems_.empty(); }
  void append(ShapeReader&& other) {
    for (auto& p : other.problems_) problems_.push_back(std::move(p));
  }
  std::string message() const {
    std::string out = "hydrated topology has the wrong shape (" + std::to_string(problems_.size()) +
                      " problem(s)): ";
    constexpr std::size_t kShown = 20;
    for (std::size_t i = 0; i < problems_.size() && i < kShown; ++i) {
      out += (i == 0 ? "" : "; ") + problems_[i];
    }
    if (problems_.size() > kShown) {
      out += "; and " + std::to_string(problems_.size() - kShown) + " more";
    }
    return out;
  }

  // A required member of an object, of the given kind.
  std::optional<JsonRef> need(const JsonRef& obj, const std::string& path, std::string_view key,
                              JsonRef::Kind kind, const char* kind_name) {
    auto v = obj.find(key);
    const std::string where = path + "." + std::string(key);
    if (!v) {
      problem(where, std::string("is missing (must be ") + kind_name + ")");
      return std::nullopt;
    }
    if (v->kind() != kind) {
      problem(where, std::string("must be ") + kind_name + ", got " + v->type_name());
      return std::nullopt;
    }
    return v;
  }
  // An optional member: absent or null is nullopt without a problem.
  std::optional<JsonRef> maybe(const JsonRef& obj, const std::string& path, std::string_view key,
                               JsonRef::Kind kind, const char* kind_name) {
    auto v = obj.find(key);
    if (!v || v->is_null()) return std::nullopt;
    if (v->kind() != kind) {
      problem(path + "." + std::string(key),
              std::string("must be ") + kind_name + ", got " + v->type_name());
      return std::nullopt;
    }
    return v;
  }
  std::string text(const JsonRef& obj, const std::string& path, std::string_view key) {
    auto v = need(obj, path, key, JsonRef::Kind::kString, "a string");
    return v ? std::string(v->string()) : std::string();
  }
  bool flag(const JsonRef& obj, const std::string& path, std::string_view key) {
    auto v = maybe(obj, path, key, JsonRef::Kind::kBool, "a boolean");
    return v && v->boolean();
  }
  // The required list hydrated.<key> of objects, each read by
  // `read(object, path)` (which appends to `out`, reserved for the list); an
  // element that is not an object is a problem, skipped. With `forget`, the
  // tree before element i+1 is given back once element i is read, so the
  // model and the tree are not held whole at once: only for the list read
  // last, as whatever precedes it in the text goes too.
  template <typename T, typename Read>
  void each_object(const JsonRef& hydrated, std::string_view key, std::vector<T>& out,
                   JsonTree* forget, Read&& read) {
    auto list = need(hydrated, "hydrated", key, JsonRef::Kind::kArray, "a list");
    if (!list) return;
    out.reserve(list->size());
    for (std::size_t i = 0; i < list->size(); ++i) {
      const std::string path = "hydrated." + std::string(key) + "[" + std::to_string(i) + "]";
      JsonRef item = list->at(i);
      if (!item.is_object()) {
        problem(path, std::string("must be an object, got ") + item.type_name());
        continue;
      }
      read(item, path);
      if (forget != nullptr && i + 1 < list->size()) forget->forget_before(list->at(i + 1));
    }
  }

 private:
  std::vector<std::string> problems_;
};

std::string render_scalar(const JsonRef& v) {
  switch (v.kind()) {
    case JsonRef::Kind::kString:
      return std::string(v.string());
    case JsonRef::Kind::kBool:
      return v.boolean() ? "true" : "false";
    default:
      return v.dump();  // numbers as Python's json prints them
  }
}

void read_decky(ShapeReader& r, const JsonRef& d, const std::string& path, Decky* out) {
  out->uuid = r.text(d, path, "uuid");
  out->name = r.text(d, path, "name");
  if (auto services = r.maybe(d, path, "services", JsonRef::Kind::kArray, "a list")) {
    for (std::size_t i = 0; i < services->size(); ++i) {
      JsonRef s = services->at(i);
      if (!s.is_string()) {
        r.problem(path + ".services[" + std::to_string(i) + "]",
                  std::string("must be a service name, got ") + s.type_name());
        continue;
      }
      out->services.emplace_back(s.string());
    }
  }
  auto config = r.need(d, path, "decky_config", JsonRef::Kind::kObject, "an object");
  if (!config) return;
  const std::string cpath = path + ".decky_config";
  out->forwards_l3 = r.flag(*config, cpath, "forwards_l3");
  if (auto ips = r.maybe(*config, cpath, "ips_by_lan", JsonRef::Kind::kObject, "an object")) {
    for (std::size_t i = 0; i < ips->size(); ++i) {
      JsonRef ip = ips->value_at(i);
      if (!ip.is_string()) {
        r.problem(cpath + ".ips_by_lan['" + excerpt(ips->key_at(i), 40) + "']",
                  std::string("must be an IPv4 address string, got ") + ip.type_name());
        continue;
      }
      out->ips_by_lan.emplace(ips->key_at(i), ip.string());
    }
  }
  // Per-service values: objects of scalars. A value of the wrong kind is a
  // validation error (SERVICE_CFG_INVALID, a 400), not a shape error, so it
  // is kept for the validator to report.
  if (auto sc = r.maybe(*config, cpath, "service_config", JsonRef::Kind::kObject, "an object")) {
    for (std::size_t i = 0; i < sc->size(); ++i) {
      const std::string service(sc->key_at(i));
      JsonRef values = sc->value_at(i);
      auto& rendered = out->service_config[service];
      if (!values.is_object()) {
        out->bad_service_config.push_back("'" + excerpt(service, 40) + "' is " +
                                          values.type_name() + ", not an object");
        continue;
      }
      for (std::size_t k = 0; k < values.size(); ++k) {
        JsonRef v = values.value_at(k);
        if (v.is_null()) continue;
        if (!v.is_scalar()) {
          out->bad_service_config.push_back("'" + excerpt(service, 40) + "' key '" +
                                            excerpt(values.key_at(k), 40) + "' is " +
                                            v.type_name() + ", not a scalar");
          continue;
        }
        rendered.emplace(values.key_at(k), render_scalar(v));
      }
    }
  }
}

Status shape_error(std::string message) { return Status(1, std::move(message)); }

}  // namespace

Expected<Topology> read_topology(const JsonRef& hydrated, JsonTree* forget) {
  if (!hydrated.is_object()) {
    return shape_error(std::string("'hydrated' must be a JSON object, got ") +
                       hydrated.type_name());
  }
  ShapeReader r;
  Topology t;
  if (auto topo = r.need(hydrated, "hydrated", "topology", JsonRef::Kind::kObject, "an object")) {
    t.id = r.text(*topo, "hydrated.topology", "id");
  }
  r.each_object(hydrated, "lans", t.lans, nullptr, [&](const JsonRef& l, const std::string& path) {
    Lan lan;
    lan.id = r.text(l, path, "id");
    lan.name = r.text(l, path, "name");
    lan.subnet = r.text(l, path, "subnet");
    lan.is_dmz = r.flag(l, path, "is_dmz");
    t.lans.push_back(std::move(lan));
  });
  // Edges before deckies: forgetting the tree while the deckies are read
  // gives back whatever came before them in the text, edges included. Their
  // problems are still listed after the deckies'.
  ShapeReader edge_problems;
  edge_problems.each_object(
      hydrated, "edges", t.edges, nullptr, [&](const JsonRef& e, const std::string& path) {
        t.edges.push_back(
            {edge_problems.text(e, path, "decky_uuid"), edge_problems.text(e, path, "lan_id")});
      });
  // Nothing is read after the deckies: the tree can go as they are read.
  r.each_object(hydrated, "deckies", t.deckies, forget,
                [&](const JsonRef& d, const std::string& path) {
                  Decky decky;
                  read_decky(r, d, path, &decky);
                  t.deckies.push_back(std::move(decky));
                });
  r.append(std::move(edge_problems));
  if (!r.ok()) return shape_error(r.message());
  return t;
}

Expected<ApplyRequest> read_apply_request(std::string_view body) {
  auto tree = JsonTree::parse(body, JsonTree::Duplicates::kReject);
  if (!tree) {
    return shape_error("request body is not valid JSON: " + tree.error().message() + "; expected " +
                       kApplyShape);
  }
  JsonRef root = tree->root();
  if (!root.is_object()) {
    return shape_error(std::string("request body must be a JSON object, got ") + root.type_name() +
                       "; expected " + kApplyShape);
  }
  auto hydrated = root.find("hydrated");
  if (!hydrated || !hydrated->is_object()) {
    return shape_error(std::string("'hydrated' must be a JSON object; expected ") + kApplyShape);
  }
  auto hash = root.find("version_hash");
  if (!hash || !hash->is_string()) {
    return shape_error(std::string("'version_hash' must be a string; expected ") + kApplyShape);
  }
  ApplyRequest req;
  req.master_hash = std::string(hash->string());
  req.local_hash = tree->canonical_hash(*hydrated);
  req.blob = tree->raw_root_member("hydrated");
  // The hash first (DESIGN §3): a document the master did not hash is never
  // modelled, so a wrong body costs its tree and no more.
  if (!req.hash_matches()) return req;
  auto topology = read_topology(*hydrated, &*tree);  // the hash is taken: consume the tree
  if (!topology) return topology.error();
  req.topology = std::move(topology).value();
  return req;
}

Expected<std::string> read_teardown_request(std::string_view body) {
  auto tree = JsonTree::parse(body, JsonTree::Duplicates::kReject);
  if (!tree) {
    return shape_error("request body is not valid JSON: " + tree.error().message() + "; expected " +
                       kTeardownShape);
  }
  auto id = tree->root().find("topology_id");
  if (!id || !id->is_string()) {
    return shape_error(std::string("'topology_id' must be a string; expected ") + kTeardownShape);
  }
  return std::string(id->string());
}

}  // namespace edge
