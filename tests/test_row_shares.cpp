// RowShares (kernels/cpu/row_shares.h): every row is handed out exactly once, whoever takes it,
// owners walk their share front to back, and chunk boundaries respect the alignment.
#include <gtest/gtest.h>
#include <omp.h>

#include <atomic>
#include <random>
#include <vector>

#include "core/error.h"
#include "kernels/cpu/row_shares.h"

using np::kern::RowShares;

namespace {

// Runs `team` threads over shares planned for `planned`; returns how often each row was taken.
std::vector<int> claim_counts(RowShares& s, int rows, int team) {
    std::vector<std::atomic<int>> hits(static_cast<size_t>(rows));
#pragma omp parallel num_threads(team)
    {
        const int me = omp_get_thread_num();
        int b = 0, e = 0;
        while (s.take_front(me, b, e) || s.steal(me, b, e))
            for (int r = b; r < e; r++) hits[size_t(r)].fetch_add(1);
    }
    std::vector<int> out(static_cast<size_t>(rows));
    for (int r = 0; r < rows; r++) out[size_t(r)] = hits[size_t(r)].load();
    return out;
}

}  // namespace

TEST(RowShares, OwnerWalksItsShareThenStealsTheRest) {
    RowShares s;
    s.reset(100, 2, 4, 8);  // shares [0, 52) and [52, 100)
    int b = 0, e = 0, next = 0;
    while (s.take_front(0, b, e)) {
        EXPECT_EQ(b, next);  // contiguous, front to back
        EXPECT_EQ(b % 4, 0);
        EXPECT_GE(e - b, std::min(8, 52 - b));
        next = e;
    }
    EXPECT_EQ(next, 52);
    // Thread 0 now takes the other share from its back, in halves, down to its front.
    int back = 100, steals = 0;
    while (s.steal(0, b, e)) {
        EXPECT_EQ(e, back);
        EXPECT_TRUE(b % 4 == 0 || b == 52) << b;
        back = b;
        steals++;
    }
    EXPECT_EQ(back, 52);
    EXPECT_GT(steals, 1);  // halves, not the whole share at once
    EXPECT_FALSE(s.take_front(1, b, e));
}

TEST(RowShares, EveryRowExactlyOnceUnderContention) {
    std::mt19937 rng(11);
    for (int trial = 0; trial < 40; trial++) {
        const int rows = 1 + int(rng() % 5000), threads = 1 + int(rng() % 4);
        const int align = trial % 2 ? 4 : 1, grain = 1 + int(rng() % 16);
        RowShares s;
        s.reset(rows, threads, align, grain);
        const auto counts = claim_counts(s, rows, threads);
        for (int r = 0; r < rows; r++)
            ASSERT_EQ(counts[size_t(r)], 1)
                << "rows " << rows << " threads " << threads << " row " << r;
    }
}

TEST(RowShares, SmallerTeamThanPlannedStillCoversEverything) {
    // A nested region runs with one thread: the shares planned for the others are stolen.
    RowShares s;
    s.reset(1000, 4, 4, 16);
    const auto counts = claim_counts(s, 1000, 1);
    for (int c : counts) ASSERT_EQ(c, 1);
    s.reset(777, 4, 1, 3);
    const auto counts2 = claim_counts(s, 777, 2);
    for (int c : counts2) ASSERT_EQ(c, 1);
}

TEST(RowShares, ParallelForCoversRowsOnceAndRejectsBadArguments) {
    for (bool parallel : {false, true}) {
        std::vector<std::atomic<int>> hits(3001);
        np::kern::parallel_for_shared_rows(3001, parallel, 4, 10, [&](int b, int e) {
            for (int r = b; r < e; r++) hits[size_t(r)].fetch_add(1);
        });
        for (auto& h : hits) ASSERT_EQ(h.load(), 1);
    }
    int calls = 0;
    np::kern::parallel_for_shared_rows(0, false, 1, 1, [&](int, int) { calls++; });
    EXPECT_EQ(calls, 0);
    RowShares s;
    EXPECT_THROW(s.reset(10, 0, 1, 1), np::Error);
    EXPECT_THROW(s.reset(-1, 2, 1, 1), np::Error);
    EXPECT_THROW(s.reset(10, 2, 0, 1), np::Error);
}
