#include "meshos/operators.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <iterator>
#include <limits>
#include <utility>

#include <nlohmann/json.hpp>

#include "json_read.hpp"
#include "meshos/untrusted_json.hpp"

namespace meshos {
namespace {

using nlohmann::json;

// A registry lists people; anything bigger than this is not an operator file.
constexpr std::size_t kMaxRegistryFileBytes = json_limits::kOperatorRegistry.max_bytes;
constexpr std::size_t kMaxOperatorNameBytes = 256;

SdkError invalid_registry(const std::string& message) { return SdkError{Errc::invalid_operator_registry, message}; }

outcome::Rejected rejected(Errc kind, std::string message) {
  return outcome::Rejected{to_string(kind), std::move(message)};
}

// Cooldown keys are ice_target_key values: a kind and at most one id.
constexpr std::size_t kMaxCooldownKeyBytes = 256;

SdkError invalid_memory(const std::string& message) { return SdkError{Errc::invalid_verifier_memory, message}; }

// Every key of `j` must be one of `known`.
std::optional<std::string> unknown_key(const json& j, std::initializer_list<const char*> known) {
  for (auto it = j.begin(); it != j.end(); ++it)
    if (std::none_of(known.begin(), known.end(), [&](const char* k) { return it.key() == k; })) return it.key();
  return std::nullopt;
}

Result<RememberedCommit> remembered_from_json(const json& j, const std::string& at) {
  if (!j.is_object()) return invalid_memory(at + ": expected an object with \"signature\" and \"issued_at_ms\"");
  if (auto key = unknown_key(j, {"signature", "issued_at_ms"})) return invalid_memory(at + "." + *key + ": unknown field");
  RememberedCommit r;
  const auto signature = json_read::string_field(j, "signature");
  Bytes bytes;
  if (!signature || signature->size() != 2 * r.signature.size() || !hex_to_bytes(*signature, bytes))
    return invalid_memory(at + ".signature: expected exactly " + std::to_string(2 * r.signature.size()) + " hex digits");
  std::copy(bytes.begin(), bytes.end(), r.signature.begin());
  const json* issued_at = json_read::field(j, "issued_at_ms");
  const auto value = issued_at ? json_read::as_i64(*issued_at) : std::nullopt;
  if (!value) return invalid_memory(at + ".issued_at_ms: expected a signed 64-bit integer");
  r.issued_at_ms = *value;
  return r;
}

}  // namespace

// ---- OperatorRegistry --------------------------------------------------------------------------

Result<void> OperatorRegistry::add(const PublicKey& pk) {
  const OperatorId id = origin_hash_of(pk);
  auto it = keys_.find(id);
  if (it != keys_.end()) {
    if (it->second == pk) return ok();
    return SdkError{Errc::duplicate_operator,
                    "operator id " + to_hex(id) + " is already registered with a different public key"};
  }
  keys_.emplace(id, pk);
  return ok();
}

const PublicKey* OperatorRegistry::find(OperatorId id) const {
  auto it = keys_.find(id);
  return it == keys_.end() ? nullptr : &it->second;
}

Result<OperatorRegistry> OperatorRegistry::from_json(const json& j) {
  if (!j.is_object()) return invalid_registry("expected a JSON object with an \"operators\" array");
  auto list = j.find("operators");
  if (list == j.end()) return invalid_registry("operators: missing");
  if (!list->is_array()) return invalid_registry("operators: expected an array");
  for (auto it = j.begin(); it != j.end(); ++it)
    if (it.key() != "operators") return invalid_registry(it.key() + ": unknown field");

  OperatorRegistry registry;
  std::map<std::string, std::size_t> index_of_name;
  for (std::size_t i = 0; i < list->size(); ++i) {
    const json& entry = (*list)[i];
    const std::string at = "operators[" + std::to_string(i) + "]";
    if (!entry.is_object()) return invalid_registry(at + ": expected an object with \"name\" and \"public_key\"");
    for (auto it = entry.begin(); it != entry.end(); ++it)
      if (it.key() != "name" && it.key() != "public_key") return invalid_registry(at + "." + it.key() + ": unknown field");

    auto name = entry.find("name");
    if (name == entry.end()) return invalid_registry(at + ".name: missing");
    if (!name->is_string()) return invalid_registry(at + ".name: expected a string");
    const auto& name_text = name->get_ref<const std::string&>();
    if (name_text.empty()) return invalid_registry(at + ".name: must not be empty");
    if (name_text.size() > kMaxOperatorNameBytes)
      return invalid_registry(at + ".name: longer than " + std::to_string(kMaxOperatorNameBytes) + " bytes");

    auto key = entry.find("public_key");
    if (key == entry.end()) return invalid_registry(at + ".public_key: missing");
    if (!key->is_string()) return invalid_registry(at + ".public_key: expected a string");
    auto keypair = EntityKeypair::from_public_hex(key->get_ref<const std::string&>());
    if (!keypair) return invalid_registry(at + ".public_key: " + keypair.error().message);

    auto [previous, inserted] = index_of_name.emplace(name_text, i);
    if (!inserted)
      return invalid_registry(at + ".name: \"" + name_text + "\" is already used by operators[" +
                              std::to_string(previous->second) + "]");
    const OperatorId id = keypair->origin_hash();
    if (registry.contains(id)) {
      return invalid_registry(at + ".public_key: " + (*registry.find(id) == keypair->public_key()
                                                          ? "the same key is already listed as \"" +
                                                                registry.names_.at(id) + "\""
                                                          : "its operator id " + to_hex(id) + " collides with \"" +
                                                                registry.names_.at(id) + "\""));
    }
    registry.keys_.emplace(id, keypair->public_key());
    registry.names_.emplace(id, name_text);
  }
  return registry;
}

Result<OperatorRegistry> OperatorRegistry::load_file(const std::string& path) {
  // A directory opens like a file on Linux and then reads as empty: name the real problem instead.
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec))
    return SdkError{Errc::operator_file_not_found, "operator registry " + path + " is a directory, not a file"};
  std::ifstream in(path, std::ios::binary);
  if (!in.is_open())
    return SdkError{Errc::operator_file_not_found, "cannot open operator registry " + path + ": " + std::strerror(errno)};
  std::string text;
  text.resize(kMaxRegistryFileBytes + 1);
  in.read(&text[0], static_cast<std::streamsize>(text.size()));
  if (in.bad()) return SdkError{Errc::operator_file_not_found, "cannot read operator registry " + path};
  text.resize(static_cast<std::size_t>(in.gcount()));
  if (text.size() > kMaxRegistryFileBytes)
    return invalid_registry(path + ": larger than " + std::to_string(kMaxRegistryFileBytes) + " bytes");

  auto registry = from_json_text(text);
  if (!registry) return invalid_registry(path + ": " + registry.error().message);
  return registry;
}

