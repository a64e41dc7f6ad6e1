#pragma once
// The whole public C++ surface of meshos.
#include "meshos/core.hpp"
#include "meshos/dispatcher.hpp"
#include "meshos/sdk.hpp"
