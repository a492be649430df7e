#pragma once
// Bringing the engine to a Plan, and removing a topology. Every object is
// found by label (never by guessing names). Independent engine calls run in
// parallel, up to `parallelism` at once.

#include <string>

#include "docker_obs/engine.h"
#include "docker_obs/plan.h"
#include "docker_obs/runtime.h"

namespace edge::docker {

// Create what is missing, recreate what changed (spec label differs), start
// what is stopped, remove labelled objects of plan.topology_id that the plan
// no longer wants. Re-running on a converged engine changes nothing (same
// container ids). Missing images are pulled once; a failed pull fails the
// call with a message naming the image.
RuntimeStatus converge(DockerEngine& engine, const Plan& plan, int parallelism);

// Remove every container and network labelled decnet.topology.id=<id>,
// including leftovers of a half-failed apply. Idempotent.
RuntimeStatus teardown_topology(DockerEngine& engine, const std::string& topology_id,
                                int parallelism);

// Remove every labelled object whose decnet.topology.id is not `keep_id`
// (the master is authoritative: a new topology supersedes the old one).
RuntimeStatus teardown_other_topologies(DockerEngine& engine, const std::string& keep_id,
                                        int parallelism);

}  // namespace edge::docker
