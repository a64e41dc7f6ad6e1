#pragma once
// The node id a TLS certificate vouches for: a subjectAltName URI "urn:meshos:node:<16 hex digits>"
// (node_certificate_uri in meshos/node.hpp). With TLS, a peer's certificate must name the node its signed
// hello claims, and a node's own certificate must name the node itself.
#include <optional>
#include <string>

#include <openssl/x509.h>

#include "meshos/result.hpp"
#include "meshos/types.hpp"

namespace meshos::net {

// nullopt: the certificate names no node (an operator's certificate, say). Kind invalid_tls when a meshos
// URI is malformed or the certificate names two different nodes.
Result<std::optional<NodeId>> node_id_in_certificate(X509* cert);
// `cert` (loaded from `path`) is the certificate of node `expected`: a node's own certificate, checked when
// it starts and when it reloads. Kind invalid_tls.
Result<void> require_certificate_names(X509* cert, const std::string& path, NodeId expected);

}  // namespace meshos::net
