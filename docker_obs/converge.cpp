#include "docker_obs/converge.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <exception>
#include <functional>
#include <future>
#include <map>
#include <mutex>
#include <set>
#include <sstream>
#include <thread>
#include <vector>

namespace edge::docker {

namespace {

using nlohmann::json;
using Task = std::function<RuntimeStatus()>;

// ---------------------------------------------------------------------------
// A phase: independent engine calls run on up to `parallelism` threads. Every
// task runs (no cancellation: a half-done phase is worse than a finished one),
// and every failure is reported.

RuntimeStatus run_phase(const std::vector<Task>& tasks, int parallelism) {
  if (tasks.empty()) return RuntimeStatus::success();
  std::mutex mu;  // guards failures
  std::vector<std::string> failures;
  std::atomic<size_t> next{0};
  auto worker = [&] {
    for (size_t i = next++; i < tasks.size(); i = next++) {
      RuntimeStatus st;
      try {
        st = tasks[i]();
      } catch (const std::exception& e) {
        // Engine answers are parsed with nlohmann; a malformed one lands here.
        st = RuntimeStatus::failure(std::string("unexpected engine answer: ") + e.what());
      }
      if (!st.ok) {
        std::lock_guard lock(mu);
        failures.push_back(std::move(st.message));
      }
    }
  };
  const size_t workers =
      std::min<size_t>(tasks.size(), static_cast<size_t>(std::max(1, parallelism)));
  if (workers == 1) {
    worker();
  } else {
    std::vector<std::thread> threads;
    threads.reserve(workers);
    for (size_t i = 0; i < workers; ++i) threads.emplace_back(worker);
    for (auto& t : threads) t.join();
  }
  if (failures.empty()) return RuntimeStatus::success();
  std::sort(failures.begin(), failures.end());
  std::string msg = failures.front();
  constexpr size_t kShown = 5;
  for (size_t i = 1; i < failures.size() && i < kShown; ++i) msg += "; " + failures[i];
  if (failures.size() > kShown) {
    msg += "; and " + std::to_string(failures.size() - kShown) + " more";
  }
  return RuntimeStatus::failure(std::move(msg));
}

// ---------------------------------------------------------------------------
// What the engine has.

struct LiveContainer {
  std::string id;
  std::string name;
  std::string state;  // created | running | paused | restarting | removing | exited | dead
  std::map<std::string, std::string> labels;
  std::string network_mode;
  std::map<std::string, std::string> endpoints;  // network name -> configured IPv4 ("" if none)

  std::string label(const char* key) const {
    auto it = labels.find(key);
    return it == labels.end() ? "" : it->second;
  }
};

struct LiveNetwork {
  std::string id;
  std::string name;
  std::map<std::string, std::string> labels;