Result<OperatorRegistry> OperatorRegistry::from_json_text(const std::string& text) {
  auto j = parse_untrusted_json(text, json_limits::kOperatorRegistry, Errc::invalid_operator_registry, "operator registry");
  if (!j) return j.error();
  return from_json(*j);
}

// ---- AdminVerifier -------------------------------------------------------------------------------

const char* outcome_kind(const VerificationOutcome& o) {
  switch (o.index()) {
    case 0:
      return "accepted";
    case 1:
      return "rejected";
    default:
      return "unverified";
  }
}

AdminVerifier::AdminVerifier(OperatorRegistry registry, std::size_t threshold, VerifierPolicy policy)
    : registry_(std::move(registry)), threshold_(std::max<std::size_t>(threshold, 1)), policy_(policy) {
  // Remembering nothing would silently turn replay protection off.
  policy_.replay_memory = std::max<std::size_t>(policy_.replay_memory, 1);
}

bool AdminVerifier::expired(std::int64_t issued_at_ms, std::int64_t now_wall_ms) const {
  return issued_at_ms <= now_wall_ms &&
         distance_ms(issued_at_ms, now_wall_ms) > static_cast<std::uint64_t>(std::max<std::int64_t>(policy_.freshness_ms, 0));
}

std::optional<outcome::Rejected> AdminVerifier::check_time(std::int64_t issued_at_ms,
                                                           std::int64_t now_wall_ms) const {
  if (expired(issued_at_ms, now_wall_ms))
    return rejected(Errc::envelope_expired, "commit issued " + std::to_string(distance_ms(issued_at_ms, now_wall_ms)) +
                                            " ms ago; the freshness window is " + std::to_string(policy_.freshness_ms) +
                                            " ms");
  if (issued_at_ms > now_wall_ms) {
    const std::uint64_t ahead = distance_ms(now_wall_ms, issued_at_ms);
    if (ahead > static_cast<std::uint64_t>(std::max<std::int64_t>(policy_.future_skew_ms, 0)))
      return rejected(Errc::envelope_from_future, "commit issued " + std::to_string(ahead) +
                                                  " ms in the future; at most " +
                                                  std::to_string(policy_.future_skew_ms) + " ms of clock skew is allowed");
  }
  return std::nullopt;
}

