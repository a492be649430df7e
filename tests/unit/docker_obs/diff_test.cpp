// The one comparison (diff) and what is derived from it: the drift report,
// ownership, subnet conflicts, the observation, and which events matter.

#include "docker_obs/diff.h"

#include <gtest/gtest.h>

#include "docker_obs/observer.h"
#include "tests/support/drift_json.h"

namespace edge::docker {
namespace {

using nlohmann::json;

const std::string kMe = "agent-me";
const std::string kOther = "agent-other";

std::map<std::string, std::string> labels(const std::string& tid, const std::string& spec,
                                          const std::string& role = "base",
                                          const std::string& owner = kMe) {
  std::map<std::string, std::string> l{
      {kLabelTopologyId, tid}, {kLabelSpec, spec}, {kLabelRole, role}};
  if (!owner.empty()) l[kLabelOwner] = owner;
  return l;
}

// Two LANs, one base on both with fixed IPs, one service in its namespace.
Plan plan_t1() {
  Plan p;
  p.topology_id = "t1";
  p.owner = kMe;
  NetworkSpec dmz;
  dmz.name = "decnet_t_t1_dmz";
  dmz.subnet = "10.0.0.0/24";
  dmz.labels = labels("t1", "s-dmz", "lan");
  NetworkSpec lan;
  lan.name = "decnet_t_t1_lan";
  lan.subnet = "10.1.0.0/24";
  lan.labels = labels("t1", "s-lan", "lan");
  p.networks = {dmz, lan};
  ContainerSpec base;
  base.name = "decnet_t_t1_web";
  base.role = "base";
  base.networks = {{"decnet_t_t1_dmz", "10.0.0.10"}, {"decnet_t_t1_lan", "10.1.0.10"}};
  base.labels = labels("t1", "s-web");
  ContainerSpec svc;
  svc.name = "decnet_t_t1_web-ssh";
  svc.role = "service";
  svc.network_mode = "container:decnet_t_t1_web";
  svc.labels = labels("t1", "s-ssh", "service");
  p.bases = {base};
  p.services = {svc};
  return p;
}

// What the engine shows when everything of plan_t1 runs as planned.
Live converged_t1() {
  Live s;
  s.networks = {{"n1", "decnet_t_t1_dmz", labels("t1", "s-dmz", "lan"), {"10.0.0.0/24"}},
                {"n2", "decnet_t_t1_lan", labels("t1", "s-lan", "lan"), {"10.1.0.0/24"}}};
  s.containers = {{"c1",
                   "decnet_t_t1_web",
                   "running",
                   labels("t1", "s-web"),
                   "decnet_t_t1_dmz",
                   {{"decnet_t_t1_dmz", "10.0.0.10"}, {"decnet_t_t1_lan", "10.1.0.10"}}},
                  {"c2",
                   "decnet_t_t1_web-ssh",
                   "running",
                   labels("t1", "s-ssh", "service"),
                   "container:c1",
                   {}}};
  return s;
}

json drift_of(const Plan& p, const Live& live) {
  const Live owned = owned_objects(live, kMe, {p.topology_id});
  return drift_report(p, owned, diff(p, owned));
}

constexpr auto drift = edge::testing::drift_json;
const json kNone = json::array();

TEST(Diff, AConvergedEngineNeedsNoActionAndIsInSync) {
  const Plan p = plan_t1();
  EXPECT_TRUE(diff(p, converged_t1()).empty());
  EXPECT_EQ(drift_of(p, converged_t1()), drift(kNone, kNone, kNone, kNone));
}

TEST(Diff, AMissingBridgeIsDriftAndRecreatesWhatSitsOnIt) {
  Live s = converged_t1();
  s.networks.erase(s.networks.begin() + 1);
  const Plan p = plan_t1();
  Actions a = diff(p, s);
  ASSERT_EQ(a.networks_to_create.size(), 1u);
  EXPECT_EQ(a.networks_to_create[0]->name, "decnet_t_t1_lan");
  EXPECT_EQ(drift_of(p, s),
            drift({"decnet_t_t1_lan"}, kNone, kNone, {"decnet_t_t1_web", "decnet_t_t1_web-ssh"}));
}

TEST(Diff, ADisconnectedEndpointIsDriftAndTheBaseIsRecreated) {
  Live s = converged_t1();
  s.containers[0].endpoints.erase("decnet_t_t1_lan");  // docker network disconnect
  const Plan p = plan_t1();
  Actions a = diff(p, s);
  ASSERT_EQ(a.bases_to_create.size(), 1u);
  ASSERT_EQ(a.services_to_create.size(), 1u);  // stuck in the old namespace otherwise
  EXPECT_EQ(drift_of(p, s), drift(kNone, kNone, kNone, {"decnet_t_t1_web", "decnet_t_t1_web-ssh"}));
}

TEST(Diff, AWrongIpIsDrift) {
  Live s = converged_t1();
  s.containers[0].endpoints["decnet_t_t1_dmz"] = "10.0.0.99";
  EXPECT_EQ(drift_of(plan_t1(), s)["changed"],
            json::array({"decnet_t_t1_web", "decnet_t_t1_web-ssh"}));
}

TEST(Diff, AServiceOutsideItsBasesNamespaceIsDrift) {
  Live s = converged_t1();
  s.containers[1].network_mode = "container:someone-else";
  EXPECT_EQ(drift_of(plan_t1(), s), drift(kNone, kNone, kNone, {"decnet_t_t1_web-ssh"}));
}

TEST(Diff, NamesMissingStoppedChangedAndExtraObjectsSorted) {
  Live s;
  s.networks = {{"n1", "decnet_t_t1_dmz", labels("t1", "old-spec", "lan"), {}},
                {"n3", "decnet_t_t1_zombie", labels("t1", "x", "lan"), {}}};
  s.containers = {{"c1",
                   "decnet_t_t1_web",
                   "exited",
                   labels("t1", "s-web"),
                   "",
                   {{"decnet_t_t1_dmz", "10.0.0.10"}, {"decnet_t_t1_lan", "10.1.0.10"}}},
                  {"c9", "decnet_t_t1_aaa", "running", labels("t1", "x"), "", {}}};
  // The dmz is recreated (old spec), so the base on it is too.
  EXPECT_EQ(drift_of(plan_t1(), s), drift({"decnet_t_t1_lan", "decnet_t_t1_web-ssh"},
                                          {"decnet_t_t1_aaa", "decnet_t_t1_zombie"}, kNone,
                                          {"decnet_t_t1_dmz", "decnet_t_t1_web"}));
}

TEST(Diff, AStoppedBaseIsStartedAndItsServicesRestarted) {
  Live s = converged_t1();
  s.containers[0].state = "exited";
  Actions a = diff(plan_t1(), s);
  EXPECT_EQ(a.bases_to_start.size(), 1u);
  EXPECT_EQ(a.services_to_restart.size(), 1u);
  EXPECT_TRUE(a.bases_to_create.empty());
  EXPECT_EQ(drift_of(plan_t1(), s), drift(kNone, kNone, {"decnet_t_t1_web"}, kNone));
}

TEST(Diff, AContainerWithoutASpecLabelIsChanged) {
  Live s = converged_t1();
  s.containers[1].labels.erase(kLabelSpec);
  EXPECT_EQ(drift_of(plan_t1(), s), drift(kNone, kNone, kNone, {"decnet_t_t1_web-ssh"}));
}

TEST(Diff, OwnLeftoversOfAnotherTopologyAreExtraAndRemoved) {
  Live s = converged_t1();
  s.containers.push_back({"c7", "decnet_t_t0_old", "running", labels("t0", "s"), "", {}});
  Actions a = diff(plan_t1(), s);
  ASSERT_EQ(a.containers_to_remove.size(), 1u);
  EXPECT_EQ(a.containers_to_remove[0].name, "decnet_t_t0_old");
}

TEST(Ownership, OtherAgentsObjectsAndUnownedOnesOfOtherTopologiesAreNeverOurs) {
  Live s = converged_t1();
  s.networks.push_back({"n8", "decnet_t_t2_dmz", labels("t2", "s", "lan", kOther), {}});
  s.containers.push_back(
      {"c8", "decnet_t_t2_web", "running", labels("t2", "s", "base", kOther), "", {}});
  s.containers.push_back(
      {"c9", "decnet_t_t3_web", "running", labels("t3", "s", "base", ""), "", {}});
  // Even a same-topology object carrying another owner is not ours.
  s.containers.push_back(
      {"c10", "decnet_t_t1_x", "running", labels("t1", "s", "base", kOther), "", {}});
  Live owned = owned_objects(s, kMe, {"t1"});
  EXPECT_EQ(owned.networks.size(), 2u);
  EXPECT_EQ(owned.containers.size(), 2u);
  EXPECT_TRUE(diff(plan_t1(), owned).empty());
}

TEST(Ownership, UnownedObjectsOfAnAdoptedTopologyAreOurs) {
  Live s = converged_t1();
  for (auto& c : s.containers) c.labels.erase(kLabelOwner);  // made by 0.1.0
  EXPECT_EQ(owned_objects(s, kMe, {"t1"}).containers.size(), 2u);
  EXPECT_EQ(owned_objects(s, kMe, {}).containers.size(), 0u);
}

TEST(Ownership, AdoptedObjectsAreRecreatedWithThisAgentsLabel) {
  Live s = converged_t1();
  for (auto& c : s.containers) c.labels.erase(kLabelOwner);
  Actions a = diff(plan_t1(), owned_objects(s, kMe, {"t1"}));
  EXPECT_EQ(a.bases_to_create.size(), 1u);
  EXPECT_EQ(a.services_to_create.size(), 1u);
  EXPECT_EQ(a.containers_to_remove.size(), 2u);
}

TEST(SubnetConflicts, AForeignNetworkOverlappingAPlannedLanIsNamed) {
  Live all = converged_t1();
  all.networks.push_back({"d0", "bridge", {}, {"10.0.0.0/16"}});
  all.networks.push_back({"o1", "someone", labels("t9", "s", "lan", kOther), {"10.9.0.0/24"}});
  const Live owned = owned_objects(all, kMe, {"t1"});
  auto c = subnet_conflicts(plan_t1(), all, owned);
  ASSERT_EQ(c.size(), 1u);
  EXPECT_EQ(c[0],
            "subnet 10.0.0.0/24 of LAN '' overlaps network 'bridge' (10.0.0.0/16), which this "
            "agent does not own");
  EXPECT_TRUE(subnet_conflicts(plan_t1(), converged_t1(), owned).empty());
}

TEST(DeriveObservation, ListsOnlyThisAgentsBridgesAndRunningContainers) {
  EngineSnapshot s{true, "", converged_t1()};
  s.objects.containers[1].state = "exited";
  s.objects.containers.push_back(
      {"x", "decnet_t_t2_x", "running", labels("t2", "s", "base", kOther), "", {}});
  s.objects.networks.insert(s.objects.networks.begin(),
                            {"y", "decnet_t_t2_dmz", labels("t2", "s", "lan", kOther), {}});
  Plan p = plan_t1();
  Observation o = derive_observation(s, kMe, &p);
  EXPECT_TRUE(o.reachable);
  EXPECT_EQ(o.error, "");
  EXPECT_EQ(o.bridges, (std::vector<std::string>{"decnet_t_t1_dmz", "decnet_t_t1_lan"}));
  EXPECT_EQ(o.containers, (std::vector<std::string>{"decnet_t_t1_web"}));
  EXPECT_EQ(o.drift, drift(kNone, kNone, {"decnet_t_t1_web-ssh"}, kNone));
}

TEST(DeriveObservation, WithNothingWatchedListsOwnObjectsAndHasEmptyDrift) {
  EngineSnapshot s{true, "", converged_t1()};
  s.objects.containers.push_back(
      {"x", "decnet_t_t2_x", "running", labels("t2", "s", "base", kOther), "", {}});
  Observation o = derive_observation(s, kMe, nullptr);
  EXPECT_EQ(o.containers, (std::vector<std::string>{"decnet_t_t1_web", "decnet_t_t1_web-ssh"}));
  EXPECT_EQ(o.drift, json::object());
}

TEST(DeriveObservation, AnUnreachableEngineGivesTheReasonAndNeverInSync) {
  EngineSnapshot s;
  s.reachable = false;
  s.error = "cannot reach the Docker engine: socket /x does not exist (is dockerd running?)";
  Plan p = plan_t1();
  Observation watched = derive_observation(s, kMe, &p);
  EXPECT_FALSE(watched.reachable);
  EXPECT_EQ(watched.error, s.error);
  EXPECT_TRUE(watched.bridges.empty());
  EXPECT_EQ(watched.drift, json({{"in_sync", false}, {"error", s.error}}));
  EXPECT_EQ(derive_observation(s, kMe, nullptr).drift, json::object());
}

TEST(ParseContainers, ReadsEndpointsNetworkModeAndToleratesNullLabels) {
  json body = json::parse(R"([
    {"Id":"1","Names":["/b"],"State":"running","Labels":{"decnet.topology.id":"t1"},
     "HostConfig":{"NetworkMode":"net1"},
     "NetworkSettings":{"Networks":{"net1":{"IPAMConfig":{"IPv4Address":"10.0.0.5"}},
                                    "net2":{"IPAMConfig":null}}}},
    {"Id":"2","Names":["/a"],"State":"exited","Labels":null}])");
  auto out = parse_containers(body);
  ASSERT_TRUE(out.ok()) << out.error().message();
  ASSERT_EQ(out->size(), 2u);
  EXPECT_EQ((*out)[0].name, "a");
  EXPECT_TRUE((*out)[0].labels.empty());
  EXPECT_EQ((*out)[1].network_mode, "net1");
  EXPECT_EQ((*out)[1].endpoints,
            (std::map<std::string, std::string>{{"net1", "10.0.0.5"}, {"net2", ""}}));
}

TEST(ParseContainers, RejectsABodyThatIsNotAList) {
  EXPECT_EQ(parse_containers(json{{"message", "x"}}).error().message(),
            "the engine's container list is not a JSON array");
  EXPECT_EQ(parse_containers(json::parse(R"([{"Id":"1"}])")).error().message(),
            "the engine's container list has an entry without Names");
}

TEST(ParseNetworks, ReadsNamesLabelsAndSubnetsSortedByName) {
  json body = json::parse(
      R"([{"Name":"z","Labels":{"k":"v"},"IPAM":{"Config":[{"Subnet":"172.17.0.0/16"}]}},
          {"Name":"a","Labels":{}}])");
  auto out = parse_networks(body);
  ASSERT_TRUE(out.ok());
  ASSERT_EQ(out->size(), 2u);
  EXPECT_EQ((*out)[0].name, "a");
  EXPECT_EQ((*out)[1].subnets, std::vector<std::string>{"172.17.0.0/16"});
  EXPECT_EQ((*out)[1].labels, (std::map<std::string, std::string>{{"k", "v"}}));
}

