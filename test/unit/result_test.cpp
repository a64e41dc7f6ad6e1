#include <doctest/doctest.h>

#include <memory>
#include <set>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "meshos/result.hpp"

using meshos::Result;
using meshos::SdkError;
using meshos::SdkException;

namespace {

bool starts_with(const std::string& s, const std::string& prefix) {
  return s.size() >= prefix.size() && s.compare(0, prefix.size(), prefix) == 0;
}
bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

Result<int> parse_positive(int v) {
  if (v <= 0) return SdkError{meshos::Errc::invalid_argument, "must be positive"};
  return v;
}

Result<void> check_positive(int v) {
  if (v <= 0) return SdkError{meshos::Errc::invalid_argument, "must be positive"};
  return meshos::ok();
}

}  // namespace

// Mirrors the Rust crate's sdk_error_display_carries_kind_discriminator.
TEST_CASE("sdk_error_display_carries_kind_discriminator") {
  SdkError err{meshos::Errc::register_failed, "host already registered"};
  const std::string formatted = err.to_string();
  CHECK(starts_with(formatted, "<<meshos-sdk-kind:register_failed>>"));
  CHECK(ends_with(formatted, "host already registered"));
  CHECK(formatted == "<<meshos-sdk-kind:register_failed>>host already registered");
}

TEST_CASE("SdkError equality compares kind and message") {
  SdkError a{meshos::Errc::queue_full, "full"};
  CHECK(a == SdkError{meshos::Errc::queue_full, "full"});
  CHECK_FALSE(a == SdkError{meshos::Errc::loop_closed, "full"});
  CHECK_FALSE(a == SdkError{meshos::Errc::queue_full, "other"});
  SdkError empty;
  CHECK(empty.kind.empty());
  CHECK(empty.message.empty());
  CHECK(empty.to_string() == "<<meshos-sdk-kind:>>");
}

TEST_CASE("every catalogue entry's wire form is its name, and reads back as the same code") {
  std::set<std::string> names;
  for (int i = 0; i < static_cast<int>(meshos::Errc::unknown); ++i) {
    const auto code = static_cast<meshos::Errc>(i);
    const std::string name = meshos::to_string(code);
    CHECK_MESSAGE(names.insert(name).second, name << " is in the catalogue twice");
    CHECK_MESSAGE(!name.empty(), "entry " << i << " has no name");
    CHECK(name.find_first_not_of("abcdefghijklmnopqrstuvwxyz_") == std::string::npos);
    CHECK(std::string(meshos::meaning(code)).size() > 10);  // documented, one line each
    REQUIRE(meshos::errc_from_string(name));
    CHECK(*meshos::errc_from_string(name) == code);
    CHECK(SdkError{code, "m"}.code() == code);
  }
  // The wire strings earlier versions sent are still what these codes write.
  CHECK(std::string(meshos::to_string(meshos::Errc::loop_closed)) == "loop_closed");
  CHECK(std::string(meshos::to_string(meshos::Errc::invalid_config)) == "invalid_config");
  CHECK(std::string(meshos::to_string(meshos::Errc::ice_cooldown_active)) == "ice_cooldown_active");
  CHECK(SdkError{meshos::Errc::queue_full, "full"}.to_string() == "<<meshos-sdk-kind:queue_full>>full");
}

TEST_CASE("an error from outside keeps a kind this build does not know, and its code says unknown") {
  const auto newer = SdkError::from_wire("quota_exceeded", "over the quota");
  CHECK(newer.kind == "quota_exceeded");
  CHECK(newer.code() == meshos::Errc::unknown);
  CHECK(newer.to_string() == "<<meshos-sdk-kind:quota_exceeded>>over the quota");
  CHECK_FALSE(meshos::errc_from_string("quota_exceeded"));
  CHECK(SdkError::from_wire("timeout", "slow").code() == meshos::Errc::timeout);
  const auto framed = SdkError{meshos::Errc::read_failed, "no such file"}.in_context("[node] key-file: ");
  CHECK(framed.code() == meshos::Errc::read_failed);
  CHECK(framed.message == "[node] key-file: no such file");
}