// A signature is forgotten exactly when its commit would be refused as envelope_expired, so forgetting can
// never let a replay through; a commit issued ahead of the clock (within the skew) is kept correspondingly
// longer. Until then it holds its place, and a full memory refuses new commits instead of forgetting early.
std::optional<outcome::Rejected> AdminVerifier::make_room(std::size_t needed, std::int64_t now_wall_ms) {
  while (!seen_by_age_.empty() && expired(seen_by_age_.begin()->first, now_wall_ms)) {
    seen_.erase(seen_by_age_.begin()->second);
    seen_by_age_.erase(seen_by_age_.begin());
  }
  if (seen_.size() + needed <= policy_.replay_memory) return std::nullopt;
  const std::int64_t oldest = seen_by_age_.empty() ? now_wall_ms : seen_by_age_.begin()->first;
  const std::int64_t stale_at =
      saturating_add(saturating_add(oldest, std::max<std::int64_t>(policy_.freshness_ms, 0)), 1);
  const std::uint64_t wait = stale_at > now_wall_ms ? distance_ms(now_wall_ms, stale_at) : 0;
  return rejected(Errc::replay_memory_full, std::to_string(seen_.size()) + " accepted signatures are remembered (bound " +
                                            std::to_string(policy_.replay_memory) +
                                            "), all still fresh; the oldest is forgotten in " + std::to_string(wait) +
                                            " ms");
}

void AdminVerifier::remember(const Signature& s, std::int64_t issued_at_ms) {
  auto [it, inserted] = seen_.emplace(s, issued_at_ms);
  if (!inserted) {
    if (it->second >= issued_at_ms) return;
    seen_by_age_.erase({it->second, s});
    it->second = issued_at_ms;
  }
  seen_by_age_.emplace(issued_at_ms, s);
}

VerifierMemory AdminVerifier::memory() const {
  VerifierMemory m;
  m.seen.reserve(seen_by_age_.size());
  for (const auto& [issued_at_ms, signature] : seen_by_age_) m.seen.push_back(RememberedCommit{signature, issued_at_ms});
  m.cooldown_until_ms = cooldown_until_ms_;
  return m;
}

Result<void> AdminVerifier::restore(const VerifierMemory& m, std::int64_t now_wall_ms) {
  if (m.seen.size() > kMaxVerifierMemoryEntries || m.cooldown_until_ms.size() > kMaxVerifierMemoryEntries)
    return SdkError{Errc::invalid_verifier_memory, "more than " + std::to_string(kMaxVerifierMemoryEntries) +
                                                   " remembered signatures or cooldowns"};
  seen_.clear();
  seen_by_age_.clear();
  cooldown_until_ms_.clear();
  for (const auto& r : m.seen)
    if (!expired(r.issued_at_ms, now_wall_ms)) remember(r.signature, r.issued_at_ms);
  for (const auto& [target, until] : m.cooldown_until_ms)
    if (now_wall_ms < until) cooldown_until_ms_.emplace(target, until);
  return ok();
}

std::optional<outcome::Rejected> AdminVerifier::check_cluster(const std::string& cluster,
                                                              const std::string& what) const {
  if (cluster == policy_.cluster) return std::nullopt;
  return rejected(Errc::wrong_cluster, "this " + what + " commit is signed for cluster \"" + cluster +
                                       "\"; this node belongs to cluster \"" + policy_.cluster + "\"");
}

