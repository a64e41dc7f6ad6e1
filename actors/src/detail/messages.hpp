#pragma once
// The messages the runtime's actors exchange. All of them stay inside one process (they carry shared
// pointers and monotonic time points), hence CAF_ALLOW_UNSAFE_MESSAGE_TYPE instead of inspect overloads.
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <vector>

#include <caf/all.hpp>

#include "meshos/action.hpp"
#include "meshos/control.hpp"
#include "meshos/daemon.hpp"
#include "meshos/dispatcher.hpp"
#include "meshos/event.hpp"
#include "meshos/probe.hpp"
#include "meshos/sdk.hpp"

namespace meshos::detail {

using event_atom = caf::atom_constant<caf::atom("event")>;      // MeshOsEventMsg, to the loop
using internal_atom = caf::atom_constant<caf::atom("internal")>;  // MeshOsEventMsg, ungated, to the loop
using tick_atom = caf::atom_constant<caf::atom("tick")>;
using action_atom = caf::atom_constant<caf::atom("action")>;    // PendingAction, to the executor
using retry_atom = caf::atom_constant<caf::atom("retry")>;
using control_atom = caf::atom_constant<caf::atom("control")>;  // DaemonControl, to a daemon
using front_atom = caf::atom_constant<caf::atom("front")>;  // (actor_addr): a daemon on its own thread, its front
// To a daemon actor: look at the daemon now (health, saturation, state) and again on the actor's own cadence.
using check_atom = caf::atom_constant<caf::atom("check")>;
using start_atom = caf::atom_constant<caf::atom("start")>;
using stop_atom = caf::atom_constant<caf::atom("stop")>;
// To a daemon's actor: its pull-model daemon said it finished (a stop may go ahead), or the grace it had for
// that ran out (the generation of the stop it was for).
using finished_atom = caf::atom_constant<caf::atom("finished")>;
using grace_over_atom = caf::atom_constant<caf::atom("graceover")>;
using restart_atom = caf::atom_constant<caf::atom("restart")>;
using causal_atom = caf::atom_constant<caf::atom("causal")>;
using process_atom = caf::atom_constant<caf::atom("process")>;
using snapshot_atom = caf::atom_constant<caf::atom("snapshot")>;
using exec_stats_atom = caf::atom_constant<caf::atom("execstats")>;
using dispatch_atom = caf::atom_constant<caf::atom("dispatch")>;  // ActionMsg -> OutcomeMsg, to the worker
using quit_atom = caf::atom_constant<caf::atom("quit")>;
// (revision, audit seq, file bytes) to the state writer; (revision, audit seq, error or "") back to the loop.
using save_atom = caf::atom_constant<caf::atom("save")>;
using saved_atom = caf::atom_constant<caf::atom("saved")>;
using journal_atom = caf::atom_constant<caf::atom("journal")>;      // log and audit lines, to the writer
using journaled_atom = caf::atom_constant<caf::atom("journaled")>;  // a journal failure (or "" recovered), to the loop
using nosave_atom = caf::atom_constant<caf::atom("nosave")>;  // to the loop: stop saving state
// A daemon leaving for a peer: its state out (-> MoveOutMsg; from then on it refuses work), or back (the move
// failed: it works again). restore_atom: StateMsg -> OutputsMsg (error only), the state a move brought in.
using move_out_atom = caf::atom_constant<caf::atom("moveout")>;
using move_back_atom = caf::atom_constant<caf::atom("moveback")>;
using restore_atom = caf::atom_constant<caf::atom("restore")>;
// The public host path (MeshOsDaemonSdk::daemon_stats / snapshot_daemon / restore_daemon), to a daemon:
// -> DaemonHostStats; -> MoveOutMsg (state, or error); StateMsg -> OutputsMsg (error only).
using lifecycle_atom = caf::atom_constant<caf::atom("lifecycle")>;  // LifecycleNotice, to the lifecycle observer
using host_stats_atom = caf::atom_constant<caf::atom("hoststats")>;
using save_state_atom = caf::atom_constant<caf::atom("savestate")>;
using load_state_atom = caf::atom_constant<caf::atom("loadstate")>;
// The node's probes (probe.hpp), to the prober: (id, ProbeMsg) attach; (id) detach -> bool; poll -> the prober
// answers the loop with (probed_atom, ProbeRoundMsg).
using attach_probe_atom = caf::atom_constant<caf::atom("addprobe")>;
using detach_probe_atom = caf::atom_constant<caf::atom("delprobe")>;
using poll_atom = caf::atom_constant<caf::atom("poll")>;
using probed_atom = caf::atom_constant<caf::atom("probed")>;

struct EventMsg {
  MeshOsEvent event;
};
struct ControlMsg {
  DaemonControl control;
  bool credited = true;  // false: sent without a control credit (graceful_shutdown), nothing to give back
};
struct ActionMsg {
  PendingAction action;
};
struct OutcomeMsg {
  DispatchOutcome outcome;
};
struct CausalMsg {
  CausalEvent event;
};
struct OutputsMsg {
  std::vector<Bytes> outputs;
  std::optional<SdkError> error;
};
struct SnapshotMsg {
  SnapshotPtr snapshot;
};
struct StatsMsg {
  ExecutorStats stats;
};
struct MoveOutMsg {
  std::optional<Bytes> state;  // nullopt: a stateless daemon, or a stateful one with nothing to save
  std::optional<SdkError> error;
};
struct StateMsg {
  Bytes state;
};
struct DaemonSlot;  // daemon_registry.hpp

// process_async: the daemon's slot (one data credit taken), the event, and who hears the answer.
struct AskMsg {
  std::shared_ptr<DaemonSlot> slot;
  CausalMsg event;
  std::chrono::milliseconds timeout{0};
  std::function<void(Result<std::vector<Bytes>>)> done;
};
struct ProbeMsg {
  Probe probe;
};
struct ProbeRoundMsg {
  ProbeRound round;
};

}  // namespace meshos::detail

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(meshos::detail::EventMsg)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(meshos::detail::ControlMsg)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(meshos::detail::ActionMsg)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(meshos::detail::CausalMsg)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(meshos::detail::OutcomeMsg)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(meshos::detail::OutputsMsg)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(meshos::detail::SnapshotMsg)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(meshos::detail::StatsMsg)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(meshos::detail::MoveOutMsg)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(meshos::detail::StateMsg)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(meshos::detail::AskMsg)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(meshos::detail::ProbeMsg)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(meshos::detail::ProbeRoundMsg)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(meshos::DaemonHostStats)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(meshos::LifecycleNotice)
