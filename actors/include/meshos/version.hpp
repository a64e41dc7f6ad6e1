#pragma once
// Library: meshos.
// The version of the meshos build this program links against (e.g. "0.1.0").
#include <string>

namespace meshos {

std::string version();

}  // namespace meshos
