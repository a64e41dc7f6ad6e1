#pragma once
// The outside tools some tests cross-check against (the openssl command line tool, python3's hashlib) or
// make test certificates with: the environment variable of the same name when set, else the path CMake
// found (MESHOS_OPENSSL / MESHOS_PYTHON3, empty when it found none: the test then fails saying so), else
// the tool's name, looked up on PATH by the shell (a hand build without the macros).
#include <cstdlib>
#include <string>

#include <doctest/doctest.h>

namespace meshos::test {

inline std::string tool_path(const char* configured, const char* env_name, const char* name) {
  if (const char* env = std::getenv(env_name); env != nullptr && *env != '\0') return env;
  const std::string path = configured != nullptr ? configured : name;
  REQUIRE_MESSAGE(!path.empty(), "the " << name << " command line tool was not found when the build was configured");
  return path;
}

#ifdef MESHOS_OPENSSL
inline std::string openssl_cli() { return tool_path(MESHOS_OPENSSL, "MESHOS_OPENSSL", "openssl"); }
#else
inline std::string openssl_cli() { return tool_path(nullptr, "MESHOS_OPENSSL", "openssl"); }
#endif
#ifdef MESHOS_PYTHON3
inline std::string python3_cli() { return tool_path(MESHOS_PYTHON3, "MESHOS_PYTHON3", "python3"); }
#else
inline std::string python3_cli() { return tool_path(nullptr, "MESHOS_PYTHON3", "python3"); }
#endif

}  // namespace meshos::test
