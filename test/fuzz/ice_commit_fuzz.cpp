// Signed break-glass commits, as a node's gateway reads them and meshos-ctl reads proposal files.
#include "fuzz_support.hpp"
#include "meshos/admin.hpp"
#include "meshos/untrusted_json.hpp"

namespace {
meshos::Result<meshos::SignedIceCommit> commit_from_text(const std::string& text) {
  auto j = meshos::parse_untrusted_json(text, meshos::json_limits::kCommit, meshos::Errc::invalid_commit, "commit");
  if (!j) return j.error();
  return meshos::signed_ice_commit_from_json(*j);
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto commit = commit_from_text(meshos::fuzz::text_of(data, size));
  if (!commit) return 0;
  meshos::fuzz::require_round_trip(*commit, commit_from_text);
  return 0;
}
