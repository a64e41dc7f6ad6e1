#pragma once
// OpenSSL reports failures on a per-thread error queue: take the oldest as text and leave the queue empty
// (an error left there makes the next TLS call on this thread fail, see guard.hpp).
#include <string>

#include <openssl/err.h>

namespace meshos::net {

inline std::string take_openssl_error(const char* when_none) {
  unsigned long code = ERR_get_error();
  ERR_clear_error();
  if (code == 0) return when_none;
  char buf[256];
  ERR_error_string_n(code, buf, sizeof buf);
  return buf;
}

}  // namespace meshos::net
