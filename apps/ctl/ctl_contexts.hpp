#pragma once
// meshos-ctl's own config file: named contexts, each a node and how to reach it (kubectl's kubeconfig, in
// CAF's config format and read as strictly as meshosd's). Paths are taken from the file's folder.
//
//   [ctl]
//   context = "prod"          ; used when neither --context nor MESHOS_CONTEXT names one
//
//   [prod]
//   node = "10.0.0.5:7100"
//   tls-cert = "certs/operator.pem"
//   tls-key = "certs/operator.key"
//   tls-ca = "certs/ca.pem"
//   key = "keys/alice.key.json"
//   timeout = 20s
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "meshos/result.hpp"

namespace meshos::ctl {

struct CtlContext {
  std::string name;
  // Option name (node, tls-cert, tls-key, tls-ca, key, cluster, timeout) -> value, for those the context sets.
  std::map<std::string, std::string> values;
};

struct CtlConfigFile {
  std::string path;
  std::string current;  // [ctl] context ("" when the file names none)
  std::vector<CtlContext> contexts;
  const CtlContext* find(const std::string& name) const;
};

// The options a context may set, in the order `config get-contexts` shows them.
const std::vector<std::string>& context_options();

// Reads a ctl config file. Kind config_not_found when it cannot be read, invalid_config with every problem
// (unknown keys with a suggestion, wrong types, a [ctl] context naming no context of the file, ...).
Result<CtlConfigFile> load_ctl_config(const std::string& path);

// Where meshos-ctl looks for its file: $MESHOS_CTL_CONFIG (which must then exist), else
// $XDG_CONFIG_HOME/meshos/ctl.conf, else $HOME/.config/meshos/ctl.conf (either may be missing). The second
// member says whether the file must exist.
std::pair<std::string, bool> ctl_config_location();

}  // namespace meshos::ctl
