#include "train/optimizer.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "core/error.h"
#include "core/rng.h"

namespace np {

namespace {

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
    m8_.assign(n8, code_of_zero(dynamic_code_signed()));
    v8_.assign(n8, code_of_zero(dynamic_code_unsigned()));
    absmax_m_.assign(nscale, 0.0f);
    absmax_v_.assign(nscale, 0.0f);
}

size_t AdamW::state_bytes() const {
    return (m32_.size() + v32_.size() + absmax_m_.size() + absmax_v_.size()) * sizeof(float) +
           m8_.size() + v8_.size();
}

void AdamW::step(Backend<float>& be, std::span<float> params, std::span<const float> grads,
                 double lr, std::span<const float> spec_lr_mult) {
    if (params.size() != total_ || grads.size() != total_)
        fail("AdamW::step: params/grads have " + std::to_string(params.size()) + "/" +
             std::to_string(grads.size()) + " values, the layout has " + std::to_string(total_));
    if (!spec_lr_mult.empty() && spec_lr_mult.size() != spec_numel_.size())
        fail("AdamW::step: " + std::to_string(spec_lr_mult.size()) +
             " LR multipliers given, expected one per parameter tensor (" +
             std::to_string(spec_numel_.size()) + ")");
    t_++;
    AdamWUpdate u;
    u.params = params.data();
    u.grads = grads.data();
    u.blocks = blocks_.data();
    u.n_blocks = blocks_.size();
    u.m32 = m32_.data(), u.v32 = v32_.data(), u.m8 = m8_.data(), u.v8 = v8_.data();
    u.absmax_m = absmax_m_.data(), u.absmax_v = absmax_v_.data();
    u.spec_lr_mult = spec_lr_mult.empty() ? nullptr : spec_lr_mult.data();
    u.spec_decay = spec_decay_.data();
    u.lr = lr, u.step = t_;
    u.beta1 = cfg_.beta1, u.beta2 = cfg_.beta2, u.eps = cfg_.eps;
    u.weight_decay = cfg_.weight_decay;
    be.adamw_update(u);
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

double grad_global_norm(Backend<float>& be, std::span<const float> grads) {
    return std::sqrt(be.sum_squares(grads.data(), grads.size()));
}

double clip_grad_norm(Backend<float>& be, std::span<float> grads, double max_norm) {
    const double norm = grad_global_norm(be, grads);
    if (!std::isfinite(norm) || norm <= max_norm) return norm;
    be.scale(grads.data(), grads.size(), float(max_norm / (norm + 1e-6)));
    return norm;
}

}  // namespace np
