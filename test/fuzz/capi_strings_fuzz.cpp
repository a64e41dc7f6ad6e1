// The C SDK's string parameters (actors/capi/include/net_meshos.h): every entry point that reads text from
// a C caller gets the fuzz input as (ptr, len), as a NUL-terminated copy read with strlen (what a C caller
// passes), the same copy with its terminating NUL counted in len, and the input with its NUL bytes removed:
//   net_meshos_register_daemon / _with_vtable   the daemon name
//   net_meshos_publish_log                      the message (and the level, from the input)
//   net_meshos_publish_capabilities             the capability JSON
// One runtime and one registered daemon serve every input (created once, never destroyed: CAF 0.17 leaks
// by design at shutdown). Nothing may crash, leak or hang, and every call must end in one of the documented
// status codes with the documented last error: refusals exactly where the header says (empty, non-UTF-8 or
// NUL-containing names; non-UTF-8 text; capability JSON its own decoder refuses), and on success no last
// error. Registrations use the seed of the daemon already registered, so a valid name gets as far as the
// runtime's duplicate check without adding a daemon; one input in sixteen with a valid name registers a
// real daemon under it, reads its metadata JSON back and frees it.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>

#include <nlohmann/json.hpp>

#include "fuzz_support.hpp"
#include "meshos/capability.hpp"
#include "net_meshos.h"

namespace {

using meshos::fuzz::require;

constexpr std::uint8_t kRegisteredSeed = 0x44;
constexpr std::uint8_t kFreshSeed = 0x55;

int noop_process(void*, NetMeshOsProcessEmitCtx*, std::uint64_t, std::uint64_t, const std::uint8_t*, std::size_t) {
  return 0;
}

struct Runtime {
  NetMeshOsSdk* sdk = nullptr;
  NetMeshOsHandle* handle = nullptr;
  std::uint8_t registered_seed[32];
  std::uint8_t fresh_seed[32];
  NetMeshOsDaemonVtable vtable{};

  Runtime() {
    std::memset(registered_seed, kRegisteredSeed, sizeof registered_seed);
    std::memset(fresh_seed, kFreshSeed, sizeof fresh_seed);
    vtable.process = noop_process;
    // Big queues: the fuzzer publishes far faster than a loop ticks; queue_full is still a valid answer.
    require(net_meshos_sdk_start(1, 0, 1 << 14, 0, 0, &sdk) == NET_MESHOS_OK, "the SDK does not start");
    static const char kName[] = "fuzz-daemon";
    require(net_meshos_register_daemon(sdk, kName, sizeof kName - 1, registered_seed, &handle) == NET_MESHOS_OK,
            "the fuzz daemon does not register");
  }
};

// Never destroyed: a runtime torn down at exit would only report CAF's own shutdown leaks.
Runtime& runtime() {
  static Runtime* rt = new Runtime();
  return *rt;
}

bool is_status(int rc) {
  return rc == NET_MESHOS_OK || rc == NET_MESHOS_ERR_NULL || rc == NET_MESHOS_ERR_CALL_FAILED ||
         rc == NET_MESHOS_ERR_INVALID_ARG || rc == NET_MESHOS_ERR_ALREADY_SHUTDOWN;
}

std::string last_kind() {
  const char* k = net_meshos_last_error_kind();
  return k == nullptr ? std::string() : std::string(k);
}

// The status contract every int-returning call keeps: a known code; failure with a kind and message,
// success without a last error.
void require_contract(int rc, const char* call) {
  if (!is_status(rc)) {
    std::fprintf(stderr, "%s returned %d\n", call, rc);
    require(false, "a C API call returned a value outside its status codes");
  }
  if (rc == NET_MESHOS_OK) {
    require(net_meshos_last_error_kind() == nullptr && net_meshos_last_error_message() == nullptr,
            "a successful C API call leaves a last error");
    return;
  }
  const char* kind = net_meshos_last_error_kind();
  const char* message = net_meshos_last_error_message();
  require(kind != nullptr && *kind != '\0', "a failed C API call records no error kind");
  require(message != nullptr && *message != '\0', "a failed C API call records no error message");
}

void require_kind(int rc, int expected_rc, const char* expected_kind, const char* what) {
  if (rc == expected_rc && last_kind() == expected_kind) return;
  std::fprintf(stderr, "%s: got %d (%s: %s), expected %d (%s)\n", what, rc, last_kind().c_str(),
               net_meshos_last_error_message() ? net_meshos_last_error_message() : "", expected_rc, expected_kind);
  require(false, what);
}

// The header's notion of text, written out independently of the library: UTF-8 per RFC 3629.
bool utf8(const std::string& s) {
  std::size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    std::size_t n;
    std::uint32_t cp;
    if (c < 0x80) {
      ++i;
      continue;
    }
    if (c >= 0xC2 && c <= 0xDF) n = 1, cp = c & 0x1F;
    else if (c >= 0xE0 && c <= 0xEF) n = 2, cp = c & 0x0F;
    else if (c >= 0xF0 && c <= 0xF4) n = 3, cp = c & 0x07;
    else return false;
    if (i + n >= s.size()) return false;
    for (std::size_t k = 1; k <= n; ++k) {
      const auto cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3F);
    }
    if ((n == 2 && cp < 0x800) || (n == 3 && (cp < 0x10000 || cp > 0x10FFFF)) || (cp >= 0xD800 && cp <= 0xDFFF))
      return false;
    i += n + 1;
  }
  return true;
}

