// Training memory planner: exact parameter-state bytes, activations vs measured heap growth.
#include <gtest/gtest.h>
#include <malloc.h>

#include "core/error.h"
#include "model/model.h"
#include "model/params.h"
#include "tiny_model.h"
#include "train/memory_plan.h"

namespace np {
namespace {

TEST(MemoryPlan, ParamStateBytesExactForNano) {
    const ModelConfig cfg = ModelConfig::preset("nano");
    const ParamCounts n = count_params(cfg);
    PlanOptions o;
    o.batch = 2, o.seq = 128;
    MemoryPlan p = plan_memory(cfg, o);
    EXPECT_EQ(p.params, n.total);
    EXPECT_EQ(p.weights, 4 * n.total);
    EXPECT_EQ(p.gradients, 4 * n.total);
    EXPECT_EQ(p.optimizer, 8 * n.total);
    o.bf16 = true;
    EXPECT_EQ(plan_memory(cfg, o).weights, 6 * n.total);
    o.adam8bit = true;
    int64_t want = 0;
    for (const ParamSpec& s : make_param_layout(cfg).specs)
        want += s.numel >= 4096 ? 2 * s.numel + 8 * ((s.numel + 255) / 256) : 8 * s.numel;
    EXPECT_EQ(plan_memory(cfg, o).optimizer, want);
}

size_t heap_in_use() {
    struct mallinfo2 mi = mallinfo2();
    return mi.uordblks + mi.hblkhd;
}

#if defined(__SANITIZE_ADDRESS__)  // GCC
#define NP_ASAN 1
#elif defined(__has_feature)  // clang
#if __has_feature(address_sanitizer)
#define NP_ASAN 1
#endif
#endif

TEST(MemoryPlan, ActivationsMatchMeasuredHeapGrowth) {
#ifdef NP_ASAN
    GTEST_SKIP() << "AddressSanitizer replaces malloc: mallinfo2 does not see its heap";
#endif
    const ModelConfig cfg = test::tiny_config("MMAM", "swiglu", false);
    const int B = 4, T = 512;
    const auto tokens = test::tiny_tokens(B, T, cfg.vocab_size, 7);
    Model<float> model(cfg);
    model.init_random(1);
    const size_t before = heap_in_use();
    model.loss(tokens, {}, B, T, true);
    const double measured = double(heap_in_use()) - double(before);
    PlanOptions o;
    o.batch = B, o.seq = T;
    const MemoryPlan p = plan_memory(cfg, o);
    // Everything the first backward allocates besides the gradients is the planner's activations,
    // backward scratch, quantised weight copies and logits chunk.
    const double est = double(p.activations + p.bwd_scratch + p.quant_cache + p.logits);
    const double got = measured - double(p.gradients);
    std::printf("measured %.0f B, estimated %.0f B (ratio %.3f)\n", got, est, got / est);
    EXPECT_GT(got, 0.7 * est) << "measured " << got << " estimated " << est;
    EXPECT_LT(got, 1.3 * est) << "measured " << got << " estimated " << est;
}

TEST(MemoryPlan, RecomputeAndAdam8bitReduceTotal) {
    const ModelConfig cfg = ModelConfig::preset("small");
    PlanOptions o;
    o.batch = 4, o.seq = 1024;
    const MemoryPlan base = plan_memory(cfg, o);
    PlanOptions r = o;
    r.recompute = true;
    PlanOptions a = o;
    a.adam8bit = true;
    EXPECT_LT(plan_memory(cfg, r).total, base.total);
    EXPECT_LT(plan_memory(cfg, r).activations, base.activations / 2);
    EXPECT_LT(plan_memory(cfg, a).total, base.total);
    EXPECT_LT(plan_memory(cfg, a).optimizer, base.optimizer / 3);
    PlanOptions o2 = o;
    o2.batch = 8;
    EXPECT_GT(plan_memory(cfg, o2).activations, base.activations);
}

TEST(MemoryPlan, ParseSizes) {
    EXPECT_EQ(parse_size("12GiB"), int64_t(12) << 30);
    EXPECT_EQ(parse_size("12GB"), int64_t(12000000000));
    EXPECT_EQ(parse_size("8000MiB"), int64_t(8000) << 20);
    EXPECT_EQ(parse_size("1.5 g"), int64_t(3) << 29);
    EXPECT_EQ(parse_size("4096"), 4096);
    for (const char* bad : {"", "GiB", "12XB", "1.2.3GB", "-5GB", "0", "abc"}) {
        try {
            parse_size(bad, "--gpu-mem");
            ADD_FAILURE() << "accepted '" << bad << "'";
        } catch (const Error& e) {
            EXPECT_NE(std::string(e.what()).find("--gpu-mem"), std::string::npos) << e.what();
        }
    }
}

TEST(MemoryPlan, Elleci15bAt12GiB) {
    const ModelConfig cfg = ModelConfig::preset("elleci-1.5b");
    PlanOptions o;
    o.batch = 1, o.seq = 1024, o.adam8bit = o.recompute = o.bf16 = true;
    const int64_t budget = parse_size("12GiB");
    const MemoryPlan p = plan_memory(cfg, o);
    const std::string text = render_plan(cfg, o, p, budget);
    std::printf("%s", text.c_str());
    EXPECT_GT(p.params, int64_t(1.3e9));
    EXPECT_LT(p.params, int64_t(1.8e9));
    EXPECT_NE(text.find(p.total <= budget ? "fits in" : "does not fit in"), std::string::npos);
    EXPECT_NE(text.find("suggestion"), std::string::npos);
    EXPECT_EQ(largest_fitting_batch(cfg, o, budget) > 0, p.total <= budget);
}

}  // namespace
}  // namespace np
