#include "meshos/version.hpp"

// MESHOS_VERSION comes from the build (the CMake project version), so the string never drifts from it.
#ifndef MESHOS_VERSION
#error "MESHOS_VERSION must be defined by the build"
#endif

namespace meshos {

std::string version() { return MESHOS_VERSION; }

}  // namespace meshos
