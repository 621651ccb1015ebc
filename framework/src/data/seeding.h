// Seeds and shuffles that give the same numbers on every machine and standard
// library (std::shuffle and the std distributions do not).
#pragma once

#include <cstdint>
#include <utility>
#include <vector>

namespace cerebra::detail {

inline std::uint64_t splitmix64(std::uint64_t& state) {
  std::uint64_t z = (state += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

// One 64-bit value from several, order-sensitive.
inline std::uint64_t mix_seed(std::initializer_list<std::uint64_t> parts) {
  std::uint64_t state = 0x6a09e667f3bcc909ull;
  std::uint64_t out = 0;
  for (std::uint64_t part : parts) {
    state ^= part;
    out = splitmix64(state);
    state = out;
  }
  return out;
}

// Uniform in [0, bound); the modulo bias is below 2^-40 for the sizes seen here.
inline std::uint64_t bounded(std::uint64_t& state, std::uint64_t bound) {
  return bound == 0 ? 0 : splitmix64(state) % bound;
}

// Fisher-Yates with our own generator.
template <class T>
void portable_shuffle(std::vector<T>& items, std::uint64_t seed) {
  std::uint64_t state = seed;
  for (std::size_t i = items.size(); i > 1; --i) {
    std::size_t j = static_cast<std::size_t>(bounded(state, i));
    std::swap(items[i - 1], items[j]);
  }
}

}  // namespace cerebra::detail