  std::string label(const char* key) const {
    auto it = labels.find(key);
    return it == labels.end() ? "" : it->second;
  }
};

std::map<std::string, std::string> string_map(const json& j) {
  std::map<std::string, std::string> out;
  if (!j.is_object()) return out;
  for (const auto& [k, v] : j.items()) {
    if (v.is_string()) out[k] = v.get<std::string>();
  }
  return out;
}

std::string string_at(const json& j, const char* key) {
  if (!j.is_object()) return "";
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : "";
}

std::string label_filter(const std::string& label) {
  return url_encode(json{{"label", json::array({label})}}.dump());
}

// `label` is "key=value" or just "key" (any value).
bool list_containers(DockerEngine& engine, const std::string& label,
                     std::vector<LiveContainer>* out, std::string* error) {
  EngineResponse r =
      engine.get("/containers/json?all=1&filters=" + label_filter(label), "GET /containers/json");
  json body = r.json();
  if (!r.ok() || !body.is_array()) {
    *error = "listing containers: " + r.message();
    return false;
  }
  for (const json& c : body) {
    LiveContainer live;
    live.id = string_at(c, "Id");
    if (c.contains("Names") && c["Names"].is_array() && !c["Names"].empty() &&
        c["Names"][0].is_string()) {
      live.name = c["Names"][0].get<std::string>();
      if (!live.name.empty() && live.name[0] == '/') live.name.erase(0, 1);
    }
    live.state = string_at(c, "State");
    live.labels = string_map(c.value("Labels", json::object()));
    live.network_mode = string_at(c.value("HostConfig", json::object()), "NetworkMode");
    const json settings = c.value("NetworkSettings", json::object());
    if (settings.is_object() && settings.contains("Networks") && settings["Networks"].is_object()) {
      for (const auto& [net, ep] : settings["Networks"].items()) {
        std::string ip;
        if (ep.is_object() && ep.contains("IPAMConfig"))
          ip = string_at(ep["IPAMConfig"], "IPv4Address");
        live.endpoints[net] = ip;
      }
    }
    out->push_back(std::move(live));
  }
  return true;
}

bool list_networks(DockerEngine& engine, const std::string& label, std::vector<LiveNetwork>* out,
                   std::string* error) {
  EngineResponse r = engine.get("/networks?filters=" + label_filter(label), "GET /networks");
  json body = r.json();
  if (!r.ok() || !body.is_array()) {
    *error = "listing networks: " + r.message();
    return false;
  }
  for (const json& n : body) {
    out->push_back(
        {string_at(n, "Id"), string_at(n, "Name"), string_map(n.value("Labels", json::object()))});
  }
  return true;
}

// ---------------------------------------------------------------------------
// Engine calls on one object. Every failure names the object and carries the
// engine's own words.

RuntimeStatus remove_container(DockerEngine& engine, const std::string& id,
                               const std::string& name) {
  EngineResponse r = engine.del("/containers/" + id + "?force=1&v=1", "DELETE /containers/{id}");
  if (r.ok() || r.status == 404) return RuntimeStatus::success();  // gone already is fine
  return RuntimeStatus::failure("removing container " + name + ": " + r.message());
}

RuntimeStatus remove_network(DockerEngine& engine, const std::string& id, const std::string& name) {
  EngineResponse r = engine.del("/networks/" + id, "DELETE /networks/{id}");
  if (r.ok() || r.status == 404) return RuntimeStatus::success();
  if (r.status == 403 || r.status == 409) {
    // Still has endpoints: something outside the topology (an operator's
    // debug container) is attached. The topology owns the network, so it is
    // detached by force and the delete retried once.
    EngineResponse info = engine.get("/networks/" + id, "GET /networks/{id}");
    json body = info.json();
    if (info.ok() && body.is_object() && body.contains("Containers") &&
        body["Containers"].is_object()) {
      for (const auto& [container, ep] : body["Containers"].items()) {
        (void)ep;
        EngineResponse d = engine.post("/networks/" + id + "/disconnect",
                                       json{{"Container", container}, {"Force", true}},
                                       "POST /networks/{id}/disconnect");
        if (!d.ok() && d.status != 404) {
          return RuntimeStatus::failure("removing network " + name + ": detaching container " +
                                        container + ": " + d.message());
        }
      }
      r = engine.del("/networks/" + id, "DELETE /networks/{id}");
      if (r.ok() || r.status == 404) return RuntimeStatus::success();
    }
  }
  return RuntimeStatus::failure("removing network " + name + ": " + r.message());
}

RuntimeStatus start_container(DockerEngine& engine, const std::string& name) {
  EngineResponse r =
      engine.post("/containers/" + name + "/start", nullptr, "POST /containers/{id}/start");
  if (r.ok() || r.status == 304) return RuntimeStatus::success();  // 304: already running
  return RuntimeStatus::failure("starting container " + name + ": " + r.message());
}

// Pulls each image at most once per converge, however many creates miss it
// at the same time; later callers wait for the first one's result.
class ImagePuller {
 public:
  explicit ImagePuller(DockerEngine& engine) : engine_(engine) {}