void fuzz_name(Runtime& rt, const char* ptr, std::size_t len, bool register_for_real) {
  const std::string name(ptr, len);
  const bool valid = len != 0 && utf8(name) && name.find('\0') == std::string::npos;

  NetMeshOsHandle* out = nullptr;
  int rc = net_meshos_register_daemon(rt.sdk, ptr, len, rt.registered_seed, &out);
  require_contract(rc, "net_meshos_register_daemon");
  if (valid) {
    require_kind(rc, NET_MESHOS_ERR_CALL_FAILED, "register_failed", "a second daemon with a registered seed");
  } else {
    require_kind(rc, NET_MESHOS_ERR_INVALID_ARG, "invalid_argument", "an invalid daemon name");
  }
  require(out == nullptr, "a failed registration stored a handle");

  rc = net_meshos_register_daemon_with_vtable(rt.sdk, ptr, len, rt.registered_seed, &rt.vtable, nullptr, &out);
  require_contract(rc, "net_meshos_register_daemon_with_vtable");
  if (valid) {
    require_kind(rc, NET_MESHOS_ERR_CALL_FAILED, "register_failed", "a second vtable daemon with a registered seed");
  } else {
    require_kind(rc, NET_MESHOS_ERR_INVALID_ARG, "invalid_argument", "an invalid vtable daemon name");
  }
  require(out == nullptr, "a failed vtable registration stored a handle");

  if (!valid || !register_for_real) return;
  rc = net_meshos_register_daemon(rt.sdk, ptr, len, rt.fresh_seed, &out);
  require_contract(rc, "net_meshos_register_daemon (fresh seed)");
  require(rc == NET_MESHOS_OK && out != nullptr, "a daemon with a valid name and a fresh seed is refused");
  require(std::string(net_meshos_handle_daemon_name(out)) == name.c_str(), "the handle names another daemon");
  for (int refresh = 0; refresh < 2; ++refresh) {
    char* meta = refresh ? net_meshos_refresh_metadata(out) : net_meshos_metadata(out);
    require(meta != nullptr, "a live daemon has no metadata");
    auto j = nlohmann::json::parse(meta, nullptr, false);
    require(!j.is_discarded() && j.is_object(), "a daemon's metadata is not a JSON object");
    require(j.value("daemon_name", std::string()) == name, "the metadata names another daemon");
    net_meshos_free_string(meta);
  }
  net_meshos_handle_free(out);
}

