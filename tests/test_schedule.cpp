#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "core/error.h"
#include "model/params.h"
#include "tiny_model.h"
#include "train/schedule.h"

using namespace np;

namespace {
LrSchedule wsd(DecayShape shape) {
    LrSchedule s;
    s.base_lr = 1e-3;
    s.total_steps = 1000;  // warmup 50 steps, stable to 799, decay 800..999
    s.shape = shape;
    s.min_lr_ratio = 0.1;
    s.validate();
    return s;
}
}  // namespace

TEST(LrSchedule, WsdWarmupStableDecayBoundaries) {
    for (DecayShape shape : {DecayShape::Linear, DecayShape::Cosine, DecayShape::OneMinusSqrt}) {
        const LrSchedule s = wsd(shape);
        EXPECT_EQ(s.warmup_steps(), 50);
        EXPECT_EQ(s.decay_start(), 800);
        EXPECT_DOUBLE_EQ(s.lr(0), 1e-3 / 50);  // warmup start: (s+1)/W
        EXPECT_DOUBLE_EQ(s.lr(24), 1e-3 * 25 / 50);
        EXPECT_DOUBLE_EQ(s.lr(49), 1e-3);  // warmup end
        EXPECT_DOUBLE_EQ(s.lr(50), 1e-3);  // stable
        EXPECT_DOUBLE_EQ(s.lr(799), 1e-3);
        EXPECT_LT(s.lr(800), 1e-3);          // decay begins
        EXPECT_DOUBLE_EQ(s.lr(999), 1e-4);   // decay end: base * min_lr_ratio
        EXPECT_DOUBLE_EQ(s.lr(5000), 1e-4);  // past the end
        for (int64_t t = 801; t < 1000; t++) EXPECT_LE(s.lr(t), s.lr(t - 1));
    }
    // Mid-decay (progress 1/2 at step 899) for each shape: min + (1-min)*f(1/2).
    EXPECT_DOUBLE_EQ(wsd(DecayShape::Linear).lr(899), 1e-3 * (0.1 + 0.9 * 0.5));
    EXPECT_NEAR(wsd(DecayShape::Cosine).lr(899), 1e-3 * (0.1 + 0.9 * 0.5), 1e-15);
    EXPECT_DOUBLE_EQ(wsd(DecayShape::OneMinusSqrt).lr(899),
                     1e-3 * (0.1 + 0.9 * (1 - std::sqrt(0.5))));
    // A quarter in (step 849): linear 0.75, cosine (1+cos(pi/4))/2, 1-sqrt 0.5.
    EXPECT_DOUBLE_EQ(wsd(DecayShape::Linear).lr(849), 1e-3 * (0.1 + 0.9 * 0.75));
    EXPECT_NEAR(wsd(DecayShape::Cosine).lr(849), 1e-3 * (0.1 + 0.9 * (1 + std::sqrt(0.5)) / 2),
                1e-15);
    EXPECT_DOUBLE_EQ(wsd(DecayShape::OneMinusSqrt).lr(849), 1e-3 * (0.1 + 0.9 * 0.5));
}

TEST(LrSchedule, WarmupFloorNoWarmupAndCosine) {
    LrSchedule s = wsd(DecayShape::Linear);
    s.warmup_start_ratio = 0.2;
    EXPECT_DOUBLE_EQ(s.lr(0), 1e-3 * (0.2 + 0.8 / 50));
    EXPECT_DOUBLE_EQ(s.lr(49), 1e-3);
    s.warmup_frac = 0;
    EXPECT_DOUBLE_EQ(s.lr(0), 1e-3);

    LrSchedule c;
    c.kind = parse_schedule_kind("cosine");
    c.base_lr = 2.0;
    c.total_steps = 100;
    c.warmup_frac = 0.1;  // cosine over steps 10..99
    c.min_lr_ratio = 0.0;
    c.validate();
    EXPECT_DOUBLE_EQ(c.lr(0), 0.2);
    EXPECT_DOUBLE_EQ(c.lr(9), 2.0);
    EXPECT_NEAR(c.lr(54), 1.0, 1e-12);  // progress 45/90
    EXPECT_NEAR(c.lr(99), 0.0, 1e-12);
}

