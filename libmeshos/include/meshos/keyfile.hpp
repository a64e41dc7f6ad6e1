#pragma once
// Library: meshos_core.
// Key files for nodes and operators: JSON {"name": "...", "seed": "<64 hex>", "public_key": "<64 hex>"}.
// Written with mode 0600, atomically (temp file + rename); read back with every field checked.
#include <string>

#include "meshos/identity.hpp"
#include "meshos/result.hpp"

namespace meshos {

struct KeyFile {
  std::string name;
  EntityKeypair keypair;
};

// Kinds: key_file_not_found (unreadable), invalid_key_file (not JSON, missing/extra field, bad hex, a public key
// that does not match the seed, a file readable by group/others is refused too: "permissions too open").
Result<KeyFile> load_key_file(const std::string& path);
// The same checks on the text of a key file (`path` only names it in messages; permissions are not checked).
Result<KeyFile> key_file_from_text(const std::string& text, const std::string& path);
// Kinds: key_file_exists (unless overwrite), key_file_write_failed, public_key_only.
Result<void> write_key_file(const std::string& path, const std::string& name, const EntityKeypair& keypair,
                            bool overwrite = false);

}  // namespace meshos
