#pragma once
// Library: meshos_core.
// The signed commits a node knows of, kept so that every node of a cluster applies every commit: what a node
// forwards to its peers, and what it offers a peer that was away (SPEC.md, "The cluster protocol").
#include <cstddef>
#include <cstdint>
#include <string>
#include <variant>
#include <vector>

#include "meshos/admin.hpp"
#include "meshos/types.hpp"

namespace meshos {

using AnySignedCommit = std::variant<SignedAdminCommit, SignedIceCommit>;

// A commit's name across the cluster: the first 8 bytes (little-endian) of its signature, of its lowest one for
// a break-glass commit. Ed25519 is deterministic, so every copy of a commit has the same digest wherever it
// travelled; two different commits share one only by a 2^-64 accident (the newer is then taken for a copy).
using CommitDigest = std::uint64_t;
CommitDigest commit_digest(const SignedAdminCommit& c);
CommitDigest commit_digest(const SignedIceCommit& c);
CommitDigest commit_digest(const AnySignedCommit& c);

// "admin" or "ice": the request kind the commit travels as (between operators and nodes, and between nodes).
const char* commit_channel(const AnySignedCommit& c);
std::int64_t commit_issued_at_ms(const AnySignedCommit& c);
// The commit as the JSON text an operator sends (admin.hpp's codec).
std::string commit_json_text(const AnySignedCommit& c);

struct KnownCommit {
  std::uint64_t seq = 0;  // the order this node came to know its commits in, from 1
  CommitDigest digest = 0;
  AnySignedCommit commit;
  NodeId relayed_from = 0;  // 0: an operator handed it to this node; else the peer that forwarded it
};

// Commits a node keeps to offer: every signed commit it accepted whose issue time is within the verifier's
// freshness window (older ones no node accepts any more), and the commit deciding the cluster freeze for as
// long as it decides it. At most kCommitLogCapacity; the oldest goes first (counted).
inline constexpr std::size_t kCommitLogCapacity = 256;
// Relayed commits this node refused (stale, signed for another registry...), remembered so that its peers stop
// offering them; the oldest is forgotten first.
inline constexpr std::size_t kRefusedRelayCapacity = 256;

// What a node knows of the cluster's commits: an immutable value the snapshot shares.
struct CommitKnowledge {
  std::vector<KnownCommit> log;       // by seq
  std::vector<CommitDigest> refused;  // oldest first
  bool knows(CommitDigest d) const;
  // Every digest above: what a peer need not offer.
  std::vector<CommitDigest> digests() const;
  // The known commits a peer knowing `theirs` lacks, by seq, at most `max`.
  std::vector<const KnownCommit*> missing_from(const std::vector<CommitDigest>& theirs, std::size_t max) const;
};

}  // namespace meshos
