#pragma once
// Library: meshos_core.
// Who may change a node, and the checks a signed commit must pass before it folds into state.
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <variant>
#include <vector>

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
  // The file's text, with the size and nesting limits of untrusted_json.hpp.
  static Result<OperatorRegistry> from_json_text(const std::string& text);
  static Result<OperatorRegistry> load_file(const std::string& path);
  const std::map<OperatorId, std::string>& names() const noexcept { return names_; }

 private:
  std::map<OperatorId, PublicKey> keys_;
  std::map<OperatorId, std::string> names_;
};

struct VerifierPolicy {
  std::int64_t freshness_ms = 300'000;     // older than this: envelope_expired
  std::int64_t future_skew_ms = 30'000;    // further ahead than this: envelope_from_future
  std::int64_t ice_cooldown_ms = 300'000;  // per target after an accepted break-glass (ice_target_key)
  // Accepted signatures are remembered until their commit can no longer pass the freshness check (issued_at
  // older than freshness_ms), never shorter. At most this many at once: beyond it a new commit is refused
  // with replay_memory_full until the oldest remembered one goes stale.
  std::size_t replay_memory = 4096;
  // The cluster this node belongs to: a commit signed for another one is refused as wrong_cluster.
  std::string cluster = kDefaultClusterName;
};

// An accepted signature the verifier still remembers, with the time its commit was issued at (which decides
// when it may be forgotten).
struct RememberedCommit {
  Signature signature{};
  std::int64_t issued_at_ms = 0;
  bool operator==(const RememberedCommit& o) const {
    return signature == o.signature && issued_at_ms == o.issued_at_ms;
  }
};

// What a verifier must not forget across a restart: the accepted signatures that are still fresh and the
// break-glass cooldowns still running. A plain value: AdminVerifier::memory() exports it, restore() takes
// it back; to_json / verifier_memory_from_json persist it.
struct VerifierMemory {
  std::vector<RememberedCommit> seen;                    // oldest issued_at first
  std::map<std::string, std::int64_t> cooldown_until_ms;  // ice_target_key -> wall-clock ms
  bool operator==(const VerifierMemory& o) const {
    return seen == o.seen && cooldown_until_ms == o.cooldown_until_ms;
  }
};

// Most entries a memory may hold when restored or read from JSON (far above any replay_memory in use).
inline constexpr std::size_t kMaxVerifierMemoryEntries = std::size_t{1} << 20;

// {"seen": [{"signature": "<128 hex>", "issued_at_ms": N}, ...], "cooldown_until_ms": {"<key>": N, ...}}.
void to_json(nlohmann::json& j, const VerifierMemory& m);
// Strict inverse of to_json: kind "invalid_verifier_memory" on anything malformed, unknown or oversized.
Result<VerifierMemory> verifier_memory_from_json(const nlohmann::json& j);

namespace outcome {
struct Accepted {};
struct Rejected {
  std::string kind;  // not_authorized, signature_invalid, insufficient_signatures, envelope_expired,
                     // envelope_from_future, simulation_required, ice_cooldown_active, commit_replayed,
                     // replay_memory_full, wrong_cluster (or a precheck's kind)
  std::string message;
  // True when every signature of the commit verified against a registered operator (at least one) before
  // it was refused: its signers really signed it. False for a stranger's commit (unknown operator, bad
  // signature, no signature), whose claimed signers must never be named as its authors.
  bool authenticated = false;
};
struct Unverified {};
}  // namespace outcome
using VerificationOutcome = std::variant<outcome::Accepted, outcome::Rejected, outcome::Unverified>;
// "accepted", "rejected", "unverified".
const char* outcome_kind(const VerificationOutcome& o);

// What verify_ice checks beyond the signatures, cluster, simulation, quorum and replay. A break-glass commit
// relayed by a peer node was admitted there: the cooldown is the admitting node's rate limit (checked there;
// here it is started from the commit's issue time, so that every node's cooldown ends when the admitting
// node's does and it holds cluster-wide), and a freeze still in force applies however old its commit is
// (SPEC.md, "The cluster protocol").
struct IceChecks {
  bool cooldown = true;  // false: not checked, and started from issued_at_ms instead of now
  bool freshness = true;
};

class AdminVerifier {
 public:
  // threshold = signatures needed on a break-glass commit; clamped to >= 1.
  AdminVerifier(OperatorRegistry registry, std::size_t threshold, VerifierPolicy policy = {});

  // A check of the node's own (frozen, target node) that runs once the signer is authenticated and before the
  // commit is admitted, so that a commit it refuses is neither remembered nor attributed to a stranger.
  using Precheck = std::function<std::optional<outcome::Rejected>()>;

  // Stateful: an accepted commit's signatures are remembered while the commit is fresh, so the same commit
  // is refused as commit_replayed; an accepted break-glass commit starts its target's cooldown.
  // Admin checks, in order: registry, signature, cluster, precheck, freshness, replay, memory room.
  VerificationOutcome verify_admin(const SignedAdminCommit& c, std::int64_t now_wall_ms,
                                   const Precheck& precheck = {});
  // Break-glass checks, in order: each signature (registry, then validity), cluster, simulation, freshness,
  // quorum, precheck (the node's: is the blast radius still the one signed), replay, cooldown, memory room.
  VerificationOutcome verify_ice(const SignedIceCommit& c, std::int64_t now_wall_ms, IceChecks checks = {},
                                 const Precheck& precheck = {});

  std::size_t threshold() const noexcept { return threshold_; }
  const OperatorRegistry& registry() const noexcept { return registry_; }
  const VerifierPolicy& policy() const noexcept { return policy_; }
  const std::string& cluster() const noexcept { return policy_.cluster; }

  // The remembered signatures and running cooldowns, to persist them.
  VerifierMemory memory() const;
  // Replaces the memory with `m`, dropping what is already stale at `now_wall_ms` (signatures whose commit
  // could no longer pass the freshness check, cooldowns that ended). Everything still fresh is kept, even
  // beyond replay_memory (new commits are then refused with replay_memory_full until enough go stale):
  // forgetting early would reopen the replay window. All or nothing; kind "invalid_verifier_memory" when
  // `m` holds more than kMaxVerifierMemoryEntries signatures or cooldowns.
  Result<void> restore(const VerifierMemory& m, std::int64_t now_wall_ms);

 private:
  std::optional<outcome::Rejected> check_time(std::int64_t issued_at_ms, std::int64_t now_wall_ms) const;
  std::optional<outcome::Rejected> check_cluster(const std::string& cluster, const std::string& what) const;
  bool expired(std::int64_t issued_at_ms, std::int64_t now_wall_ms) const;
  bool seen(const Signature& s) const { return seen_.count(s) != 0; }
  // Forgets the signatures whose commits have gone stale, then refuses (replay_memory_full) when `needed`
  // more would not fit.
  std::optional<outcome::Rejected> make_room(std::size_t needed, std::int64_t now_wall_ms);
  void remember(const Signature& s, std::int64_t issued_at_ms);

  OperatorRegistry registry_;
  std::size_t threshold_;
  VerifierPolicy policy_;
  std::map<std::string, std::int64_t> cooldown_until_ms_;
  std::map<Signature, std::int64_t> seen_;                    // signature -> issued_at_ms
  std::set<std::pair<std::int64_t, Signature>> seen_by_age_;  // the same, oldest issued_at first
};

}  // namespace meshos
