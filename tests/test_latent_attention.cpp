// The MLA latent attention kernel (kernels/cpu/latent_attention.h) against the plain two-pass
// loop, and its independence from how heads are grouped (what makes chunked prefill and
// token-by-token decode agree bit for bit).
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "kernels/cpu/latent_attention.h"

using namespace np::kern;

namespace {

struct Case {
    std::vector<int8_t> c;
    std::vector<float> inv_s, kr, qt, qr;
    LatentCache cache() const { return {c.data(), inv_s.data(), kr.data(), r, dr}; }
    int r, dr;
};

Case make_case(int n, int nh, int r, int dr, float q_scale, std::mt19937& rng) {
    Case k;
    k.r = r;
    k.dr = dr;
    std::uniform_int_distribution<int> i8(-127, 127);
    std::normal_distribution<float> nd(0.f, 1.f);
    std::uniform_real_distribution<float> us(0.002f, 0.02f);
    k.c.resize(size_t(n) * r);
    for (auto& v : k.c) v = int8_t(i8(rng));
    k.inv_s.resize(size_t(n));
    for (auto& v : k.inv_s) v = us(rng);
    k.kr.resize(size_t(n) * dr);
    for (auto& v : k.kr) v = nd(rng);
    k.qt.resize(size_t(nh) * r);
    for (auto& v : k.qt) v = q_scale * nd(rng);
    k.qr.resize(size_t(nh) * dr);
    for (auto& v : k.qr) v = q_scale * nd(rng);
    return k;
}

}  // namespace

TEST(LatentAttention, MatchesTwoPassReference) {
    std::mt19937 rng(21);
    LatentAttentionScratch scratch;
    // Cache lengths around the block size and the 4-row score tiles; r and dr with and without
    // 8-lane tails; sharp (q_scale 8) and flat (0.1) softmaxes.
    for (int n : {1, 3, 4, 5, 63, 64, 65, 130, 300})
        for (auto [r, dr] : {std::pair{128, 32}, std::pair{12, 4}, std::pair{72, 0}})
            for (float q_scale : {0.1f, 8.f}) {
                const int nh = 3;
                const Case k = make_case(n, nh, r, dr, q_scale, rng);
                std::vector<float> fast(size_t(nh) * r), ref(fast.size());
                latent_attention(fast.data(), k.qt.data(), k.qr.data(), nh, n, k.cache(), 0.125f,
                                 scratch);
                latent_attention_reference(ref.data(), k.qt.data(), k.qr.data(), nh, n, k.cache(),
                                           0.125f);
                // c̄ is a convex combination of latents |c/s| <= 127 * 0.02.
                for (size_t i = 0; i < ref.size(); i++)
                    ASSERT_NEAR(fast[i], ref[i], 2e-5f * 2.54f + 1e-4f * std::fabs(ref[i]))
                        << "n=" << n << " r=" << r << " dr=" << dr << " q=" << q_scale
                        << " i=" << i;
            }
}

TEST(LatentAttention, HeadsGivenAloneOrTogetherGiveTheSameBits) {
    std::mt19937 rng(22);
    const int n = 200, nh = 5, r = 40, dr = 8;
    const Case k = make_case(n, nh, r, dr, 2.f, rng);
    LatentAttentionScratch scratch;
    std::vector<float> all(size_t(nh) * r), one(static_cast<size_t>(r));
    latent_attention(all.data(), k.qt.data(), k.qr.data(), nh, n, k.cache(), 0.2f, scratch);
    for (int h = 0; h < nh; h++) {
        latent_attention(one.data(), k.qt.data() + size_t(h) * r, k.qr.data() + size_t(h) * dr, 1,
                         n, k.cache(), 0.2f, scratch);
        for (int i = 0; i < r; i++) ASSERT_EQ(one[size_t(i)], all[size_t(h) * r + i]) << h;
    }
}

TEST(LatentAttention, AbsorbedKvUpHalvesMatchPlainLoops) {
    // Row and column counts around the 8-row / 64-column tiles and their tails.
    std::mt19937 rng(23);
    std::uniform_int_distribution<int> tern(-1, 1);
    std::normal_distribution<float> nd(0.f, 1.f);
    for (auto [rows, r] :
         {std::pair{64, 128}, std::pair{13, 72}, std::pair{8, 12}, std::pair{3, 5}}) {
        std::vector<int8_t> W(size_t(rows) * r);
        for (auto& v : W) v = int8_t(tern(rng));
        std::vector<float> in_q(static_cast<size_t>(rows)), in_c(static_cast<size_t>(r));
        for (auto& v : in_q) v = nd(rng);
        for (auto& v : in_c) v = nd(rng);
        std::vector<float> qt(static_cast<size_t>(r)), qt_ref(qt.size());
        absorb_query(qt.data(), in_q.data(), W.data(), rows, r, 0.37f);
        absorb_query_reference(qt_ref.data(), in_q.data(), W.data(), rows, r, 0.37f);
        for (int k = 0; k < r; k++)
            ASSERT_NEAR(qt[size_t(k)], qt_ref[size_t(k)], 1e-5f * float(rows)) << rows << "x" << r;
        std::vector<float> o(static_cast<size_t>(rows)), o_ref(o.size());
        absorb_output(o.data(), in_c.data(), W.data(), rows, r, 0.37f);
        absorb_output_reference(o_ref.data(), in_c.data(), W.data(), rows, r, 0.37f);
        for (int i = 0; i < rows; i++)
            ASSERT_NEAR(o[size_t(i)], o_ref[size_t(i)], 1e-5f * float(r)) << rows << "x" << r;
    }
}
