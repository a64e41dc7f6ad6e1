#pragma once
// Library: meshos_core.
// UTF-8 checks for text from outside (daemon metadata, C callers) and cuts that keep text valid: whatever ends
// up in JSON must be UTF-8 (nlohmann refuses to write a broken sequence).
#include <cstddef>
#include <string>
#include <string_view>

namespace meshos {

// Well-formed UTF-8: no overlong forms, no UTF-16 surrogates, nothing beyond U+10FFFF, no cut sequence.
bool is_valid_utf8(std::string_view text);

// The first `max_bytes` of `text` at most, cut back to the start of a character.
std::string utf8_prefix(std::string_view text, std::size_t max_bytes);

}  // namespace meshos