json container_event(const std::string& action, const std::string& owner,
                     const std::string& tid = "t1") {
  json attrs = {{"name", "decnet_t_t1_web"}, {"image", "busybox"}};
  if (!tid.empty()) attrs[kLabelTopologyId] = tid;
  if (!owner.empty()) attrs[kLabelOwner] = owner;
  return {
      {"Type", "container"}, {"Action", action}, {"Actor", {{"ID", "abc"}, {"Attributes", attrs}}}};
}

json network_event(const std::string& name) {
  return json{{"Type", "network"},
              {"Action", "disconnect"},
              {"Actor", {{"ID", "n1"}, {"Attributes", {{"name", name}, {"type", "bridge"}}}}}};
}

TEST(EventTriggersRelist, LifecycleEventsOfOwnContainersDo) {
  EventScope scope{kMe, "t1", {}};
  for (const char* action : {"create", "start", "die", "stop", "destroy", "rename", "pause"}) {
    EXPECT_TRUE(event_triggers_relist(container_event(action, kMe), scope)) << action;
  }
}

TEST(EventTriggersRelist, OtherAgentsChurnAndExecOrHealthEventsDoNot) {
  EventScope scope{kMe, "t1", {"decnet_t_t1_dmz"}};
  EXPECT_FALSE(event_triggers_relist(container_event("die", kOther), scope));
  EXPECT_FALSE(event_triggers_relist(container_event("die", "", "t2"), scope));
  EXPECT_TRUE(event_triggers_relist(container_event("die", "", "t1"), scope));  // adopted
  EXPECT_FALSE(event_triggers_relist(container_event("exec_start: sh -c true", kMe), scope));
  EXPECT_FALSE(event_triggers_relist(container_event("health_status: healthy", kMe), scope));
  EXPECT_FALSE(event_triggers_relist(container_event("start", "", ""), scope));
}

TEST(EventTriggersRelist, OnlyNetworksInScopeCount) {
  EventScope scope{kMe, "t1", {"decnet_t_t1_dmz"}};
  EXPECT_TRUE(event_triggers_relist(network_event("decnet_t_t1_dmz"), scope));
  EXPECT_FALSE(event_triggers_relist(network_event("decnet_t_t2_dmz"), scope));
  EXPECT_FALSE(event_triggers_relist(json{{"Type", "image"}, {"Action", "pull"}}, scope));
  EXPECT_FALSE(event_triggers_relist(json("not an event"), scope));
}

}  // namespace
}  // namespace edge::docker
