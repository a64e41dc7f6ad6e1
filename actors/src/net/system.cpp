#include <caf/openssl/all.hpp>

#include "net/context.hpp"

namespace meshos::net {

void configure_system(caf::actor_system_config& cfg, const TlsOptions& tls, std::chrono::milliseconds heartbeat,
                      std::chrono::milliseconds connection_timeout) {
  cfg.load<caf::io::middleman>();
  if (tls.enabled()) {
    cfg.load<caf::openssl::manager>();
    cfg.openssl_certificate = tls.certificate;
    cfg.openssl_key = tls.key;
    cfg.openssl_passphrase = tls.passphrase;
    cfg.openssl_cafile = tls.ca_file;
    cfg.set("openssl.certificate", tls.certificate);
    cfg.set("openssl.key", tls.key);
    cfg.set("openssl.passphrase", tls.passphrase);
    cfg.set("openssl.cafile", tls.ca_file);
  }
  cfg.set("middleman.heartbeat-interval", caf::timespan{heartbeat});
  cfg.set("middleman.connection-timeout", caf::timespan{connection_timeout});
  add_wire_types(cfg);
}

caf::io::middleman_actor connector(caf::actor_system& sys, bool tls) {
  return tls ? sys.openssl_manager().actor_handle() : sys.middleman().actor_handle();
}

}  // namespace meshos::net
