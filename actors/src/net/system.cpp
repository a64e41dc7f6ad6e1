#include "net/context.hpp"

#include "detail/scheduler.hpp"

namespace meshos::net {

void configure_system(caf::actor_system_config& cfg, std::chrono::milliseconds heartbeat) {
  detail::choose_scheduler(cfg);
  cfg.load<caf::io::middleman>();
  // Heartbeats keep every connection carrying bytes, which is how the guard tells a silent peer from an idle
  // one. CAF's own connection timeout stays off: it races new outgoing connections (their last-seen time
  // starts at the epoch), and the guard closes silent connections instead.
  cfg.set("middleman.heartbeat-interval", caf::timespan{heartbeat});
  cfg.set("middleman.connection-timeout", caf::timespan{0});
  add_wire_types(cfg);
}

caf::io::middleman_actor connector(caf::actor_system& sys) { return sys.middleman().actor_handle(); }

}  // namespace meshos::net
