#include "meshos/replication.hpp"

#include <algorithm>
#include <set>

#include <nlohmann/json.hpp>

namespace meshos {

namespace {

CommitDigest digest_of(const Signature& s) {
  CommitDigest d = 0;
  for (std::size_t i = 0; i < sizeof d; ++i) d |= static_cast<CommitDigest>(s[i]) << (8 * i);
  return d;
}

}  // namespace

CommitDigest commit_digest(const SignedAdminCommit& c) { return digest_of(c.signature.signature); }

// The lowest signature, so that the order the signers' signatures were collected in does not matter.
CommitDigest commit_digest(const SignedIceCommit& c) {
  if (c.signatures.empty()) return 0;
  auto lowest = std::min_element(c.signatures.begin(), c.signatures.end(),
                                 [](const OperatorSignature& a, const OperatorSignature& b) {
                                   return a.signature < b.signature;
                                 });
  return digest_of(lowest->signature);
}

CommitDigest commit_digest(const AnySignedCommit& c) {
  return std::visit([](const auto& x) { return commit_digest(x); }, c);
}

const char* commit_channel(const AnySignedCommit& c) {
  return std::holds_alternative<SignedAdminCommit>(c) ? "admin" : "ice";
}

std::int64_t commit_issued_at_ms(const AnySignedCommit& c) {
  return std::visit([](const auto& x) { return x.issued_at_ms; }, c);
}

std::string commit_json_text(const AnySignedCommit& c) {
  return std::visit([](const auto& x) { return nlohmann::json(x).dump(); }, c);
}

bool CommitKnowledge::knows(CommitDigest d) const {
  return std::any_of(log.begin(), log.end(), [&](const KnownCommit& k) { return k.digest == d; }) ||
         std::find(refused.begin(), refused.end(), d) != refused.end();
}

std::vector<CommitDigest> CommitKnowledge::digests() const {
  std::vector<CommitDigest> all;
  all.reserve(log.size() + refused.size());
  for (const auto& k : log) all.push_back(k.digest);
  all.insert(all.end(), refused.begin(), refused.end());
  return all;
}

std::vector<const KnownCommit*> CommitKnowledge::missing_from(const std::vector<CommitDigest>& theirs,
                                                              std::size_t max) const {
  const std::set<CommitDigest> known(theirs.begin(), theirs.end());
  std::vector<const KnownCommit*> missing;
  for (const auto& k : log) {
    if (missing.size() >= max) break;
    if (known.count(k.digest) == 0) missing.push_back(&k);
  }
  return missing;
}

}  // namespace meshos
