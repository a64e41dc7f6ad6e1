#pragma once
// Library: meshos_core.
// JSON text from outside the process (peers, operators, files, C callers), parsed with a size and a
// nesting limit that are checked before nlohmann sees a byte. nlohmann's dump() (and parts of its DOM
// handling) recurse once per nesting level: a 260 KB string of 130,000 '[' overflows the stack of any
// thread that parses and then prints it. Every parse of outside text in meshos goes through here.
#include <cstddef>
#include <string>

#include <nlohmann/json.hpp>

#include "meshos/result.hpp"

namespace meshos {

struct JsonLimits {
  std::size_t max_bytes;
  std::size_t max_depth;
};

// No document meshos reads nests deeper than 6 levels (snapshot > daemons > daemon > capabilities >
// metadata); 64 leaves room for growth and keeps recursion over a parsed value a few stack frames deep.
inline constexpr std::size_t kMaxJsonDepth = 64;

// Size limits, one per use. Each is far above the largest legitimate document of its kind and small
// enough that parsing it costs little time and memory.
namespace json_limits {
// One signed admin or break-glass commit, or an operator request body: a break-glass commit carries at
// most 256 signatures of ~200 bytes each (~50 KB).
inline constexpr JsonLimits kCommit{256 * 1024, kMaxJsonDepth};
// A capability set: 256 tags of at most 128 bytes plus 64 metadata values of at most 1 KB each (~100 KB).
inline constexpr JsonLimits kCapabilities{256 * 1024, kMaxJsonDepth};
// A snapshot or another answer of a node (its log ring is the bulk: 2048 records of up to 16 KB by default).
inline constexpr JsonLimits kSnapshot{64 * 1024 * 1024, kMaxJsonDepth};
// A node's daemons as it describes them to peers: up to 1024 daemons with a few tags each; 4 MiB leaves room
// for sets near their limits on a few of them.
inline constexpr JsonLimits kDaemonDescriptions{4 * 1024 * 1024, kMaxJsonDepth};
// A maintenance state view, as a peer mirrors it in its hello: a handful of fields, the longest a drain
// failure's reason.
inline constexpr JsonLimits kMaintenanceView{64 * 1024, kMaxJsonDepth};
// An inventory is three numbers.
inline constexpr JsonLimits kInventory{1024, 4};
// A key file holds three short strings.
inline constexpr JsonLimits kKeyFile{64 * 1024, kMaxJsonDepth};
// An operator registry lists people: thousands of entries fit.
inline constexpr JsonLimits kOperatorRegistry{1024 * 1024, kMaxJsonDepth};
}  // namespace json_limits

// Parses `text` as one JSON document. Over `limits.max_bytes`, nested deeper than `limits.max_depth`
// (arrays and objects; brackets inside strings do not count) or malformed: an SdkError of `error_kind`
// whose message starts with `what` ("capabilities", "commit", ...) and names the limit; never a partial
// value. Messages quote nothing of the text but the position of the problem.
Result<nlohmann::json> parse_untrusted_json(const std::string& text, const JsonLimits& limits,
                                            Errc error_kind, const std::string& what);

}  // namespace meshos
