// The pure half of the observer: parsing listings, deriving the observation
// and the drift, and deciding which events matter.

#include <gtest/gtest.h>

#include "docker_obs/observer.h"
#include "tests/support/drift_json.h"

namespace edge::docker {
namespace {

using nlohmann::json;

std::map<std::string, std::string> labels(const std::string& tid, const std::string& spec) {
  return {{kLabelTopologyId, tid}, {kLabelSpec, spec}};
}

Plan plan_t1() {
  Plan p;
  p.topology_id = "t1";
  NetworkSpec dmz;
  dmz.name = "decnet_t_t1_dmz";
  dmz.labels = labels("t1", "s-dmz");
  NetworkSpec lan;
  lan.name = "decnet_t_t1_lan";
  lan.labels = labels("t1", "s-lan");
  p.networks = {dmz, lan};
  ContainerSpec base;
  base.name = "decnet_t_t1_web";
  base.labels = labels("t1", "s-web");
  ContainerSpec svc;
  svc.name = "decnet_t_t1_web-ssh";
  svc.labels = labels("t1", "s-ssh");
  p.bases = {base};
  p.services = {svc};
  return p;
}

// What the engine shows when everything of plan_t1 runs as planned.
EngineSnapshot converged_t1() {
  EngineSnapshot s;
  s.reachable = true;
  s.networks = {{"decnet_t_t1_dmz", labels("t1", "s-dmz")},
                {"decnet_t_t1_lan", labels("t1", "s-lan")}};
  s.containers = {{"decnet_t_t1_web", "running", labels("t1", "s-web")},
                  {"decnet_t_t1_web-ssh", "running", labels("t1", "s-ssh")}};
  return s;
}

constexpr auto drift = edge::testing::drift_json;

TEST(ComputeDrift, AConvergedEngineIsInSync) {
  EXPECT_EQ(compute_drift(plan_t1(), converged_t1()),
            drift(json::array(), json::array(), json::array(), json::array()));
}

TEST(ComputeDrift, AMissingBridgeIsDriftEvenWhenEverythingElseMatches) {
  EngineSnapshot s = converged_t1();
  s.networks.erase(s.networks.begin() + 1);
  EXPECT_EQ(compute_drift(plan_t1(), s),
            drift({"decnet_t_t1_lan"}, json::array(), json::array(), json::array()));
}

TEST(ComputeDrift, NamesMissingStoppedChangedAndExtraObjectsSorted) {
  EngineSnapshot s;
  s.reachable = true;
  s.networks = {{"decnet_t_t1_dmz", labels("t1", "old-spec")},
                {"decnet_t_t1_zombie", labels("t1", "x")}};
  s.containers = {{"decnet_t_t1_web", "exited", labels("t1", "s-web")},
                  {"decnet_t_t1_aaa", "running", labels("t1", "x")}};
  EXPECT_EQ(compute_drift(plan_t1(), s), drift({"decnet_t_t1_lan", "decnet_t_t1_web-ssh"},
                                               {"decnet_t_t1_aaa", "decnet_t_t1_zombie"},
                                               {"decnet_t_t1_web"}, {"decnet_t_t1_dmz"}));
}

TEST(ComputeDrift, AContainerWithoutASpecLabelIsChanged) {
  EngineSnapshot s = converged_t1();
  s.containers[1].labels.erase(kLabelSpec);
  EXPECT_EQ(compute_drift(plan_t1(), s),
            drift(json::array(), json::array(), json::array(), {"decnet_t_t1_web-ssh"}));
}

TEST(ComputeDrift, IgnoresObjectsOfOtherTopologies) {
  EngineSnapshot s = converged_t1();
  s.networks.push_back({"decnet_t_t2_dmz", labels("t2", "s")});
  s.containers.push_back({"decnet_t_t2_web", "running", labels("t2", "s")});
  // Same name, other topology: not ours, so ours is missing.
  s.containers[0].labels[kLabelTopologyId] = "t2";
  EXPECT_EQ(compute_drift(plan_t1(), s),
            drift({"decnet_t_t1_web"}, json::array(), json::array(), json::array()));
}

TEST(DeriveObservation, ListsOnlyTheWatchedTopologysBridgesAndRunningContainers) {
  EngineSnapshot s = converged_t1();
  s.containers[1].state = "exited";
  s.containers.push_back({"decnet_t_t2_x", "running", labels("t2", "s")});
  s.networks.insert(s.networks.begin(), {"decnet_t_t2_dmz", labels("t2", "s")});
  Plan p = plan_t1();
  Observation o = derive_observation(s, &p);
  EXPECT_TRUE(o.reachable);
  EXPECT_EQ(o.error, "");
  EXPECT_EQ(o.bridges, (std::vector<std::string>{"decnet_t_t1_dmz", "decnet_t_t1_lan"}));
  EXPECT_EQ(o.containers, (std::vector<std::string>{"decnet_t_t1_web"}));
  EXPECT_EQ(o.drift, drift(json::array(), json::array(), {"decnet_t_t1_web-ssh"}, json::array()));
}

TEST(DeriveObservation, WithNothingWatchedListsEveryLabelledObjectAndHasEmptyDrift) {
  EngineSnapshot s = converged_t1();
  s.containers.push_back({"decnet_t_t2_x", "running", labels("t2", "s")});
  Observation o = derive_observation(s, nullptr);
  EXPECT_EQ(o.bridges, (std::vector<std::string>{"decnet_t_t1_dmz", "decnet_t_t1_lan"}));
  EXPECT_EQ(o.containers,
            (std::vector<std::string>{"decnet_t_t1_web", "decnet_t_t1_web-ssh", "decnet_t_t2_x"}));
  EXPECT_EQ(o.drift, json::object());
}

TEST(DeriveObservation, AnEmptyTopologyIdMeansNothingIsWatched) {
  Plan p;
  EXPECT_EQ(derive_observation(converged_t1(), &p).drift, json::object());
}

TEST(DeriveObservation, AnUnreachableEngineGivesTheReasonAndNeverInSync) {
  EngineSnapshot s;
  s.reachable = false;
  s.error = "cannot reach the Docker engine: socket /x does not exist (is dockerd running?)";
  Plan p = plan_t1();
  Observation watched = derive_observation(s, &p);
  EXPECT_FALSE(watched.reachable);
  EXPECT_EQ(watched.error, s.error);
  EXPECT_TRUE(watched.bridges.empty());
  EXPECT_TRUE(watched.containers.empty());
  EXPECT_EQ(watched.drift, json({{"in_sync", false}, {"error", s.error}}));
  EXPECT_EQ(derive_observation(s, nullptr).drift, json::object());
}

TEST(ParseContainerList, StripsTheLeadingSlashAndToleratesNullLabels) {
  json body = json::parse(R"([
    {"Id":"1","Names":["/b"],"State":"running","Labels":{"decnet.topology.id":"t1","n":"1"}},
    {"Id":"2","Names":["/a"],"State":"exited","Labels":null}])");
  std::vector<ObservedContainer> out;
  std::string error;
  ASSERT_TRUE(parse_container_list(body, &out, &error)) << error;
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].name, "a");
  EXPECT_EQ(out[0].state, "exited");
  EXPECT_TRUE(out[0].labels.empty());
  EXPECT_EQ(out[1].name, "b");
  EXPECT_EQ(out[1].labels,
            (std::map<std::string, std::string>{{"decnet.topology.id", "t1"}, {"n", "1"}}));
}

