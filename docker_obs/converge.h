#pragma once
// Bringing the engine to a Plan, and removing a topology. Every object is
// found by label (never by guessing names), and only this agent's objects
// (DESIGN §5 "Ownership") are ever touched. Independent engine calls run in
// parallel, up to `parallelism` at once.

#include <string>
#include <vector>

#include "common/status.h"
#include "docker_obs/diff.h"
#include "docker_obs/engine.h"
#include "docker_obs/plan.h"

namespace edge::docker {

// Status code: a planned subnet overlaps a network this agent does not own.
inline constexpr int kSubnetConflict = 409;

// Every network (with its subnets) and every container carrying a topology
// label. Fails when the engine is unreachable or answers nonsense.
Expected<Live> list_engine(DockerEngine& engine);

// Fails with kSubnetConflict, naming each network, when a planned subnet
// overlaps a network that is not this agent's (plan.owner), counting the
// unlabelled-owner objects of the `adopt` topology ids as its own.
Status check_subnets(DockerEngine& engine, const Plan& plan, const std::vector<std::string>& adopt);

// Lists, refuses subnet conflicts (nothing created), then executes
// diff(plan, this agent's objects): creates what is missing, recreates what
// changed, starts what is stopped, removes this agent's objects the plan does
// not want (leftovers of other topologies included). Objects of plan's
// topology without an owner label are adopted. Re-running on a converged
// engine changes nothing (same container ids). Missing images are pulled
// once; a failed pull fails the call with a message naming the image.
Status converge(DockerEngine& engine, const Plan& plan, int parallelism);

// Removes this agent's containers and networks of `topology_id` (and those of
// it without an owner label when it is among `adopt`), leftovers of a
// half-failed apply included. Idempotent.
Status teardown_topology(DockerEngine& engine, const std::string& topology_id,
                         const std::string& owner, const std::vector<std::string>& adopt,
                         int parallelism);

}  // namespace edge::docker