  RuntimeStatus pull(const std::string& image) {
    std::promise<RuntimeStatus> promise;
    std::shared_future<RuntimeStatus> result;
    bool mine = false;
    {
      std::lock_guard lock(mu_);
      auto it = pulls_.find(image);
      if (it == pulls_.end()) {
        result = promise.get_future().share();
        pulls_.emplace(image, result);
        mine = true;
      } else {
        result = it->second;
      }
    }
    if (mine) promise.set_value(do_pull(image));
    return result.get();
  }

 private:
  RuntimeStatus do_pull(const std::string& image) {
    std::string repo = image;
    std::string tag = "latest";
    if (auto at = image.find('@'); at != std::string::npos) {
      repo = image.substr(0, at);
      tag = image.substr(at + 1);
    } else if (auto colon = image.rfind(':');
               colon != std::string::npos &&
               (image.rfind('/') == std::string::npos || colon > image.rfind('/'))) {
      repo = image.substr(0, colon);
      tag = image.substr(colon + 1);
    }
    spdlog::info("pulling image {}", image);
    const auto started = std::chrono::steady_clock::now();
    // The pull streams one JSON line per step; no total timeout, only an idle
    // one, since a real image on a slow link takes minutes. Progress goes to
    // the log at most once every 10 s.
    struct Layer {
      std::int64_t current = 0;
      std::int64_t total = 0;
      bool done = false;
    };
    std::map<std::string, Layer> layers;
    std::string failure;
    auto last_log = started;
    auto on_line = [&](std::string_view text) {
      json event = json::parse(text, nullptr, false);
      if (!event.is_object()) return;
      std::string err = string_at(event, "error");
      if (err.empty() && event.contains("errorDetail")) {
        err = string_at(event["errorDetail"], "message");
      }
      if ((!err.empty() || event.contains("errorDetail")) && failure.empty()) {
        failure = err.empty() ? "the engine reported an error" : err;
      }
      const std::string id = string_at(event, "id");
      const std::string status = string_at(event, "status");
      if (!id.empty() && status.rfind("Pulling from", 0) != 0) {  // that id is the tag
        Layer& layer = layers[id];
        auto detail = event.find("progressDetail");
        if (status == "Downloading" && detail != event.end() && detail->is_object()) {
          if (auto c = detail->find("current"); c != detail->end() && c->is_number_integer())
            layer.current = c->get<std::int64_t>();
          if (auto t = detail->find("total"); t != detail->end() && t->is_number_integer())
            layer.total = t->get<std::int64_t>();
        }
        if (status == "Download complete" || status == "Pull complete" ||
            status == "Already exists") {
          layer.done = true;
          if (layer.total > 0) layer.current = layer.total;
        }
      }
      const auto now = std::chrono::steady_clock::now();
      if (now - last_log >= std::chrono::seconds(10)) {
        last_log = now;
        std::int64_t current = 0, total = 0;
        int done = 0;
        for (const auto& [lid, l] : layers) {
          current += l.current;
          total += l.total;
          done += l.done ? 1 : 0;
        }
        const auto secs = std::chrono::duration_cast<std::chrono::seconds>(now - started).count();
        if (total > 0) {
          spdlog::info("pulling image {}: {} of {} layers done, {:.1f} of {:.1f} MiB, {} s", image,
                       done, layers.size(), current / 1048576.0, total / 1048576.0, secs);
        } else {
          spdlog::info("pulling image {}: {} of {} layers done, {} s", image, done, layers.size(),
                       secs);
        }
      }
    };
    std::atomic<bool> never{false};
    EngineResponse r = engine_.stream_post(
        "/images/create?fromImage=" + url_encode(repo) + "&tag=" + url_encode(tag), on_line,
        engine_.options().pull_idle_timeout, never, "POST /images/create");
    if (!r.ok()) {
      return RuntimeStatus::failure("pulling image " + image + " failed: " + r.message());
    }
    // A 200 only means the stream started; the outcome is in its lines.
    if (!failure.empty()) {
      return RuntimeStatus::failure("pulling image " + image + " failed: " + failure);
    }
    spdlog::info("pulled image {} in {} ms", image,
                 std::chrono::duration_cast<std::chrono::milliseconds>(
                     std::chrono::steady_clock::now() - started)
                     .count());
    return RuntimeStatus::success();
  }

