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

#include "common/thread.h"

namespace edge::docker {

namespace {

using nlohmann::json;
using Task = std::function<Status()>;

// ---------------------------------------------------------------------------
// A phase: independent engine calls run on up to `parallelism` threads. Every
// task runs (no cancellation: a half-done phase is worse than a finished one),
// and every failure is reported.

Status run_phase(const std::vector<Task>& tasks, int parallelism) {
  if (tasks.empty()) return Status::success();
  std::mutex mu;  // guards failures
  std::vector<std::string> failures;
  std::atomic<size_t> next{0};
  auto worker = [&] {
    for (size_t i = next++; i < tasks.size(); i = next++) {
      Status st;
      try {
        st = tasks[i]();
      } catch (const std::exception& e) {
        // Engine answers are parsed with nlohmann; a malformed one lands here.
        st = Status::failure(std::string("unexpected engine answer: ") + e.what());
      }
      if (!st.ok()) {
        std::lock_guard lock(mu);
        failures.push_back(st.message());
      }
    }
  };
  const size_t workers =
      std::min<size_t>(tasks.size(), static_cast<size_t>(std::max(1, parallelism)));
  if (workers == 1) {
    worker();
  } else {
    // Each engine call has its own timeout, so the workers end: joined in
    // the OwnedThread destructors, at the end of this scope.
    std::vector<OwnedThread> threads;
    threads.reserve(workers);
    for (size_t i = 0; i < workers; ++i) threads.emplace_back("docker-apply", worker);
  }
  if (failures.empty()) return Status::success();
  std::sort(failures.begin(), failures.end());
  std::string msg = failures.front();
  constexpr size_t kShown = 5;
  for (size_t i = 1; i < failures.size() && i < kShown; ++i) msg += "; " + failures[i];
  if (failures.size() > kShown) {
    msg += "; and " + std::to_string(failures.size() - kShown) + " more";
  }
  return Status::failure(std::move(msg));
}

// ---------------------------------------------------------------------------
// What the engine has.

std::string string_at(const json& j, const char* key) {
  if (!j.is_object()) return "";
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : "";
}

// ---------------------------------------------------------------------------
// Engine calls on one object. Every failure names the object and carries the
// engine's own words.

Status remove_container(DockerEngine& engine, const std::string& id, const std::string& name) {
  EngineResponse r = engine.del("/containers/" + id + "?force=1&v=1", "DELETE /containers/{id}");
  if (r.ok() || r.status == 404) return Status::success();  // gone already is fine
  return Status::failure("removing container " + name + ": " + r.message());
}

Status remove_network(DockerEngine& engine, const std::string& id, const std::string& name) {
  EngineResponse r = engine.del("/networks/" + id, "DELETE /networks/{id}");
  if (r.ok() || r.status == 404) return Status::success();
  if (r.status == 403 || r.status == 409) {
    // Still has endpoints: this agent's containers are gone by now, so what
    // is attached is someone else's (an operator's debug container). It is
    // never detached behind its owner's back (DESIGN §5): name it instead.
    EngineResponse info = engine.get("/networks/" + id, "GET /networks/{id}");
    json body = info.json();
    std::string attached;
    if (info.ok() && body.is_object() && body.contains("Containers") &&
        body["Containers"].is_object()) {
      for (const auto& [container, ep] : body["Containers"].items()) {
        std::string shown = string_at(ep, "Name");
        attached += (attached.empty() ? "" : ", ") + (shown.empty() ? container : shown);
      }
    }
    if (!attached.empty()) {
      return Status::failure("removing network " + name +
                             ": containers this agent does not own are attached (" + attached +
                             "); disconnect them and send the teardown again");
    }
  }
  return Status::failure("removing network " + name + ": " + r.message());
}

Status start_container(DockerEngine& engine, const std::string& name) {
  EngineResponse r =
      engine.post("/containers/" + name + "/start", nullptr, "POST /containers/{id}/start");
  if (r.ok() || r.status == 304) return Status::success();  // 304: already running
  return Status::failure("starting container " + name + ": " + r.message());
}

// Pulls each image at most once per converge, however many creates miss it
// at the same time; later callers wait for the first one's result.
class ImagePuller {
 public:
  explicit ImagePuller(DockerEngine& engine) : engine_(engine) {}

  Status pull(const std::string& image) {
    std::promise<Status> promise;
    std::shared_future<Status> result;
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
  Status do_pull(const std::string& image) {
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
      return Status::failure("pulling image " + image + " failed: " + r.message());
    }
    // A 200 only means the stream started; the outcome is in its lines.
    if (!failure.empty()) {
      return Status::failure("pulling image " + image + " failed: " + failure);
    }
    spdlog::info("pulled image {} in {} ms", image,
                 std::chrono::duration_cast<std::chrono::milliseconds>(
                     std::chrono::steady_clock::now() - started)
                     .count());
    return Status::success();
  }

