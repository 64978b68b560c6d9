#include "train/optimizer.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "core/error.h"
#include "core/rng.h"

namespace np {

namespace {

// bitsandbytes' create_dynamic_map(signed, max_exponent_bits=7, total_bits=8): for each decade
// 10^-6 .. 10^0, the midpoints of an even split of [0.1, 1] (2^i of them for signed, 2^(i+1) for
// unsigned), plus 0 and 1, sorted.
std::array<float, 256> make_dynamic_code(bool is_signed) {
    std::vector<double> data;
    const int max_exp_bits = 7;
    for (int i = 0; i < max_exp_bits; i++) {
        const int items = is_signed ? (1 << i) + 1 : (1 << (i + 1)) + 1;
        const double scale = std::pow(10.0, -(max_exp_bits - 1) + i);
        for (int k = 0; k + 1 < items; k++) {
            const double lo = 0.1 + 0.9 * k / (items - 1), hi = 0.1 + 0.9 * (k + 1) / (items - 1);
            data.push_back(scale * (lo + hi) / 2);
            if (is_signed) data.push_back(-scale * (lo + hi) / 2);
        }
    }
    data.push_back(0.0);
    data.push_back(1.0);
    std::sort(data.begin(), data.end());
    std::array<float, 256> code{};
    for (size_t i = 0; i < 256; i++) code[i] = float(data.at(i));
    return code;
}

// Index of the code nearest x (code sorted ascending).
inline uint8_t nearest_code(const std::array<float, 256>& code, float x) {
    const float* c = code.data();
    int lo = 0, hi = 255;  // invariant: answer in [lo, hi]
    while (hi - lo > 1) {
        const int mid = (lo + hi) / 2;
        if (c[mid] <= x)
            lo = mid;
        else
            hi = mid;
    }
    return uint8_t(std::fabs(x - c[lo]) <= std::fabs(c[hi] - x) ? lo : hi);
}

// A code book with a lookup table from the top 16 bits of a float (sign, exponent, 7 mantissa bits)
// to the largest code at or below every float with those bits: two neighbouring codes are always
// more than 2^-7 apart relatively, so the bracket of x is found with at most a step or two instead
// of a branchy binary search.
struct CodeIndex {
    const float* c;
    std::vector<uint8_t> lut;
    explicit CodeIndex(const std::array<float, 256>& code) : c(code.data()), lut(65536) {
        for (uint32_t key = 0; key < 65536; key++) {
            const uint32_t bits = key < 0x8000 ? key << 16 : (key << 16) | 0xFFFFu;
            float lowest;
            std::memcpy(&lowest, &bits, 4);
            int j = 0;
            while (j < 255 && c[j + 1] <= lowest) j++;
            lut[key] = uint8_t(j);
        }
    }
    // Rounds x to one of its two neighbouring codes with probability proportional to closeness, so
    // the stored moment is unbiased. Nearest rounding is biased where codes are sparse: a moment
    // that shrinks by less than half a code gap per step (sqrt(v) falls by only 2.5% a step with
    // beta2 0.95) rounds back to the same code forever, v stays too large, the steps too small.
    // u in [0, 1).
    uint8_t stochastic(float x, float u) const {
        if (!(x > c[0])) return 0;  // also NaN
        if (x >= c[255]) return 255;
        uint32_t bits;
        std::memcpy(&bits, &x, 4);
        int lo = lut[bits >> 16];
        while (c[lo + 1] <= x) lo++;
        return uint8_t(u * (c[lo + 1] - c[lo]) < x - c[lo] ? lo + 1 : lo);
    }
};

const CodeIndex& index_signed();
const CodeIndex& index_unsigned();

// Two rounding draws in [0, 1) for element i at a step (step_seed = splitmix64(t)): a hash, so they
// do not depend on threads or on where a run was resumed.
inline void rounding_uniforms(uint64_t step_seed, size_t i, float& u1, float& u2) {
    const uint64_t h = splitmix64(step_seed ^ uint64_t(i));
    u1 = float(h >> 40) * 0x1.0p-24f;
    u2 = float((h >> 16) & 0xFFFFFFu) * 0x1.0p-24f;
}

constexpr size_t kFp32Chunk = 4096;  // work-block size for fp32 state
constexpr char kMagic[8] = {'N', 'P', 'A', 'D', 'A', 'M', 'W', '1'};

struct Writer {
    std::string out;
    template <class T>
    void put(const T& v) {
        out.append(reinterpret_cast<const char*>(&v), sizeof(T));
    }
    template <class T>
    void put_vec(const std::vector<T>& v) {
        put(uint64_t(v.size()));
        out.append(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(T));
    }
};

struct Reader {
    std::string_view in;
    size_t pos = 0;
    const std::string& what;
    void need(size_t n) {
        if (in.size() - pos < n)
            fail(what + ": truncated (needs " + std::to_string(pos + n) + " bytes, has " +
                 std::to_string(in.size()) + ")");
    }
    template <class T>
    T get() {
        need(sizeof(T));
        T v;
        std::memcpy(&v, in.data() + pos, sizeof(T));
        pos += sizeof(T);
        return v;
    }
    template <class T>
    void get_vec(std::vector<T>& v, const char* field) {
        const uint64_t n = get<uint64_t>();
        if (n != v.size())
            fail(what + ": " + field + " has " + std::to_string(n) + " values, this model needs " +
                 std::to_string(v.size()));
        need(n * sizeof(T));
        if (n) std::memcpy(v.data(), in.data() + pos, n * sizeof(T));  // an empty v has no data()
        pos += n * sizeof(T);
    }
};

}  // namespace

uint64_t state_checksum(std::string_view s) {
    uint64_t h = 0xcbf29ce484222325ull;
    size_t i = 0;
    for (; i + 8 <= s.size(); i += 8) {
        uint64_t w;
        std::memcpy(&w, s.data() + i, 8);
        h = (h ^ w) * 0x100000001b3ull;
        h ^= h >> 29;
    }
    for (; i < s.size(); i++) h = (h ^ uint8_t(s[i])) * 0x100000001b3ull;
    return h;
}

const std::array<float, 256>& dynamic_code_signed() {
    static const std::array<float, 256> code = make_dynamic_code(true);
    return code;
}

const std::array<float, 256>& dynamic_code_unsigned() {
    static const std::array<float, 256> code = make_dynamic_code(false);
    return code;
}

namespace {
const CodeIndex& index_signed() {
    static const CodeIndex index(dynamic_code_signed());
    return index;
}
const CodeIndex& index_unsigned() {
    static const CodeIndex index(dynamic_code_unsigned());
    return index;
}
}  // namespace

void quantize_blockwise(const float* x, uint8_t* codes, float* absmax, size_t n, int block,
                        const std::array<float, 256>& code) {
    for (size_t b = 0, k = 0; b < n; b += size_t(block), k++) {
        const size_t e = std::min(n, b + size_t(block));
        float amax = 0;
        for (size_t i = b; i < e; i++) amax = std::max(amax, std::fabs(x[i]));
        absmax[k] = amax;
        const float inv = amax > 0 ? 1.0f / amax : 0.0f;
        for (size_t i = b; i < e; i++) codes[i] = nearest_code(code, x[i] * inv);
    }
}

void dequantize_blockwise(const uint8_t* codes, const float* absmax, float* x, size_t n, int block,
                          const std::array<float, 256>& code) {
    for (size_t i = 0; i < n; i++) x[i] = code[codes[i]] * absmax[i / size_t(block)];
}

AdamW::AdamW(const ParamLayout& layout, const AdamWConfig& cfg) : cfg_(cfg), total_(layout.total) {
    if (!(cfg.beta1 >= 0 && cfg.beta1 < 1))
        fail("optimizer beta1: expected a value in [0, 1), got " + std::to_string(cfg.beta1));
    if (!(cfg.beta2 >= 0 && cfg.beta2 < 1))
        fail("optimizer beta2: expected a value in [0, 1), got " + std::to_string(cfg.beta2));
    if (!(cfg.eps > 0)) fail("optimizer eps: expected a positive value");
    if (!(cfg.weight_decay >= 0)) fail("optimizer weight_decay: expected a value >= 0");
    if (cfg.state_8bit && cfg.block_size != 256 && cfg.block_size != 2048)
        fail("optimizer block_size: expected 256 or 2048, got " + std::to_string(cfg.block_size));
    size_t n32 = 0, n8 = 0, nscale = 0;
    for (size_t s = 0; s < layout.specs.size(); s++) {
        const ParamSpec& p = layout.specs[s];
        spec_numel_.push_back(p.numel);
        spec_decay_.push_back(p.matrix ? 1 : 0);
        const bool q8 = cfg.state_8bit && p.numel >= cfg.min_8bit_numel;
        const size_t chunk = q8 ? size_t(cfg.block_size) : kFp32Chunk;
        for (size_t b = 0; b < size_t(p.numel); b += chunk) {
            Block blk;
            blk.begin = p.offset + b;
            blk.len = std::min(chunk, size_t(p.numel) - b);
            blk.spec = uint32_t(s);
            blk.q8 = q8;
            if (q8) {
                blk.state = n8;
                blk.scale = uint32_t(nscale++);
                n8 += blk.len;
            } else {
                blk.state = n32;
                n32 += blk.len;
            }
            blocks_.push_back(blk);
            elem_block_start_.push_back(blk.begin);
        }
    }
    // Blocks were emitted in spec order; specs are laid out in increasing offsets.
    m32_.assign(n32, 0.0f);
    v32_.assign(n32, 0.0f);
    // Code of 0 in each book: a zero-initialised state.
    m8_.assign(n8, nearest_code(dynamic_code_signed(), 0.0f));
    v8_.assign(n8, nearest_code(dynamic_code_unsigned(), 0.0f));
    absmax_m_.assign(nscale, 0.0f);
    absmax_v_.assign(nscale, 0.0f);
}

size_t AdamW::state_bytes() const {
    return (m32_.size() + v32_.size() + absmax_m_.size() + absmax_v_.size()) * sizeof(float) +
           m8_.size() + v8_.size();
}

void AdamW::step(std::span<float> params, std::span<const float> grads, double lr,
                 std::span<const float> spec_lr_mult) {
    if (params.size() != total_ || grads.size() != total_)
        fail("AdamW::step: params/grads have " + std::to_string(params.size()) + "/" +
             std::to_string(grads.size()) + " values, the layout has " + std::to_string(total_));
    if (!spec_lr_mult.empty() && spec_lr_mult.size() != spec_numel_.size())
        fail("AdamW::step: " + std::to_string(spec_lr_mult.size()) +
             " LR multipliers given, expected one per parameter tensor (" +
             std::to_string(spec_numel_.size()) + ")");
    t_++;
    const double bc1 = 1.0 - std::pow(double(cfg_.beta1), double(t_));
    const double bc2 = 1.0 - std::pow(double(cfg_.beta2), double(t_));
    const float b1 = cfg_.beta1, b2 = cfg_.beta2, eps = cfg_.eps;
    const float one_b1 = float(1.0 - double(cfg_.beta1)), one_b2 = float(1.0 - double(cfg_.beta2));
    const float bc2_sqrt = float(std::sqrt(bc2));
    const auto& code_m = dynamic_code_signed();
    const auto& code_v = dynamic_code_unsigned();
    const CodeIndex& index_m = index_signed();
    const CodeIndex& index_v = index_unsigned();
    const uint64_t step_seed = splitmix64(uint64_t(t_));
    float* P = params.data();
    const float* G = grads.data();
    const int64_t nb = int64_t(blocks_.size());

#pragma omp parallel for schedule(static)
    for (int64_t k = 0; k < nb; k++) {
        const Block& blk = blocks_[size_t(k)];
        const double lr_e = lr * (spec_lr_mult.empty() ? 1.0 : double(spec_lr_mult[blk.spec]));
        const float decay = spec_decay_[blk.spec] ? float(1.0 - lr_e * cfg_.weight_decay) : 1.0f;
        const float step_size = float(lr_e / bc1);
        float* __restrict p = P + blk.begin;
        const float* __restrict g = G + blk.begin;
        const size_t n = blk.len;
        if (!blk.q8) {
            float* __restrict m = m32_.data() + blk.state;
            float* __restrict v = v32_.data() + blk.state;
            for (size_t i = 0; i < n; i++) {
                const float gi = g[i];
                const float mi = m[i] * b1 + gi * one_b1;
                const float vi = v[i] * b2 + gi * gi * one_b2;
                m[i] = mi;
                v[i] = vi;
                const float denom = std::sqrt(vi) / bc2_sqrt + eps;
                p[i] = p[i] * decay - step_size * (mi / denom);
            }
            continue;
        }
        // 8-bit: dequantise, update in fp32, requantise against the block's new absmax.
        float mbuf[2048], sbuf[2048];
        uint8_t* mq = m8_.data() + blk.state;
        uint8_t* vq = v8_.data() + blk.state;
        const float am = absmax_m_[blk.scale], av = absmax_v_[blk.scale];
        float new_am = 0, new_as = 0;
        for (size_t i = 0; i < n; i++) {
            const float gi = g[i];
            const float s_old = code_v[vq[i]] * av;  // sqrt(v)
            const float mi = (code_m[mq[i]] * am) * b1 + gi * one_b1;
            const float vi = (s_old * s_old) * b2 + gi * gi * one_b2;
            const float si = std::sqrt(vi);
            mbuf[i] = mi;
            sbuf[i] = si;
            new_am = std::max(new_am, std::fabs(mi));
            new_as = std::max(new_as, si);
            const float denom = si / bc2_sqrt + eps;
            p[i] = p[i] * decay - step_size * (mi / denom);
        }
        absmax_m_[blk.scale] = new_am;
        absmax_v_[blk.scale] = new_as;
        const float inv_m = new_am > 0 ? 1.0f / new_am : 0.0f;
        const float inv_s = new_as > 0 ? 1.0f / new_as : 0.0f;
        for (size_t i = 0; i < n; i++) {
            float um, uv;
            rounding_uniforms(step_seed, blk.begin + i, um, uv);
            mq[i] = index_m.stochastic(mbuf[i] * inv_m, um);
            vq[i] = index_v.stochastic(sbuf[i] * inv_s, uv);
        }
    }
}

const AdamW::Block& AdamW::block_of(size_t i) const {
    if (i >= total_) fail("AdamW: element " + std::to_string(i) + " out of range");
    auto it = std::upper_bound(elem_block_start_.begin(), elem_block_start_.end(), i);
    return blocks_[size_t(it - elem_block_start_.begin()) - 1];
}

float AdamW::first_moment(size_t i) const {
    const Block& b = block_of(i);
    const size_t j = b.state + (i - b.begin);
    return b.q8 ? dynamic_code_signed()[m8_[j]] * absmax_m_[b.scale] : m32_[j];
}

float AdamW::second_moment(size_t i) const {
    const Block& b = block_of(i);
    const size_t j = b.state + (i - b.begin);
    if (!b.q8) return v32_[j];
    const float s = dynamic_code_unsigned()[v8_[j]] * absmax_v_[b.scale];
    return s * s;
}

// Layout: magic, format (8-bit flag, block size, min 8-bit size), step count, the parameter
// layout's tensor sizes, the state arrays, then a checksum of everything before it. Betas, eps and
// weight decay are not state: they come from the run's configuration.
std::string AdamW::serialize() const {
    Writer w;
    w.out.reserve(128 + spec_numel_.size() * 8 + state_bytes());
    w.out.append(kMagic, sizeof(kMagic));
    w.put(uint32_t(cfg_.state_8bit ? 1 : 0));
    w.put(int32_t(cfg_.block_size));
    w.put(int64_t(cfg_.min_8bit_numel));
    w.put(int64_t(t_));
    w.put(uint64_t(total_));
    w.put_vec(spec_numel_);
    w.put_vec(m32_);
    w.put_vec(v32_);
    w.put_vec(m8_);
    w.put_vec(v8_);
    w.put_vec(absmax_m_);
    w.put_vec(absmax_v_);
    w.put(state_checksum(w.out));
    return std::move(w.out);
}

void AdamW::deserialize(std::string_view bytes, const std::string& what) {
    Reader r{bytes, 0, what};
    r.need(sizeof(kMagic));
    if (std::memcmp(bytes.data(), kMagic, sizeof(kMagic)) != 0)
        fail(what + ": not a NanoPrime AdamW state (bad magic)");
    r.pos = sizeof(kMagic);
    if (bytes.size() < sizeof(kMagic) + 8) r.need(sizeof(kMagic) + 8);
    uint64_t stored;
    std::memcpy(&stored, bytes.data() + bytes.size() - 8, 8);
    if (stored != state_checksum(bytes.substr(0, bytes.size() - 8)))
        fail(what + ": checksum mismatch (the file is corrupted or truncated)");
    const bool q8 = r.get<uint32_t>() != 0;
    const int32_t bs = r.get<int32_t>();
    const int64_t min8 = r.get<int64_t>();
    if (q8 != cfg_.state_8bit)
        fail(what + ": holds " + (q8 ? "8-bit" : "fp32") + " optimizer state, the run uses " +
             (cfg_.state_8bit ? "8-bit" : "fp32"));
    if (q8 && (bs != cfg_.block_size || min8 != cfg_.min_8bit_numel))
        fail(what + ": 8-bit state with block size " + std::to_string(bs) + " and min size " +
             std::to_string(min8) + ", the run uses " + std::to_string(cfg_.block_size) + " and " +
             std::to_string(cfg_.min_8bit_numel));
    const int64_t t = r.get<int64_t>();
    const uint64_t total = r.get<uint64_t>();
    if (total != total_)
        fail(what + ": written for " + std::to_string(total) + " parameters, this model has " +
             std::to_string(total_));
    std::vector<int64_t> numel(spec_numel_.size());
    r.get_vec(numel, "tensor table");
    if (numel != spec_numel_) fail(what + ": written for a different parameter layout");
    // Read into copies so a failure leaves this optimizer unchanged.
    auto m32 = m32_, v32 = v32_, am = absmax_m_, av = absmax_v_;
    auto m8 = m8_, v8 = v8_;
    r.get_vec(m32, "fp32 first moment");
    r.get_vec(v32, "fp32 second moment");
    r.get_vec(m8, "8-bit first moment");
    r.get_vec(v8, "8-bit second moment");
    r.get_vec(am, "first-moment scales");
    r.get_vec(av, "second-moment scales");
    if (r.pos + 8 != bytes.size()) fail(what + ": unexpected trailing bytes");
    if (t < 0) fail(what + ": negative step count");
    m32_ = std::move(m32);
    v32_ = std::move(v32);
    m8_ = std::move(m8);
    v8_ = std::move(v8);
    absmax_m_ = std::move(am);
    absmax_v_ = std::move(av);
    t_ = t;
}

namespace {
constexpr int kNormChunks = 256;  // fixed partition: the sum's order ignores the thread count
}

double grad_global_norm(std::span<const float> grads) {
    const size_t n = grads.size();
    double part[kNormChunks];
    const float* g = grads.data();
#pragma omp parallel for schedule(static)
    for (int c = 0; c < kNormChunks; c++) {
        const size_t b = n * size_t(c) / kNormChunks, e = n * size_t(c + 1) / kNormChunks;
        double s = 0;
        for (size_t i = b; i < e; i++) s += double(g[i]) * double(g[i]);
        part[c] = s;
    }
    double total = 0;
    for (int c = 0; c < kNormChunks; c++) total += part[c];
    return std::sqrt(total);
}

double clip_grad_norm(std::span<float> grads, double max_norm) {
    const double norm = grad_global_norm(grads);
    if (!std::isfinite(norm) || norm <= max_norm) return norm;
    const float scale = float(max_norm / (norm + 1e-6));
    float* g = grads.data();
    const int64_t n = int64_t(grads.size());
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < n; i++) g[i] *= scale;
    return norm;
}

bool all_finite(std::span<const float> grads) {
    const float* g = grads.data();
    const int64_t n = int64_t(grads.size());
    int bad = 0;
#pragma omp parallel for schedule(static) reduction(| : bad)
    for (int64_t i = 0; i < n; i++) bad |= !std::isfinite(g[i]);
    return bad == 0;
}

}  // namespace np