// The signer first: a forged commit is reported as forged whatever else is wrong with it, and whatever is
// refused after that point is refused as the signer's (authenticated). A stale copy of a genuine commit is
// reported as expired.
VerificationOutcome AdminVerifier::verify_admin(const SignedAdminCommit& c, std::int64_t now_wall_ms,
                                                const Precheck& precheck) {
  const PublicKey* pk = registry_.find(c.signature.operator_id);
  if (pk == nullptr)
    return rejected(Errc::not_authorized, "operator " + to_hex(c.signature.operator_id) + " is not in the registry");
  const Bytes signed_bytes = signing_bytes(c);
  if (!ed25519_verify(*pk, signed_bytes.data(), signed_bytes.size(), c.signature.signature))
    return rejected(Errc::signature_invalid, "the signature of operator " + to_hex(c.signature.operator_id) +
                                             " does not match this " + admin_kind(c.event) + " commit");
  auto refusal = check_cluster(c.cluster, admin_kind(c.event));
  if (!refusal && precheck) refusal = precheck();
  if (!refusal) refusal = check_time(c.issued_at_ms, now_wall_ms);
  if (!refusal && seen(c.signature.signature))
    refusal = rejected(Errc::commit_replayed, "this " + std::string(admin_kind(c.event)) + " commit was already accepted");
  if (!refusal) refusal = make_room(1, now_wall_ms);
  if (refusal) {
    refusal->authenticated = true;
    return *refusal;
  }
  remember(c.signature.signature, c.issued_at_ms);
  return outcome::Accepted{};
}

// Every signature is verified first (each distinct one once), so that a refusal names real signers or
// none; then the cheap checks, quorum, replay and cooldown.
VerificationOutcome AdminVerifier::verify_ice(const SignedIceCommit& c, std::int64_t now_wall_ms, IceChecks checks,
                                              const Precheck& precheck) {
  const char* kind = ice_kind(c.proposal);
  const Bytes signed_bytes = signing_bytes(c);
  std::set<OperatorId> signers;
  std::set<std::pair<OperatorId, Signature>> verified;
  for (const auto& s : c.signatures) {
    if (verified.count({s.operator_id, s.signature}) != 0) continue;
    const PublicKey* pk = registry_.find(s.operator_id);
    if (pk == nullptr)
      return rejected(Errc::not_authorized, "operator " + to_hex(s.operator_id) + " is not in the registry");
    if (!ed25519_verify(*pk, signed_bytes.data(), signed_bytes.size(), s.signature))
      return rejected(Errc::signature_invalid, "the signature of operator " + to_hex(s.operator_id) +
                                               " does not match this break-glass " + kind + " commit");
    verified.emplace(s.operator_id, s.signature);
    signers.insert(s.operator_id);
  }

  const std::string target = ice_target_key(c.proposal);
  std::set<Signature> distinct;
  for (const auto& s : c.signatures) distinct.insert(s.signature);
  auto refusal = check_cluster(c.cluster, std::string("break-glass ") + kind);
  if (!refusal && std::all_of(c.blast_radius_hash.begin(), c.blast_radius_hash.end(),
                              [](std::uint8_t b) { return b == 0; }))
    refusal = rejected(Errc::simulation_required,
                       std::string("break-glass ") + kind + " carries no blast-radius hash; simulate it first");
  if (!refusal && checks.freshness) refusal = check_time(c.issued_at_ms, now_wall_ms);
  if (!refusal && signers.size() < threshold_)
    refusal = rejected(Errc::insufficient_signatures, std::to_string(signers.size()) + " of " +
                                                      std::to_string(threshold_) +
                                                      " required distinct operator signatures");
  if (!refusal && precheck) refusal = precheck();
  // Ed25519 is deterministic: any signature already accepted means these exact bytes were accepted.
  if (!refusal && std::any_of(distinct.begin(), distinct.end(), [&](const Signature& s) { return seen(s); }))
    refusal = rejected(Errc::commit_replayed, std::string("this break-glass ") + kind + " commit was already accepted");
  if (!refusal && checks.cooldown) {
    auto cooling = cooldown_until_ms_.find(target);
    if (cooling != cooldown_until_ms_.end() && now_wall_ms < cooling->second)
      refusal = rejected(Errc::ice_cooldown_active, "break-glass on " + target + " is cooling down for another " +
                                                    std::to_string(distance_ms(now_wall_ms, cooling->second)) + " ms");
  }
  if (!refusal) refusal = make_room(distinct.size(), now_wall_ms);
  if (refusal) {
    refusal->authenticated = !signers.empty();
    return *refusal;
  }

  for (const auto& s : distinct) remember(s, c.issued_at_ms);
  // Expired cooldowns are dropped here so the map only ever holds targets still cooling down.
  for (auto it = cooldown_until_ms_.begin(); it != cooldown_until_ms_.end();)
    it = now_wall_ms >= it->second ? cooldown_until_ms_.erase(it) : std::next(it);
  const std::int64_t until =
      saturating_add(checks.cooldown ? now_wall_ms : std::min(c.issued_at_ms, now_wall_ms), policy_.ice_cooldown_ms);
  if (until > now_wall_ms) {
    auto& cooling = cooldown_until_ms_[target];
    cooling = std::max(cooling, until);
  }
  return outcome::Accepted{};
}

