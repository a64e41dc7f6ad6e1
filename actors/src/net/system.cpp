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

Result<void> check_prepared(caf::actor_system& sys, std::chrono::milliseconds peer_timeout) {
  const char* how = " (call meshos::prepare_system_config on its config before making the system)";
  if (!sys.has_middleman()) return SdkError{Errc::invalid_config, std::string("the actor system has no network module") + how};
  const auto& types = sys.types();
  if (types.portable_name(caf::type_nr<NetHello>::value, &typeid(NetHello)) == types.default_type_name())
    return SdkError{Errc::invalid_config, std::string("the actor system does not know meshos' messages") + how};
  const auto heartbeat = caf::get_or(sys.config(), "middleman.heartbeat-interval", caf::timespan{0});
  if (heartbeat.count() <= 0 || heartbeat >= peer_timeout)
    return SdkError{Errc::invalid_config, "the actor system's heartbeat must be positive and below the peer timeout" +
                                          std::string(how)};
  return ok();
}

caf::io::middleman_actor connector(caf::actor_system& sys) { return sys.middleman().actor_handle(); }

}  // namespace meshos::net