  DockerEngine& engine_;
  std::mutex mu_;  // guards pulls_
  std::map<std::string, std::shared_future<RuntimeStatus>> pulls_;
};

// POST /containers/create, pulling the image once when the engine lacks it.
RuntimeStatus create_container(DockerEngine& engine, ImagePuller& puller,
                               const ContainerSpec& spec) {
  const std::string path = "/containers/create?name=" + url_encode(spec.name);
  const json body = spec.create_body();
  EngineResponse r = engine.post(path, body, "POST /containers/create");
  if (r.status == 404 && r.message().find("No such image") != std::string::npos) {
    RuntimeStatus pulled = puller.pull(spec.image);
    if (!pulled.ok) {
      return RuntimeStatus::failure("creating container " + spec.name + ": " + pulled.message);
    }
    r = engine.post(path, body, "POST /containers/create");
  }
  if (!r.ok()) {
    return RuntimeStatus::failure("creating container " + spec.name + " (image " + spec.image +
                                  "): " + r.message());
  }
  return RuntimeStatus::success();
}

RuntimeStatus create_base(DockerEngine& engine, ImagePuller& puller, const ContainerSpec& spec) {
  if (RuntimeStatus st = create_container(engine, puller, spec); !st.ok) return st;
  // The create attached the first network; the others join before start so
  // the idle process (and any service) sees every interface from the outset.
  for (size_t i = 1; i < spec.networks.size(); ++i) {
    const auto& [net, ip] = spec.networks[i];
    json endpoint = json::object();
    if (!ip.empty()) endpoint["IPAMConfig"] = {{"IPv4Address", ip}};
    EngineResponse r = engine.post("/networks/" + net + "/connect",
                                   json{{"Container", spec.name}, {"EndpointConfig", endpoint}},
                                   "POST /networks/{id}/connect");
    if (!r.ok()) {
      // The next converge sees the missing endpoint and recreates it.
      return RuntimeStatus::failure("connecting container " + spec.name + " to network " + net +
                                    (ip.empty() ? "" : " as " + ip) + ": " + r.message());
    }
  }
  return start_container(engine, spec.name);
}

RuntimeStatus create_service(DockerEngine& engine, ImagePuller& puller, const ContainerSpec& spec) {
  if (RuntimeStatus st = create_container(engine, puller, spec); !st.ok) return st;
  return start_container(engine, spec.name);
}

// Removes containers (services first: they live in a base's namespace), then
// networks.
RuntimeStatus remove_objects(DockerEngine& engine, const std::vector<LiveContainer>& containers,
                             const std::vector<LiveNetwork>& networks, int parallelism) {
  std::vector<Task> services;
  std::vector<Task> others;
  for (const LiveContainer& c : containers) {
    Task t = [&engine, &c] { return remove_container(engine, c.id, c.name); };
    (c.label(kLabelRole) == "service" ? services : others).push_back(std::move(t));
  }
  if (RuntimeStatus st = run_phase(services, parallelism); !st.ok) return st;
  if (RuntimeStatus st = run_phase(others, parallelism); !st.ok) return st;
  std::vector<Task> nets;
  for (const LiveNetwork& n : networks) {
    nets.push_back([&engine, &n] { return remove_network(engine, n.id, n.name); });
  }
  return run_phase(nets, parallelism);
}

bool reachable(DockerEngine& engine, std::string* error) {
  std::string why;
  if (engine.negotiate(&why)) return true;
  *error = "the Docker engine at " + engine.options().socket_path + " is unreachable: " + why;
  return false;
}

long long elapsed_ms(std::chrono::steady_clock::time_point since) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() -
                                                               since)
      .count();
}

}  // namespace