void fuzz_log(Runtime& rt, int level, const char* ptr, std::size_t len) {
  const int rc = net_meshos_publish_log(rt.handle, level, ptr, len);
  require_contract(rc, "net_meshos_publish_log");
  if (level < NET_MESHOS_LOG_TRACE || level > NET_MESHOS_LOG_ERROR) {
    require_kind(rc, NET_MESHOS_ERR_INVALID_ARG, "invalid_log_level", "a log line at an invalid level");
  } else if (!utf8(std::string(ptr, len))) {
    require_kind(rc, NET_MESHOS_ERR_INVALID_ARG, "invalid_argument", "a non-UTF-8 log line");
  } else if (rc != NET_MESHOS_OK) {
    require(rc == NET_MESHOS_ERR_CALL_FAILED && last_kind() == "queue_full", "a valid log line is refused");
  }
}

void fuzz_capabilities(Runtime& rt, const char* ptr, std::size_t len) {
  const int rc = net_meshos_publish_capabilities(rt.handle, ptr, len);
  require_contract(rc, "net_meshos_publish_capabilities");
  const std::string text(ptr, len);
  if (!utf8(text)) {
    require_kind(rc, NET_MESHOS_ERR_INVALID_ARG, "invalid_argument", "non-UTF-8 capability text");
    return;
  }
  if (!text.empty() && !meshos::capability_set_from_json_text(text)) {
    require_kind(rc, NET_MESHOS_ERR_INVALID_ARG, "invalid_capability", "capability JSON its decoder refuses");
    return;
  }
  if (rc != NET_MESHOS_OK) {
    std::fprintf(stderr, "publish_capabilities: %d (%s: %s)\n", rc, last_kind().c_str(),
                 net_meshos_last_error_message());
    require(rc == NET_MESHOS_ERR_CALL_FAILED && last_kind() == "queue_full",
            "capability JSON its decoder accepts is refused");
  }
}

void fuzz_text(Runtime& rt, const char* ptr, std::size_t len, int level, bool register_for_real) {
  fuzz_name(rt, ptr, len, register_for_real);
  fuzz_log(rt, level, ptr, len);
  fuzz_capabilities(rt, ptr, len);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  Runtime& rt = runtime();
  const std::string input(reinterpret_cast<const char*>(data), size);
  // Level and "register for real" come from a hash of the input, so every byte stays text.
  std::uint32_t h = 2166136261u;
  for (std::size_t i = 0; i < size && i < 64; ++i) h = (h ^ data[i]) * 16777619u;
  const int level = (h & 0xF) < 12 ? static_cast<int>(h % 5) : static_cast<int>(h >> 8) - (1 << 23);
  const bool register_for_real = ((h >> 4) & 0xF) == 0;

  // As (ptr, len), with whatever NULs it holds; NULL with length 0 for the empty input.
  fuzz_text(rt, size == 0 ? nullptr : input.data(), size, level, register_for_real);
  // As a C string: the bytes before the first NUL, read with strlen; and with the terminator counted.
  const char* c_string = input.c_str();
  fuzz_text(rt, c_string, std::strlen(c_string), level, false);
  fuzz_text(rt, c_string, std::strlen(c_string) + 1, level, false);
  // Without any NUL byte.
  std::string no_nul;
  for (char c : input)
    if (c != '\0') no_nul.push_back(c);
  if (no_nul.size() != std::strlen(c_string)) fuzz_text(rt, no_nul.c_str(), no_nul.size(), level, register_for_real);

  // NULL text with a length is refused, never read.
  require_kind(net_meshos_publish_log(rt.handle, NET_MESHOS_LOG_INFO, nullptr, size + 1), NET_MESHOS_ERR_INVALID_ARG,
               "invalid_argument", "a NULL log line with a length");
  return 0;
}
