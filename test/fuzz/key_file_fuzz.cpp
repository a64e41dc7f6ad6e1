// Key files (node and operator keys), as load_key_file reads them once the file is open.
#include "fuzz_support.hpp"
#include "meshos/keyfile.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto key = meshos::key_file_from_text(meshos::fuzz::text_of(data, size), "fuzz.key.json");
  if (!key) return 0;
  // Whatever loads is a consistent key: its public key is the one its seed gives.
  auto seed = key->keypair.seed();
  meshos::fuzz::require(static_cast<bool>(seed), "a loaded key file has no seed");
  return 0;
}
