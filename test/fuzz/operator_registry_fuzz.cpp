// The operator registry file: who may sign commits.
#include "fuzz_support.hpp"
#include "meshos/operators.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto registry = meshos::OperatorRegistry::from_json_text(meshos::fuzz::text_of(data, size));
  if (!registry) return 0;
  meshos::fuzz::require(registry->names().size() == registry->size(), "every registered operator has a name");
  return 0;
}
