#pragma once
// Library: meshos. The public C++ surface: what an application embedding meshos includes.
//
// Stable API (changes only with the major version): the headers included here; meshos/node.hpp (a node on the
// network); meshos/caf.hpp (meshos on the application's own CAF actor system, the one header that includes
// CAF); and the C SDK, net_meshos.h. Not stable: meshos/state.hpp, reconcile.hpp and persistent_state.hpp, the
// loop's own state machine and its persistence (meshos/core.hpp includes them with the rest of the pure
// core). They are public for tests and simulations (meshos-demo) and may change in any version; an
// application drives a node through the SDK's events and reads its snapshots instead.
#include "meshos/action.hpp"
#include "meshos/admin.hpp"
#include "meshos/blast_radius.hpp"
#include "meshos/capability.hpp"
#include "meshos/config.hpp"
#include "meshos/control.hpp"
#include "meshos/daemon.hpp"
#include "meshos/dispatcher.hpp"
#include "meshos/event.hpp"
#include "meshos/file_io.hpp"
#include "meshos/identity.hpp"
#include "meshos/logs.hpp"
#include "meshos/maintenance.hpp"
#include "meshos/operators.hpp"
#include "meshos/result.hpp"
#include "meshos/sdk.hpp"
#include "meshos/snapshot.hpp"
#include "meshos/time.hpp"
#include "meshos/types.hpp"
#include "meshos/value_text.hpp"