// ---- VerifierMemory as JSON --------------------------------------------------------------------------

void to_json(json& j, const VerifierMemory& m) {
  json seen = json::array();
  for (const auto& r : m.seen)
    seen.push_back(json{{"signature", bytes_to_hex(r.signature.data(), r.signature.size())},
                        {"issued_at_ms", r.issued_at_ms}});
  json cooldowns = json::object();
  for (const auto& [target, until] : m.cooldown_until_ms) cooldowns[target] = until;
  j = json{{"seen", std::move(seen)}, {"cooldown_until_ms", std::move(cooldowns)}};
}

Result<VerifierMemory> verifier_memory_from_json(const json& j) {
  if (!j.is_object()) return invalid_memory("expected a JSON object with \"seen\" and \"cooldown_until_ms\"");
  if (auto key = unknown_key(j, {"seen", "cooldown_until_ms"})) return invalid_memory(*key + ": unknown field");
  const json* seen = json_read::field(j, "seen");
  if (seen == nullptr) return invalid_memory("seen: missing");
  if (!seen->is_array()) return invalid_memory("seen: expected an array");
  if (seen->size() > kMaxVerifierMemoryEntries)
    return invalid_memory("seen: more than " + std::to_string(kMaxVerifierMemoryEntries) + " entries");
  const json* cooldowns = json_read::field(j, "cooldown_until_ms");
  if (cooldowns == nullptr) return invalid_memory("cooldown_until_ms: missing");
  if (!cooldowns->is_object()) return invalid_memory("cooldown_until_ms: expected an object");
  if (cooldowns->size() > kMaxVerifierMemoryEntries)
    return invalid_memory("cooldown_until_ms: more than " + std::to_string(kMaxVerifierMemoryEntries) + " entries");

  VerifierMemory m;
  m.seen.reserve(seen->size());
  for (std::size_t i = 0; i < seen->size(); ++i) {
    auto r = remembered_from_json((*seen)[i], "seen[" + std::to_string(i) + "]");
    if (!r) return r.error();
    m.seen.push_back(*r);
  }
  for (auto it = cooldowns->begin(); it != cooldowns->end(); ++it) {
    const std::string at = "cooldown_until_ms[\"" + it.key().substr(0, kMaxCooldownKeyBytes) + "\"]";
    if (it.key().empty() || it.key().size() > kMaxCooldownKeyBytes)
      return invalid_memory("cooldown_until_ms: a key must be 1 to " + std::to_string(kMaxCooldownKeyBytes) + " bytes");
    const auto until = json_read::as_i64(it.value());
    if (!until) return invalid_memory(at + ": expected a signed 64-bit integer");
    m.cooldown_until_ms.emplace(it.key(), *until);
  }
  return m;
}

}  // namespace meshos