TEST(ParseContainerList, RejectsABodyThatIsNotAList) {
  std::vector<ObservedContainer> out;
  std::string error;
  EXPECT_FALSE(parse_container_list(json{{"message", "x"}}, &out, &error));
  EXPECT_EQ(error, "the engine's container list is not a JSON array");
  EXPECT_FALSE(parse_container_list(json::parse(R"([{"Id":"1"}])"), &out, &error));
  EXPECT_EQ(error, "the engine's container list has an entry without Names");
}

TEST(ParseNetworkList, ReadsNamesAndLabelsSortedByName) {
  json body = json::parse(R"([{"Name":"z","Labels":{"k":"v"}},{"Name":"a","Labels":{}}])");
  std::vector<ObservedNetwork> out;
  std::string error;
  ASSERT_TRUE(parse_network_list(body, &out, &error)) << error;
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].name, "a");
  EXPECT_EQ(out[1].name, "z");
  EXPECT_EQ(out[1].labels, (std::map<std::string, std::string>{{"k", "v"}}));
}

json container_event(const std::string& action, bool labelled) {
  json attrs = {{"name", "decnet_t_t1_web"}, {"image", "busybox"}};
  if (labelled) attrs[kLabelTopologyId] = "t1";
  return {
      {"Type", "container"}, {"Action", action}, {"Actor", {{"ID", "abc"}, {"Attributes", attrs}}}};
}

TEST(EventTriggersRelist, LifecycleEventsOfLabelledContainersDo) {
  for (const char* action : {"create", "start", "die", "stop", "destroy", "rename", "pause"}) {
    EXPECT_TRUE(event_triggers_relist(container_event(action, true))) << action;
  }
}

TEST(EventTriggersRelist, ExecAndHealthEventsAndUnlabelledContainersDoNot) {
  EXPECT_FALSE(event_triggers_relist(container_event("exec_start: sh -c true", true)));
  EXPECT_FALSE(event_triggers_relist(container_event("health_status: healthy", true)));
  EXPECT_FALSE(event_triggers_relist(container_event("attach", true)));
  EXPECT_FALSE(event_triggers_relist(container_event("start", false)));
}

TEST(EventTriggersRelist, AnyNetworkEventDoesAndOtherTypesDoNot) {
  EXPECT_TRUE(event_triggers_relist(
      json{{"Type", "network"}, {"Action", "destroy"}, {"Actor", {{"ID", "n1"}}}}));
  EXPECT_FALSE(event_triggers_relist(json{{"Type", "image"}, {"Action", "pull"}}));
  EXPECT_FALSE(event_triggers_relist(json("not an event")));
}

}  // namespace
}  // namespace edge::docker

namespace edge::docker {
namespace {

TEST(EventTriggersRelist, WhenWatchingOnlyThatTopologysContainersAndNetworksCount) {
  EventScope scope{"t1", {"decnet_t_t1_dmz"}};
  json other = container_event("die", true);
  other["Actor"]["Attributes"][kLabelTopologyId] = "t2";
  EXPECT_TRUE(event_triggers_relist(container_event("die", true), scope));
  EXPECT_FALSE(event_triggers_relist(other, scope));
  auto network_event = [](const std::string& name) {
    return json{{"Type", "network"},
                {"Action", "disconnect"},
                {"Actor", {{"ID", "n1"}, {"Attributes", {{"name", name}, {"type", "bridge"}}}}}};
  };
  EXPECT_TRUE(event_triggers_relist(network_event("decnet_t_t1_dmz"), scope));
  EXPECT_FALSE(event_triggers_relist(network_event("decnet_t_t2_dmz"), scope));
  EXPECT_TRUE(event_triggers_relist(network_event("decnet_t_t2_dmz"), EventScope{}));
}

}  // namespace
}  // namespace edge::docker