  DockerEngine& engine_;
  std::mutex mu_;  // guards pulls_
  std::map<std::string, std::shared_future<Status>> pulls_;
};

// POST /containers/create, pulling the image once when the engine lacks it.
Status create_container(DockerEngine& engine, ImagePuller& puller, const ContainerSpec& spec) {
  const std::string path = "/containers/create?name=" + url_encode(spec.name);
  const json body = spec.create_body();
  EngineResponse r = engine.post(path, body, "POST /containers/create");
  if (r.status == 404 && r.message().find("No such image") != std::string::npos) {
    Status pulled = puller.pull(spec.image);
    if (!pulled.ok()) {
      return Status::failure("creating container " + spec.name + ": " + pulled.message());
    }
    r = engine.post(path, body, "POST /containers/create");
  }
  if (!r.ok()) {
    return Status::failure("creating container " + spec.name + " (image " + spec.image +
                           "): " + r.message());
  }
  return Status::success();
}

Status create_base(DockerEngine& engine, ImagePuller& puller, const ContainerSpec& spec) {
  if (Status st = create_container(engine, puller, spec); !st.ok()) return st;
  // The create attached the first network; the others join before start so
  // the idle process (and any service) sees every interface from the outset.
  for (size_t i = 1; i < spec.networks.size(); ++i) {
    const auto& [net, ip] = spec.networks[i];
    json endpoint = json::object();
    if (!ip.empty()) endpoint["IPAMConfig"] = {{"IPv4Address", ip}};
    EngineResponse r = engine.post("/networks/" + url_encode(net) + "/connect",
                                   json{{"Container", spec.name}, {"EndpointConfig", endpoint}},
                                   "POST /networks/{id}/connect");
    if (!r.ok()) {
      // The next converge sees the missing endpoint and recreates it.
      return Status::failure("connecting container " + spec.name + " to network " + net +
                             (ip.empty() ? "" : " as " + ip) + ": " + r.message());
    }
  }
  return start_container(engine, spec.name);
}

Status create_service(DockerEngine& engine, ImagePuller& puller, const ContainerSpec& spec) {
  if (Status st = create_container(engine, puller, spec); !st.ok()) return st;
  return start_container(engine, spec.name);
}

// Removes containers (services first: they live in a base's namespace), then
// networks.
Status remove_objects(DockerEngine& engine, const std::vector<LiveContainer>& containers,
                      const std::vector<LiveNetwork>& networks, int parallelism) {
  std::vector<Task> services;
  std::vector<Task> others;
  for (const LiveContainer& c : containers) {
    Task t = [&engine, &c] { return remove_container(engine, c.id, c.name); };
    (c.label(kLabelRole) == "service" ? services : others).push_back(std::move(t));
  }
  if (Status st = run_phase(services, parallelism); !st.ok()) return st;
  if (Status st = run_phase(others, parallelism); !st.ok()) return st;
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

Status execute(DockerEngine& engine, const Actions& a, int parallelism) {
  // --- Phases: remove, then networks, bases, services.
  if (Status st = remove_objects(engine, a.containers_to_remove, a.networks_to_remove, parallelism);
      !st.ok()) {
    return st;
  }
  std::vector<Task> tasks;
  for (const NetworkSpec* n : a.networks_to_create) {
    tasks.push_back([&engine, n] {
      EngineResponse r = engine.post("/networks/create", n->create_body(), "POST /networks/create");
      if (r.ok()) return Status::success();
      return Status::failure("creating network " + n->name + " (subnet " + n->subnet +
                             "): " + r.message());
    });
  }
  if (Status st = run_phase(tasks, parallelism); !st.ok()) return st;

  auto simple = [&engine](const ContainerSpec* c, const char* verb, const char* action) {
    return [&engine, c, verb, action] {
      EngineResponse r = engine.post("/containers/" + c->name + "/" + verb, nullptr,
                                     std::string("POST /containers/{id}/") + verb);
      if (r.ok() || r.status == 304) return Status::success();
      return Status::failure(std::string(action) + " container " + c->name + ": " + r.message());
    };
  };
  ImagePuller puller(engine);
  tasks.clear();
  for (const ContainerSpec* b : a.bases_to_create) {
    tasks.push_back([&engine, &puller, b] { return create_base(engine, puller, *b); });
  }
  for (const ContainerSpec* b : a.bases_to_start) {
    tasks.push_back([&engine, b] { return start_container(engine, b->name); });
  }
  for (const ContainerSpec* b : a.bases_to_unpause)
    tasks.push_back(simple(b, "unpause", "unpausing"));
  if (Status st = run_phase(tasks, parallelism); !st.ok()) return st;

  tasks.clear();
  for (const ContainerSpec* s : a.services_to_create) {
    tasks.push_back([&engine, &puller, s] { return create_service(engine, puller, *s); });
  }
  for (const ContainerSpec* s : a.services_to_start) {
    tasks.push_back([&engine, s] { return start_container(engine, s->name); });
  }
  for (const ContainerSpec* s : a.services_to_restart) {
    tasks.push_back(simple(s, "restart?t=2", "restarting"));
  }
  for (const ContainerSpec* s : a.services_to_unpause) {
    tasks.push_back(simple(s, "unpause", "unpausing"));
  }
  return run_phase(tasks, parallelism);
}

}  // namespace

Expected<Live> list_engine(DockerEngine& engine) {
  std::string error;
  if (!reachable(engine, &error)) return Status::failure(error);
  EngineResponse nets = engine.get("/networks", "GET /networks");
  if (!nets.ok()) return Status::failure("listing networks: " + nets.message());
  const std::string filter = url_encode(json{{"label", json::array({kLabelTopologyId})}}.dump());
  EngineResponse ctrs =
      engine.get("/containers/json?all=1&filters=" + filter, "GET /containers/json");
  if (!ctrs.ok()) return Status::failure("listing containers: " + ctrs.message());
  auto networks = parse_networks(nets.json());
  if (!networks) return networks.error();
  auto containers = parse_containers(ctrs.json());
  if (!containers) return containers.error();
  return Live{std::move(networks).value(), std::move(containers).value()};
}

Status check_subnets(DockerEngine& engine, const Plan& plan,
                     const std::vector<std::string>& adopt) {
  auto all = list_engine(engine);
  if (!all) return all.error();
  auto conflicts = subnet_conflicts(plan, *all, owned_objects(*all, plan.owner, adopt));
  if (conflicts.empty()) return Status::success();
  std::string msg;
  for (const auto& c : conflicts) msg += (msg.empty() ? "" : "; ") + c;
  return Status(kSubnetConflict, msg);
}

Status converge(DockerEngine& engine, const Plan& plan, int parallelism) {
  const auto started = std::chrono::steady_clock::now();
  if (plan.topology_id.empty()) return Status::failure("the plan has no topology id");
  auto all = list_engine(engine);
  if (!all) return all.error();
  const Live owned = owned_objects(*all, plan.owner, {plan.topology_id});
  if (auto conflicts = subnet_conflicts(plan, *all, owned); !conflicts.empty()) {
    std::string msg;
    for (const auto& c : conflicts) msg += (msg.empty() ? "" : "; ") + c;
    return Status(kSubnetConflict, msg);
  }
  const Actions actions = diff(plan, owned);
  spdlog::info(
      "converge {}: networks +{} -{}; containers +{} -{} start {} restart {} (parallelism {})",
      plan.topology_id, actions.networks_to_create.size(), actions.networks_to_remove.size(),
      actions.bases_to_create.size() + actions.services_to_create.size(),
      actions.containers_to_remove.size(),
      actions.bases_to_start.size() + actions.services_to_start.size(),
      actions.services_to_restart.size(), parallelism);
  if (Status st = execute(engine, actions, parallelism); !st.ok()) return st;
  spdlog::info("converged topology {} in {} ms", plan.topology_id, elapsed_ms(started));
  return Status::success();
}

Status teardown_topology(DockerEngine& engine, const std::string& topology_id,
                         const std::string& owner, const std::vector<std::string>& adopt,
                         int parallelism) {
  const auto started = std::chrono::steady_clock::now();
  if (topology_id.empty()) return Status::failure("teardown needs a topology id");
  auto all = list_engine(engine);
  if (!all) return Status::failure("tearing down " + topology_id + ": " + all.error().message());
  const Live mine = topology_objects(owned_objects(*all, owner, adopt), topology_id);
  if (Status st = remove_objects(engine, mine.containers, mine.networks, parallelism); !st.ok()) {
    return Status::failure("tearing down " + topology_id + ": " + st.message());
  }
  spdlog::info("tore down topology {} ({} containers, {} networks) in {} ms", topology_id,
               mine.containers.size(), mine.networks.size(), elapsed_ms(started));
  return Status::success();
}

}  // namespace edge::docker
