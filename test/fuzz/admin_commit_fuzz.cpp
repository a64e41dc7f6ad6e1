// Signed admin commits and {"unsigned": event} bodies, as a node's gateway reads them (requests.cpp).
#include "fuzz_support.hpp"
#include "meshos/admin.hpp"
#include "meshos/untrusted_json.hpp"

namespace {
meshos::Result<meshos::SignedAdminCommit> commit_from_text(const std::string& text) {
  auto j = meshos::parse_untrusted_json(text, meshos::json_limits::kCommit, meshos::Errc::invalid_commit, "commit");
  if (!j) return j.error();
  return meshos::signed_admin_commit_from_json(*j);
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string text = meshos::fuzz::text_of(data, size);
  auto j = meshos::parse_untrusted_json(text, meshos::json_limits::kCommit, meshos::Errc::invalid_commit, "commit");
  if (!j) return 0;
  if (j->is_object() && j->contains("unsigned")) {
    auto event = meshos::admin_event_from_json((*j)["unsigned"]);
    if (event) {
      auto again = meshos::admin_event_from_json(nlohmann::json(*event));
      meshos::fuzz::require(again && nlohmann::json(*again) == nlohmann::json(*event),
                            "an admin event reads back as another event");
    }
  }
  auto commit = meshos::signed_admin_commit_from_json(*j);
  if (!commit) return 0;
  meshos::fuzz::require_round_trip(*commit, commit_from_text);
  return 0;
}
