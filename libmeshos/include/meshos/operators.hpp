#pragma once
// Who may change a node, and the checks a signed commit must pass before it folds into state.
#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <variant>

#include <nlohmann/json_fwd.hpp>

#include "meshos/admin.hpp"
#include "meshos/identity.hpp"
#include "meshos/result.hpp"

namespace meshos {

class OperatorRegistry {
 public:
  // Kind "duplicate_operator" when the id is already present with another key.
  Result<void> add(const PublicKey& pk);
  bool contains(OperatorId id) const { return keys_.count(id) != 0; }
  const PublicKey* find(OperatorId id) const;
  std::size_t size() const noexcept { return keys_.size(); }
  const std::map<OperatorId, PublicKey>& keys() const noexcept { return keys_; }

  // File form: {"operators": [{"name": "alice", "public_key": "<64 hex>"}, ...]}.
  // Kind "invalid_operator_registry" on anything malformed; nothing is half-loaded.
  static Result<OperatorRegistry> from_json(const nlohmann::json& j);
  static Result<OperatorRegistry> load_file(const std::string& path);
  const std::map<OperatorId, std::string>& names() const noexcept { return names_; }

 private:
  std::map<OperatorId, PublicKey> keys_;
  std::map<OperatorId, std::string> names_;
};

struct VerifierPolicy {
  std::int64_t freshness_ms = 300'000;     // older than this: envelope_expired
  std::int64_t future_skew_ms = 30'000;    // further ahead than this: envelope_from_future
  std::int64_t ice_cooldown_ms = 300'000;  // per (kind, target) after an accepted break-glass
  std::size_t replay_memory = 4096;        // signatures remembered to refuse replays (bounded)
};

namespace outcome {
struct Accepted {};
struct Rejected {
  std::string kind;  // not_authorized, signature_invalid, insufficient_signatures, envelope_expired,
                     // envelope_from_future, simulation_required, ice_cooldown_active, commit_replayed
  std::string message;
};
struct Unverified {};
}  // namespace outcome
using VerificationOutcome = std::variant<outcome::Accepted, outcome::Rejected, outcome::Unverified>;
// "accepted", "rejected", "unverified".
const char* outcome_kind(const VerificationOutcome& o);

class AdminVerifier {
 public:
  // threshold = signatures needed on a break-glass commit; clamped to >= 1.
  AdminVerifier(OperatorRegistry registry, std::size_t threshold, VerifierPolicy policy = {});

  // Stateful: an accepted commit's signature is remembered (bounded) so the same commit is refused
  // as commit_replayed; an accepted break-glass commit starts its target's cooldown.
  VerificationOutcome verify_admin(const SignedAdminCommit& c, std::int64_t now_wall_ms);
  VerificationOutcome verify_ice(const SignedIceCommit& c, std::int64_t now_wall_ms);

  std::size_t threshold() const noexcept { return threshold_; }
  const OperatorRegistry& registry() const noexcept { return registry_; }

 private:
  std::optional<outcome::Rejected> check_time(std::int64_t issued_at_ms, std::int64_t now_wall_ms) const;
  bool seen(const Signature& s) const { return seen_set_.count(s) != 0; }
  void remember(const Signature& s);

  OperatorRegistry registry_;
  std::size_t threshold_;
  VerifierPolicy policy_;
  std::map<std::string, std::int64_t> cooldown_until_ms_;
  std::set<Signature> seen_set_;
  std::deque<Signature> seen_order_;
};

}  // namespace meshos
