#pragma once
// Private helper: std::visit with a set of lambdas.
namespace meshos {

template <class... Fs>
struct overloaded : Fs... {
  using Fs::operator()...;
};
template <class... Fs>
overloaded(Fs...) -> overloaded<Fs...>;

}  // namespace meshos
