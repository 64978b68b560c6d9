// Packed ternary weight matrices for inference (DESIGN §2.2, §4.2), bit-compatible with ggml's
// TQ2_0 and TQ1_0 blocks so that a GGUF file holding them parses in standard readers.
//
// Layout. A matrix Wq[rows, cols] (values in {-1,0,1}) is stored row by row; each row is padded
// with zero weights up to cols_padded = ceil(cols/256)*256 and cut into 256-weight blocks
// ("super-blocks", QK_K in ggml). A row is nblocks consecutive blocks, no gaps, so row o starts at
// o*row_bytes. A GGUF tensor of this data has shape [rows, cols_padded] (ne0 = cols_padded); the
// logical cols lives in the model config. Zero padding is harmless: the activations are zero-padded
// too (act_quant.h).
//
// TQ2_0 (2.0625 bits/weight, 66 bytes): qs[64], d (fp16). Weight k of the block is
// ((qs[32*(k/128) + k%32] >> (2*((k%128)/32))) & 3) - 1, i.e. code = q + 1 in {0,1,2}.
// TQ1_0 (1.6875 bits/weight, 54 bytes): qs[48], qh[4], d (fp16). Codes c in {0,1,2} (= q + 1):
//   weights   0..159: 5 trits per byte qs[0..31],  weight 32n+m  is trit n of qs[m];
//   weights 160..239: 5 trits per byte qs[32..47], weight 160+16n+m is trit n of qs[32+m];
//   weights 240..255: 4 trits per byte qh[0..3],   weight 240+4n+j  is trit n of qh[j];
// a byte holding trits t0..t4 (t0 most significant) stores ceil((sum t_n 3^(4-n)) * 256 / 243), and
// trit n is recovered as (uint8(byte * 3^n) * 3) >> 8 (qh bytes: 4 trits, shifted up one trit).
//
// Scale. Every block's d holds fp16(gamma), the per-tensor scale, so a standard reader dequantises
// to Wq * fp16(gamma). fp16 keeps 11 significant bits, so NanoPrime's own kernels do NOT use d:
// they use the exact fp32 gamma kept in TernaryView::gamma (stored next to the tensor in the GGUF
// file by the exporter), which is what makes the packed product match the fp32 BitLinear forward.
#pragma once
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace np::kern {

constexpr int kTernaryBlock = 256;  // weights per block (ggml QK_K)

enum class TernaryFormat : uint8_t { TQ2_0, TQ1_0 };

struct BlockTQ2_0 {
    uint8_t qs[kTernaryBlock / 4];
    uint16_t d;  // fp16 bits
};
struct BlockTQ1_0 {
    uint8_t qs[(kTernaryBlock - 4 * kTernaryBlock / 64) / 5];
    uint8_t qh[kTernaryBlock / 64];
    uint16_t d;  // fp16 bits
};
static_assert(sizeof(BlockTQ2_0) == 66 && alignof(BlockTQ2_0) == 2);
static_assert(sizeof(BlockTQ1_0) == 54 && offsetof(BlockTQ1_0, d) == 52);

// ggml's type ids for these blocks in a GGUF tensor-info record.
constexpr uint32_t kGgmlTypeTQ1_0 = 34, kGgmlTypeTQ2_0 = 35;

size_t ternary_block_bytes(TernaryFormat f);
inline int ternary_padded_cols(int cols) {
    return (cols + kTernaryBlock - 1) / kTernaryBlock * kTernaryBlock;
}
// Bytes of one packed row of `cols` logical weights.
size_t ternary_row_bytes(TernaryFormat f, int cols);

// Non-owning view (a PackedTernary, or a tensor inside an mmapped GGUF file).
struct TernaryView {
    TernaryFormat format = TernaryFormat::TQ2_0;
    int rows = 0, cols = 0;  // logical shape [out, in]
    float gamma = 1.f;       // exact per-tensor scale
    const uint8_t* data = nullptr;
    // Optional: the first 16*x16_groups rows repacked for the AVX-512 VNNI kernels
    // (ternary_x16.h); those kernels then read them from there, every other path from data.
    const uint8_t* x16 = nullptr;
    int x16_groups = 0;
    int nblocks() const { return ternary_padded_cols(cols) / kTernaryBlock; }
    size_t row_bytes() const { return ternary_row_bytes(format, cols); }
    size_t bytes() const { return row_bytes() * size_t(rows); }
    const uint8_t* row(int o) const { return data + size_t(o) * row_bytes(); }
};

struct PackedTernary {
    TernaryFormat format = TernaryFormat::TQ2_0;
    int rows = 0, cols = 0;
    float gamma = 1.f;
    std::vector<uint8_t> data;
    TernaryView view() const { return {format, rows, cols, gamma, data.data()}; }
};

// Wq[n] = clamp(round_half_even(W/gamma), -1, 1) with gamma = max(mean|W|, 1e-5): exactly the
// weights np::bitlinear_forward(quantize=true) uses (computed through
// np::quantize_weights_ternary). Returns gamma.
float ternarize_weights(int8_t* wq, const float* W, int64_t n);

// Wq[rows, cols] in {-1,0,1} (anything else throws np::Error) -> packed blocks, d = fp16(gamma).
PackedTernary pack_ternary_2bit(const int8_t* Wq, int rows, int cols, float gamma);    // TQ2_0
PackedTernary pack_ternary_1p6bit(const int8_t* Wq, int rows, int cols, float gamma);  // TQ1_0
PackedTernary pack_ternary(TernaryFormat f, const int8_t* Wq, int rows, int cols, float gamma);
// Packed -> Wq[rows, cols] (the padding is dropped). Throws on a TQ2_0 code 3, which no valid file
// holds.
void unpack_ternary(int8_t* Wq, const TernaryView& W);
// One block -> its 256 codes (q + 1, in {0,1,2}) in weight order.
void unpack_block_codes_tq2(uint8_t* codes, const uint8_t* block);
void unpack_block_codes_tq1(uint8_t* codes, const uint8_t* block);

}  // namespace np::kern
