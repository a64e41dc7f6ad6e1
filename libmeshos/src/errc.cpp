#include "meshos/errc.hpp"

#include <array>

namespace meshos {

namespace {

struct Entry {
  Errc code;
  const char* name;
  const char* meaning;
};

constexpr std::array kCatalogue = {
#define MESHOS_ERRC_ENTRY(name, meaning) Entry{Errc::name, #name, meaning},
    MESHOS_ERRC_CATALOGUE(MESHOS_ERRC_ENTRY)
#undef MESHOS_ERRC_ENTRY
};

// The catalogue is in enum order, so an entry is found by its code's value.
constexpr bool in_enum_order() {
  for (std::size_t i = 0; i < kCatalogue.size(); ++i)
    if (static_cast<std::size_t>(kCatalogue[i].code) != i) return false;
  return static_cast<std::size_t>(Errc::unknown) == kCatalogue.size();
}
static_assert(in_enum_order(), "Errc and its catalogue must list the same kinds in the same order");

}  // namespace

const char* to_string(Errc code) {
  const auto i = static_cast<std::size_t>(code);
  return i < kCatalogue.size() ? kCatalogue[i].name : "unknown";
}

const char* meaning(Errc code) {
  const auto i = static_cast<std::size_t>(code);
  return i < kCatalogue.size() ? kCatalogue[i].meaning : "a kind this build does not know";
}

std::optional<Errc> errc_from_string(std::string_view kind) {
  for (const auto& e : kCatalogue)
    if (kind == e.name) return e.code;
  return std::nullopt;
}

}  // namespace meshos