TEST(LrSchedule, ParsingAndValidation) {
    EXPECT_EQ(parse_decay_shape("1-sqrt"), DecayShape::OneMinusSqrt);
    EXPECT_EQ(to_string(DecayShape::Cosine), "cosine");
    EXPECT_THROW(parse_decay_shape("exp"), Error);
    EXPECT_THROW(parse_schedule_kind("step"), Error);
    LrSchedule s = wsd(DecayShape::Linear);
    s.warmup_frac = 0.5;
    s.decay_frac = 0.6;
    EXPECT_THROW(s.validate(), Error);
    s = wsd(DecayShape::Linear);
    s.total_steps = 0;
    EXPECT_THROW(s.validate(), Error);
    s = wsd(DecayShape::Linear);
    s.min_lr_ratio = 2;
    EXPECT_THROW(s.validate(), Error);
}

TEST(SeqCurriculum, LengthsSwitchAtTheirFractions) {
    const SeqCurriculum c = SeqCurriculum::parse("256@0,512@0.2,1024@0.6");
    ASSERT_EQ(c.entries().size(), 3u);
    EXPECT_EQ(c.max_len(), 1024);
    EXPECT_EQ(c.at_step(0, 100), 256);
    EXPECT_EQ(c.at_step(19, 100), 256);
    EXPECT_EQ(c.at_step(20, 100), 512);
    EXPECT_EQ(c.at_step(59, 100), 512);
    EXPECT_EQ(c.at_step(60, 100), 1024);
    EXPECT_EQ(c.at_step(99, 100), 1024);
    EXPECT_EQ(c.at_step(2, 7), 512);  // round(0.2*7) = 1, round(0.6*7) = 4
    EXPECT_EQ(c.at_step(0, 7), 256);
    EXPECT_EQ(c.at_step(4, 7), 1024);
    EXPECT_EQ(SeqCurriculum(128).at_step(50, 100), 128);
    for (const char* bad : {"", "512@0.2", "256@0,128@0", "256@0,512@0.5,1024@0.4", "abc",
                            "256@1.5", "256", "0@0", "256@0,", "256@0x", "-5@0"}) {
        try {
            SeqCurriculum::parse(bad, "--seq-curriculum");
            ADD_FAILURE() << "accepted \"" << bad << "\"";
        } catch (const Error& e) {
            EXPECT_NE(std::string(e.what()).find("--seq-curriculum"), std::string::npos);
        }
    }
}