RuntimeStatus converge(DockerEngine& engine, const Plan& plan, int parallelism) {
  const auto started = std::chrono::steady_clock::now();
  if (plan.topology_id.empty()) return RuntimeStatus::failure("the plan has no topology id");
  std::string error;
  if (!reachable(engine, &error)) return RuntimeStatus::failure(error);

  const std::string id_label = std::string(kLabelTopologyId) + "=" + plan.topology_id;
  std::vector<LiveContainer> live_containers;
  std::vector<LiveNetwork> live_networks;
  if (!list_containers(engine, id_label, &live_containers, &error) ||
      !list_networks(engine, id_label, &live_networks, &error)) {
    return RuntimeStatus::failure(error);
  }

  // --- Networks: keep those whose spec matches, replace the rest.
  std::map<std::string, const NetworkSpec*> want_networks;
  for (const NetworkSpec& n : plan.networks) want_networks[n.name] = &n;
  std::set<std::string> kept_networks;
  std::vector<LiveNetwork> networks_to_remove;
  for (const LiveNetwork& n : live_networks) {
    auto it = want_networks.find(n.name);
    if (it != want_networks.end() && !kept_networks.contains(n.name) &&
        n.label(kLabelSpec) == it->second->labels.at(kLabelSpec)) {
      kept_networks.insert(n.name);
    } else {
      networks_to_remove.push_back(n);
    }
  }
  std::vector<const NetworkSpec*> networks_to_create;
  for (const NetworkSpec& n : plan.networks) {
    if (!kept_networks.contains(n.name)) networks_to_create.push_back(&n);
  }

  // --- Base containers. A base is kept when its spec label matches, it is
  // not dead, and its endpoints are exactly the planned networks and IPs on
  // networks that stay (a network being created means its old one is gone).
  std::map<std::string, const LiveContainer*> live_by_name;
  std::vector<LiveContainer> containers_to_remove;
  for (const LiveContainer& c : live_containers) {
    if (live_by_name.contains(c.name)) {
      containers_to_remove.push_back(c);  // cannot happen with unique names; be safe
    } else {
      live_by_name[c.name] = &c;
    }
  }
  auto usable = [&](const LiveContainer& c, const ContainerSpec& spec) {
    return c.label(kLabelSpec) == spec.labels.at(kLabelSpec) && c.state != "dead" &&
           c.state != "removing" && c.label(kLabelRole) == spec.role;
  };

  std::vector<const ContainerSpec*> bases_to_create;
  std::vector<const ContainerSpec*> bases_to_start;
  std::vector<const ContainerSpec*> bases_to_unpause;
  std::set<std::string> bases_created;
  std::set<std::string> bases_renewed;          // created or started: services must rejoin
  std::map<std::string, std::string> base_ids;  // kept base name -> id
  std::set<std::string> planned;
  for (const ContainerSpec& spec : plan.bases) {
    planned.insert(spec.name);
    auto it = live_by_name.find(spec.name);
    bool keep = false;
    if (it != live_by_name.end()) {
      const LiveContainer& c = *it->second;
      keep = usable(c, spec) && c.endpoints.size() == spec.networks.size();
      for (const auto& [net, ip] : spec.networks) {
        auto ep = c.endpoints.find(net);
        keep = keep && ep != c.endpoints.end() && ep->second == ip && kept_networks.contains(net);
      }
      if (!keep) {
        containers_to_remove.push_back(c);
      } else {
        base_ids[spec.name] = c.id;
        if (c.state == "paused") {
          bases_to_unpause.push_back(&spec);
        } else if (c.state != "running" && c.state != "restarting") {
          bases_to_start.push_back(&spec);
          bases_renewed.insert(spec.name);
        }
      }
    }
    if (!keep) {
      bases_to_create.push_back(&spec);
      bases_created.insert(spec.name);
      bases_renewed.insert(spec.name);
    }
  }

  // --- Services. Recreated when their spec changed, or their base is new
  // (they would be stuck in the old base's namespace); restarted when their
  // base was started again (a stopped base loses its namespace).
  std::map<std::string, std::string> base_of;  // service name -> base name
  for (const ContainerSpec& b : plan.bases) {
    for (const ContainerSpec& s : plan.services) {
      if (s.network_mode == "container:" + b.name) base_of[s.name] = b.name;
    }
  }
  std::vector<const ContainerSpec*> services_to_create;
  std::vector<const ContainerSpec*> services_to_start;
  std::vector<const ContainerSpec*> services_to_restart;
  std::vector<const ContainerSpec*> services_to_unpause;
  for (const ContainerSpec& spec : plan.services) {
    planned.insert(spec.name);
    const std::string& base = base_of[spec.name];
    auto it = live_by_name.find(spec.name);
    bool keep = false;
    if (it != live_by_name.end()) {
      const LiveContainer& c = *it->second;
      auto base_id = base_ids.find(base);
      keep = usable(c, spec) && !bases_created.contains(base) && base_id != base_ids.end() &&
             c.network_mode == "container:" + base_id->second;
      if (!keep) {
        containers_to_remove.push_back(c);
      } else if (bases_renewed.contains(base)) {
        services_to_restart.push_back(&spec);
      } else if (c.state == "paused") {
        services_to_unpause.push_back(&spec);
      } else if (c.state != "running" && c.state != "restarting") {
        services_to_start.push_back(&spec);
      }
    }
    if (!keep) services_to_create.push_back(&spec);
  }
  for (const LiveContainer& c : live_containers) {
    if (!planned.contains(c.name)) containers_to_remove.push_back(c);
  }

  spdlog::info("converge {}: networks +{} -{} ={}; containers +{} -{} ={} (parallelism {})",
               plan.topology_id, networks_to_create.size(), networks_to_remove.size(),
               kept_networks.size(), bases_to_create.size() + services_to_create.size(),
               containers_to_remove.size(), live_containers.size() - containers_to_remove.size(),
               parallelism);

  // --- Phases: remove, then networks, bases, services.
  if (RuntimeStatus st =
          remove_objects(engine, containers_to_remove, networks_to_remove, parallelism);
      !st.ok) {
    return st;
  }

  std::vector<Task> tasks;
  for (const NetworkSpec* n : networks_to_create) {
    tasks.push_back([&engine, n] {
      EngineResponse r = engine.post("/networks/create", n->create_body(), "POST /networks/create");
      if (r.ok()) return RuntimeStatus::success();
      return RuntimeStatus::failure("creating network " + n->name + " (subnet " + n->subnet +
                                    "): " + r.message());
    });
  }
  if (RuntimeStatus st = run_phase(tasks, parallelism); !st.ok) return st;

  ImagePuller puller(engine);
  tasks.clear();
  for (const ContainerSpec* b : bases_to_create) {
    tasks.push_back([&engine, &puller, b] { return create_base(engine, puller, *b); });
  }
  for (const ContainerSpec* b : bases_to_start) {
    tasks.push_back([&engine, b] { return start_container(engine, b->name); });
  }
  for (const ContainerSpec* b : bases_to_unpause) {
    tasks.push_back([&engine, b] {
      EngineResponse r = engine.post("/containers/" + b->name + "/unpause", nullptr,
                                     "POST /containers/{id}/unpause");
      if (r.ok()) return RuntimeStatus::success();
      return RuntimeStatus::failure("unpausing container " + b->name + ": " + r.message());
    });
  }
  if (RuntimeStatus st = run_phase(tasks, parallelism); !st.ok) return st;

  tasks.clear();
  for (const ContainerSpec* s : services_to_create) {
    tasks.push_back([&engine, &puller, s] { return create_service(engine, puller, *s); });
  }
  for (const ContainerSpec* s : services_to_start) {
    tasks.push_back([&engine, s] { return start_container(engine, s->name); });
  }
  for (const ContainerSpec* s : services_to_restart) {
    tasks.push_back([&engine, s] {
      EngineResponse r = engine.post("/containers/" + s->name + "/restart?t=2", nullptr,
                                     "POST /containers/{id}/restart");
      if (r.ok()) return RuntimeStatus::success();
      return RuntimeStatus::failure("restarting container " + s->name + ": " + r.message());
    });
  }
  for (const ContainerSpec* s : services_to_unpause) {
    tasks.push_back([&engine, s] {
      EngineResponse r = engine.post("/containers/" + s->name + "/unpause", nullptr,
                                     "POST /containers/{id}/unpause");
      if (r.ok()) return RuntimeStatus::success();
      return RuntimeStatus::failure("unpausing container " + s->name + ": " + r.message());
    });
  }
  if (RuntimeStatus st = run_phase(tasks, parallelism); !st.ok) return st;

  spdlog::info("converged topology {} in {} ms", plan.topology_id, elapsed_ms(started));
  return RuntimeStatus::success();
}

