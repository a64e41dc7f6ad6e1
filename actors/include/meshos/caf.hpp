#pragma once
// Library: meshos. meshos on an actor system the application owns: the CAF-facing entry points, opt-in. This is
// the only public header that includes CAF; the rest of meshos' surface speaks the domain, so an application
// that never names a CAF type needs none of CAF's headers. Whoever includes this one uses CAF itself and links
// it (CAF::core, CAF::io), as any CAF application does.
#include <chrono>
#include <memory>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>

#include "meshos/node.hpp"
#include "meshos/sdk.hpp"

namespace meshos {

// The SDK on the application's actor system, which must outlive the SDK's shutdown(). Throws SdkException as
// MeshOsDaemonSdk::start does.
MeshOsDaemonSdk start_sdk(caf::actor_system& system, MeshOsConfig config, std::shared_ptr<ActionDispatcher> dispatcher,
                          SdkOptions options = {});

// What a MeshNode needs of an actor system, set in its config before the system is made: CAF's network module,
// meshos' message types, the heartbeat CAF sends on every connection (the guard closes silent ones), and
// meshos' scheduler where the config names none.
void prepare_system_config(caf::actor_system_config& cfg,
                           std::chrono::milliseconds heartbeat = std::chrono::milliseconds(250));

// MeshNode::start with the CAF configuration the caller read (meshosd's: scheduler.*, middleman.*, ...), which
// the node's own actor system runs with. meshos adds what it needs (the network module, its message types,
// its heartbeat) and picks its scheduler (SPEC.md, "Scheduler") only where the caller chose none.
Result<std::unique_ptr<MeshNode>> start_node(std::unique_ptr<caf::actor_system_config> system_config,
                                             MeshOsConfig config, NetworkOptions network,
                                             std::shared_ptr<ActionDispatcher> dispatcher = nullptr,
                                             SdkOptions options = {});

// MeshNode::start on the application's own actor system, whose config went through prepare_system_config
// before the system was made (CAF takes modules and message types only then). The node runs its actors there
// and never stops the system; after shutdown() the application's actors go on. Kind invalid_config for a
// system that was not prepared, or whose heartbeat does not fit within the peer timeout.
Result<std::unique_ptr<MeshNode>> start_node(caf::actor_system& system, MeshOsConfig config, NetworkOptions network,
                                             std::shared_ptr<ActionDispatcher> dispatcher = nullptr,
                                             SdkOptions options = {});

}  // namespace meshos
