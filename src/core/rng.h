// Small deterministic RNG (splitmix64 + Box-Muller): the same numbers on every platform and
// standard library, so `init --seed N` is reproducible anywhere.
#pragma once
#include <cmath>
#include <cstdint>

namespace np {

// splitmix64 finaliser: a strong 64-bit mix, used for seeding and hashing.
inline uint64_t splitmix64(uint64_t x) {
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

class Rng {
public:
    explicit Rng(uint64_t seed) : state_(seed) {}
    uint64_t next_u64() {
        uint64_t z = splitmix64(state_);
        state_ += 0x9e3779b97f4a7c15ull;
        return z;
    }
    double uniform() { return double(next_u64() >> 11) * 0x1.0p-53; }  // [0, 1)
    double uniform(double lo, double hi) { return lo + (hi - lo) * uniform(); }
    double normal() {
        double u1 = uniform(), u2 = uniform();
        if (u1 < 1e-300) u1 = 1e-300;
        return std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * M_PI * u2);
    }
    uint64_t state() const { return state_; }
    void set_state(uint64_t s) { state_ = s; }

private:
    uint64_t state_;
};

}  // namespace np