TEST_CASE("Result<T> holding a value") {
  Result<int> r = parse_positive(7);
  CHECK(static_cast<bool>(r));
  CHECK(r.has_value());
  CHECK(r.value() == 7);
  CHECK(*r == 7);
  CHECK_THROWS_AS(static_cast<void>(r.error()), std::logic_error);
}

TEST_CASE("Result<T> holding an error") {
  Result<int> r = parse_positive(-1);
  CHECK_FALSE(static_cast<bool>(r));
  CHECK_FALSE(r.has_value());
  CHECK(r.error() == SdkError{meshos::Errc::invalid_argument, "must be positive"});
}

TEST_CASE("Result<T>::value() on an error throws SdkException carrying the error") {
  Result<int> r = parse_positive(0);
  try {
    static_cast<void>(r.value());
    FAIL("value() did not throw");
  } catch (const SdkException& e) {
    CHECK(e.error() == SdkError{meshos::Errc::invalid_argument, "must be positive"});
    CHECK(std::string(e.what()) == "<<meshos-sdk-kind:invalid_argument>>must be positive");
  }
  const Result<int>& cr = r;
  CHECK_THROWS_AS(static_cast<void>(cr.value()), SdkException);
  CHECK_THROWS_AS(static_cast<void>(*r), SdkException);
  CHECK_THROWS_AS(static_cast<void>(std::move(r).value()), SdkException);
}

TEST_CASE("SdkException is a std::runtime_error") {
  CHECK(std::is_base_of<std::runtime_error, SdkException>::value);
}

TEST_CASE("Result<T> operator-> reaches the value's members and can mutate it") {
  Result<std::string> r = std::string("abc");
  CHECK(r->size() == 3);
  r->push_back('d');
  CHECK(r.value() == "abcd");
  const Result<std::string>& cr = r;
  CHECK(cr->size() == 4);
  Result<std::string> err = SdkError{meshos::Errc::not_found, "gone"};
  CHECK_THROWS_AS(static_cast<void>(err->size()), SdkException);
}

TEST_CASE("Result<T> rvalue value() moves move-only values out") {
  Result<std::unique_ptr<int>> r = std::make_unique<int>(5);
  std::unique_ptr<int> p = std::move(r).value();
  REQUIRE(p != nullptr);
  CHECK(*p == 5);
}

TEST_CASE("Result<T> can hold a value type that is itself a container") {
  Result<std::vector<int>> r = std::vector<int>{1, 2, 3};
  REQUIRE(r);
  CHECK(r->size() == 3);
  r.value().push_back(4);
  CHECK(r.value() == std::vector<int>{1, 2, 3, 4});
}

TEST_CASE("Result<void> success") {
  Result<void> r = check_positive(3);
  CHECK(static_cast<bool>(r));
  CHECK(r.has_value());
  CHECK_NOTHROW(r.value());
  CHECK_THROWS_AS(static_cast<void>(r.error()), std::logic_error);
  Result<void> defaulted;
  CHECK(defaulted.has_value());
  CHECK(meshos::ok().has_value());
}

TEST_CASE("Result<void> failure") {
  Result<void> r = check_positive(0);
  CHECK_FALSE(static_cast<bool>(r));
  CHECK_FALSE(r.has_value());
  CHECK(r.error().code() == meshos::Errc::invalid_argument);
  CHECK(r.error().message == "must be positive");
  try {
    r.value();
    FAIL("value() did not throw");
  } catch (const SdkException& e) {
    CHECK(e.error() == r.error());
  }
}

TEST_CASE("Result is not implicitly convertible to bool") {
  CHECK_FALSE(std::is_convertible<Result<int>, bool>::value);
  CHECK_FALSE(std::is_convertible<Result<void>, bool>::value);
  CHECK(std::is_constructible<bool, Result<int>>::value);
}