TEST(Lerac, MultipliersRiseFromDepthScaledStartToOne) {
    LeracSchedule l;
    l.start_decades = 2.0;
    l.end_step = 100;
    l.validate();
    // 3 layers: depths 0 (embedding) .. 4 (final norm, head).
    EXPECT_DOUBLE_EQ(l.multiplier(0, 4, 0), 1.0);
    EXPECT_NEAR(l.multiplier(1, 4, 0), std::pow(10.0, -0.5), 1e-15);
    EXPECT_NEAR(l.multiplier(4, 4, 0), 0.01, 1e-15);
    EXPECT_NEAR(l.multiplier(4, 4, 50), 0.1, 1e-15);  // exponential: halfway in log space
    EXPECT_NEAR(l.multiplier(2, 4, 75), std::pow(10.0, -0.25), 1e-15);
    EXPECT_DOUBLE_EQ(l.multiplier(4, 4, 100), 1.0);
    EXPECT_DOUBLE_EQ(l.multiplier(4, 4, 1000), 1.0);
    for (int64_t t = 0; t < 100; t += 7)
        for (int d = 1; d <= 4; d++) {
            EXPECT_LT(l.multiplier(d, 4, t), l.multiplier(d - 1, 4, t));  // deeper starts lower
            EXPECT_GT(l.multiplier(d, 4, t + 1), l.multiplier(d, 4, t));  // and rises
        }
    EXPECT_DOUBLE_EQ(LeracSchedule{}.multiplier(4, 4, 0), 1.0);  // end_step 0: off

    const ModelConfig cfg = test::tiny_config("MAM", "swiglu", false);
    const ParamLayout layout = make_param_layout(cfg);
    std::vector<float> m(layout.specs.size());
    l.multipliers(layout, cfg.n_layers, 0, m);
    auto at = [&](const std::string& name) {
        for (size_t i = 0; i < layout.specs.size(); i++)
            if (layout.specs[i].name == name) return m[i];
        ADD_FAILURE() << name;
        return 0.0f;
    };
    EXPECT_EQ(at("embed.weight"), 1.0f);
    EXPECT_FLOAT_EQ(at("layers.0.mixer_norm.weight"), float(std::pow(10.0, -0.5)));
    EXPECT_FLOAT_EQ(at("layers.1.mla.q_proj.weight"), 0.1f);
    EXPECT_FLOAT_EQ(at("layers.2.ffn.down.weight"), float(std::pow(10.0, -1.5)));
    EXPECT_FLOAT_EQ(at("final_norm.weight"), 0.01f);
    EXPECT_FLOAT_EQ(at("lm_head.weight"), 0.01f);
    l.multipliers(layout, cfg.n_layers, 100, m);
    for (float x : m) EXPECT_EQ(x, 1.0f);
    std::vector<float> wrong(3);
    EXPECT_THROW(l.multipliers(layout, cfg.n_layers, 0, wrong), Error);
}

TEST(Swa, ScheduleAndAverageEqualsMeanOfSnapshots) {
    Swa swa(6, 0.5, 3);
    EXPECT_FALSE(swa.due(9, 20));
    EXPECT_TRUE(swa.due(10, 20));
    EXPECT_FALSE(swa.due(11, 20));
    EXPECT_TRUE(swa.due(13, 20));
    EXPECT_TRUE(swa.due(19, 20));
    std::mt19937 rng(11);
    std::normal_distribution<float> d(0.0f, 3.0f);
    std::vector<std::vector<float>> snaps(9, std::vector<float>(6));
    for (auto& s : snaps)
        for (auto& x : s) x = d(rng);
    std::string mid;
    for (size_t k = 0; k < snaps.size(); k++) {
        swa.update(snaps[k]);
        if (k == 4) mid = swa.serialize();
    }
    EXPECT_EQ(swa.count(), 9);
    for (size_t i = 0; i < 6; i++) {
        double mean = 0;
        for (const auto& s : snaps) mean += s[i];
        mean /= double(snaps.size());
        EXPECT_NEAR(swa.average()[i], mean, 1e-5 * (1 + std::fabs(mean)));
    }
    // Restored mid-way, it continues to the same bits.
    Swa resumed(6, 0.5, 3);
    resumed.deserialize(mid);
    EXPECT_EQ(resumed.count(), 5);
    for (size_t k = 5; k < snaps.size(); k++) resumed.update(snaps[k]);
    EXPECT_EQ(resumed.average(), swa.average());

    Swa other(7, 0.5, 3);
    EXPECT_THROW(other.deserialize(mid), Error);
    std::string bad = mid;
    bad[30] ^= 4;
    EXPECT_THROW(resumed.deserialize(bad), Error);
    EXPECT_THROW(resumed.deserialize(std::string_view(mid).substr(0, 20)), Error);
    EXPECT_THROW(swa.update(std::vector<float>(5)), Error);
    EXPECT_THROW(Swa(6, 1.5, 3), Error);
    EXPECT_THROW(Swa(6, 0.5, 0), Error);
}
