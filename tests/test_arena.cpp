// The arena of named tensors (backend/arena.h): layout, sharing, reuse of the block, errors; and a
// module's activations planned in it.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>

#include "backend/arena.h"
#include "core/error.h"
#include "cpu_backend.h"
#include "model/mamba.h"
#include "tiny_model.h"

using namespace np;

namespace {

// Counts what the arena asks of the backend's memory.
struct CountingMemory : DeviceMemory {
    int allocs = 0, releases = 0;
    void* alloc(size_t bytes) override {
        allocs++;
        return test::cpu<float>().alloc(bytes);
    }
    void release(void* p) override {
        if (p) releases++;
        test::cpu<float>().release(p);
    }
    void upload(void* dst, const void* src, size_t n) override {
        std::copy_n((const char*)src, n, (char*)dst);
    }
    void download(void* dst, const void* src, size_t n) override {
        std::copy_n((const char*)src, n, (char*)dst);
    }
};

bool overlap(const void* a, size_t na, const void* b, size_t nb) {
    const auto x = reinterpret_cast<uintptr_t>(a), y = reinterpret_cast<uintptr_t>(b);
    return x < y + nb && y < x + na;
}

}  // namespace

TEST(Arena, PlacesTensorsAlignedApartAndSharedNamesTogether) {
    CountingMemory mem;
    Arena arena(mem);
    float *a = nullptr, *b = nullptr, *s1 = nullptr, *s2 = nullptr;
    int32_t* idx = nullptr;
    arena.add("a", 3, a);
    arena.add("idx", 17, idx);
    arena.add_shared("scratch", 100, s1);
    arena.add("b", 65, b);
    arena.add_shared("scratch", 300, s2);  // the larger use sizes the region
    EXPECT_EQ(arena.planned_bytes(), size_t(64 + 128 + 1216 + 320));
    arena.allocate();
    EXPECT_EQ(mem.allocs, 1);
    for (const void* p : {(const void*)a, (const void*)b, (const void*)s1, (const void*)idx})
        EXPECT_EQ(reinterpret_cast<uintptr_t>(p) % 64, 0u);
    EXPECT_EQ(s1, s2);
    EXPECT_FALSE(overlap(a, 3 * 4, idx, 17 * 4));
    EXPECT_FALSE(overlap(a, 3 * 4, b, 65 * 4));
    EXPECT_FALSE(overlap(b, 65 * 4, s1, 300 * 4));
    EXPECT_FALSE(overlap(idx, 17 * 4, s1, 300 * 4));
    // Every byte of the plan is writable.
    std::fill(s1, s1 + 300, 1.0f);
    std::fill(b, b + 65, 2.0f);
    EXPECT_EQ(s1[299], 1.0f);

    EXPECT_THROW(arena.add("a", 1, a), Error);  // a name planned twice (not shared)
}

TEST(Arena, ReusesItsBlockUnlessThePlanGrowsOrMustFit) {
    CountingMemory mem;
    {
        Arena arena(mem);
        float* x = nullptr;
        arena.add("x", 1000, x);
        arena.allocate();
        const float* first = x;
        arena.clear();
        arena.add("x", 10, x);
        arena.allocate();  // smaller: the same block
        EXPECT_EQ(mem.allocs, 1);
        EXPECT_EQ(x, first);
        EXPECT_EQ(arena.allocated_bytes(), size_t(4000 + 32) / 64 * 64);
        arena.allocate(/*fit=*/true);  // smaller and asked to fit: a block of its own size
        EXPECT_EQ(mem.allocs, 2);
        EXPECT_EQ(arena.allocated_bytes(), size_t(64));
        arena.clear();
        arena.add("x", 5000, x);
        arena.allocate();  // larger: a new block
        EXPECT_EQ(mem.allocs, 3);
        EXPECT_EQ(mem.releases, 2);
    }
    EXPECT_EQ(mem.releases, 3);  // the last block goes with the arena
}

// Two Mamba layers planned into one arena: each keeps its own activations, the backward's scratch
// exists once.
TEST(Arena, LayersShareTheBackwardScratch) {
    const ModelConfig cfg = test::tiny_config("MM", "swiglu", false);
    const int B = 2, T = 9;
    Arena one(test::cpu<float>()), two(test::cpu<float>());
    MambaActs<float> a0, a1, b0;
    plan_mamba_acts(one, "layers.0.", B, T, cfg.mamba, b0);
    plan_mamba_acts(two, "layers.0.", B, T, cfg.mamba, a0);
    plan_mamba_acts(two, "layers.1.", B, T, cfg.mamba, a1);
    size_t scratch = 0, kept = 0;
    for (const Arena::Entry& e : one.entries()) {
        (e.name.rfind("mamba.", 0) == 0 ? scratch : kept) += (e.bytes + 63) / 64 * 64;
    }
    EXPECT_GT(scratch, 0u);
    EXPECT_EQ(two.planned_bytes(), 2 * kept + scratch);
    two.allocate();
    EXPECT_EQ(a0.dzxbcdt, a1.dzxbcdt);
    EXPECT_NE(a0.zxbcdt, a1.zxbcdt);
    for (const Arena::Entry& e : two.entries())
        EXPECT_EQ(int(e.aim.size()), e.name.rfind("mamba.", 0) == 0 ? 2 : 1) << e.name;
}