RuntimeStatus teardown_topology(DockerEngine& engine, const std::string& topology_id,
                                int parallelism) {
  const auto started = std::chrono::steady_clock::now();
  if (topology_id.empty()) return RuntimeStatus::failure("teardown needs a topology id");
  std::string error;
  if (!reachable(engine, &error)) return RuntimeStatus::failure(error);
  const std::string id_label = std::string(kLabelTopologyId) + "=" + topology_id;
  std::vector<LiveContainer> containers;
  std::vector<LiveNetwork> networks;
  if (!list_containers(engine, id_label, &containers, &error) ||
      !list_networks(engine, id_label, &networks, &error)) {
    return RuntimeStatus::failure("tearing down " + topology_id + ": " + error);
  }
  if (RuntimeStatus st = remove_objects(engine, containers, networks, parallelism); !st.ok) {
    return RuntimeStatus::failure("tearing down " + topology_id + ": " + st.message);
  }
  spdlog::info("tore down topology {} ({} containers, {} networks) in {} ms", topology_id,
               containers.size(), networks.size(), elapsed_ms(started));
  return RuntimeStatus::success();
}

RuntimeStatus teardown_other_topologies(DockerEngine& engine, const std::string& keep_id,
                                        int parallelism) {
  std::string error;
  if (!reachable(engine, &error)) return RuntimeStatus::failure(error);
  std::vector<LiveContainer> containers;
  std::vector<LiveNetwork> networks;
  if (!list_containers(engine, kLabelTopologyId, &containers, &error) ||
      !list_networks(engine, kLabelTopologyId, &networks, &error)) {
    return RuntimeStatus::failure("removing superseded topologies: " + error);
  }
  std::erase_if(containers,
                [&](const LiveContainer& c) { return c.label(kLabelTopologyId) == keep_id; });
  std::erase_if(networks,
                [&](const LiveNetwork& n) { return n.label(kLabelTopologyId) == keep_id; });
  if (containers.empty() && networks.empty()) return RuntimeStatus::success();
  std::set<std::string> ids;
  for (const auto& c : containers) ids.insert(c.label(kLabelTopologyId));
  for (const auto& n : networks) ids.insert(n.label(kLabelTopologyId));
  std::string list;
  for (const auto& id : ids) list += (list.empty() ? "" : ", ") + id;
  spdlog::info("removing superseded topologies {} ({} containers, {} networks)", list,
               containers.size(), networks.size());
  if (RuntimeStatus st = remove_objects(engine, containers, networks, parallelism); !st.ok) {
    return RuntimeStatus::failure("removing superseded topologies: " + st.message);
  }
  return RuntimeStatus::success();
}

}  // namespace edge::docker
