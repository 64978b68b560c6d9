#include "kernels/cpu/row_shares.h"

#include "core/error.h"

namespace np::kern {

void RowShares::reset(int rows, int nshares, int align, int grain) {
    if (rows < 0 || nshares < 1 || align < 1 || grain < 1)
        fail("RowShares: rows >= 0, shares, align and grain >= 1 expected");
    if (nshares > capacity_) {
        shares_ = std::make_unique<Share[]>(size_t(nshares));
        capacity_ = nshares;
    }
    n_ = nshares;
    align_ = align;
    grain_ = grain;
    const int per = (rows + nshares - 1) / nshares;
    const int step = (per + align - 1) / align * align;
    for (int i = 0; i < nshares; i++) {
        const int f = std::min(rows, i * step), k = std::min(rows, f + step);
        shares_[size_t(i)].word.store(pack(f, k), std::memory_order_relaxed);
    }
}

}  // namespace np::kern
