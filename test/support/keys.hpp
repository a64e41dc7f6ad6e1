#pragma once
// Keys that are the same in every run: a seed of one repeated byte.
#include <cstdint>

#include "meshos/identity.hpp"

namespace meshos::test {

inline EntityKeypair key_from_byte(std::uint8_t b) {
  Seed seed{};
  seed.fill(b);
  return EntityKeypair::from_seed(seed);
}

}  // namespace meshos::test
