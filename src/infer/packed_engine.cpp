#include "infer/packed_engine.h"

#include <cblas.h>
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "core/error.h"
#include "kernels/cpu/ternary_kernels.h"
#include "kernels/cpu/vec_ops.h"
#include "model/mamba.h"
#include "model/mla.h"
#include "model/ops.h"

namespace np::infer {

namespace {

// y[R, C] = RMSNorm(x[R, C]) * w, row by row on the calling thread (kern::rmsnorm_row).
void rmsnorm_rows(float* y, const float* x, const float* w, int R, int C, float eps) {
    for (int t = 0; t < R; t++) kern::rmsnorm_row(y + size_t(t) * C, x + size_t(t) * C, w, C, eps);
}

}  // namespace

PackedEngine::PackedEngine(std::shared_ptr<const PackedModel> model, int n_slots, int max_rows)
    : model_(std::move(model)), max_rows_(max_rows) {
    if (n_slots < 1) fail("PackedEngine: n_slots must be >= 1");
    if (max_rows_ < 1) fail("PackedEngine: max_rows must be >= 1");
    const ModelConfig& cfg = model_->config();
    const MambaDims& m = cfg.mamba;
    const MlaDims& a = cfg.mla;
    slots_.resize(size_t(n_slots));
    for (Slot& s : slots_) {
        s.mamba.resize(cfg.n_layers);
        s.mla.resize(cfg.n_layers);
        for (int l = 0; l < cfg.n_layers; l++)
            if (cfg.mixer_kind(l) == 'M') {
                s.mamba[l].conv.assign(size_t(m.d_conv - 1) * m.conv_dim(), 0.f);
                s.mamba[l].ssm.assign(size_t(m.n_heads()) * m.head_dim * m.d_state, 0.f);
            }
    }
    // Every scratch buffer holds max_rows rows of the widest activation, so no resize happens
    // later (the inputs of a layer stay valid while its outputs are written).
    const int widest = std::max({cfg.d_model, cfg.ffn.hidden, m.in_proj_dim(), m.conv_dim(),
                                 m.d_inner(), a.q_dim(), a.kv_down_dim(), a.o_dim()});
    const size_t rows = size_t(max_rows_) * widest;
    for (auto* v : {&x_, &n_, &tmp_, &a_, &b_, &c_, &d_}) v->assign(rows, 0.f);
    rope_cos_.assign(std::max(1, a.qk_rope_dim / 2), 0.f);
    rope_sin_.assign(rope_cos_.size(), 0.f);
    thread_scratch_.resize(size_t(omp_get_max_threads()));
    const size_t M = size_t(max_rows_) * a.n_heads;
    att_q_.assign(M * a.kv_rank, 0.f);
    att_qr_.assign(M * a.qk_rope_dim, 0.f);
    att_cbar_.assign(M * a.kv_rank, 0.f);
    rows_.reserve(size_t(n_slots));
    head_out_.reserve(size_t(n_slots));
    att_items_.reserve(M);
}

void PackedEngine::start_document(Slot& s) {
    for (auto& st : s.mamba) {
        std::fill(st.conv.begin(), st.conv.end(), 0.f);
        std::fill(st.ssm.begin(), st.ssm.end(), 0.f);
    }
    for (auto& st : s.mla) st.cq.clear(), st.inv_s.clear(), st.k_rope.clear();
    s.pos = 0;
    s.started = true;
    s.document = ++documents_;
}

void PackedEngine::reset(int slot) {
    Slot& s = slots_.at(size_t(slot));
    start_document(s);
    s.started = false;
    s.n_past = 0;
}

PackedEngine::Checkpoint PackedEngine::checkpoint(int slot) const {
    const Slot& s = slots_.at(size_t(slot));
    Checkpoint cp;
    cp.conv.resize(s.mamba.size());
    cp.ssm.resize(s.mamba.size());
    for (size_t l = 0; l < s.mamba.size(); l++)
        cp.conv[l] = s.mamba[l].conv, cp.ssm[l] = s.mamba[l].ssm;
    cp.pos = s.pos;
    cp.n_past = s.n_past;
    cp.document = s.started ? s.document : 0;
    return cp;
}

bool PackedEngine::rewind(int slot, const Checkpoint& cp) {
    Slot& s = slots_.at(size_t(slot));
    if (cp.document == 0 || !s.started || cp.document != s.document || cp.pos > s.pos) return false;
    for (size_t l = 0; l < s.mamba.size(); l++)
        s.mamba[l].conv = cp.conv[l], s.mamba[l].ssm = cp.ssm[l];
    const ModelConfig& cfg = model_->config();
    for (auto& st : s.mla) {
        if (st.inv_s.empty()) continue;
        st.cq.resize(size_t(cp.pos) * cfg.mla.kv_rank);
        st.inv_s.resize(size_t(cp.pos));
        st.k_rope.resize(size_t(cp.pos) * cfg.mla.qk_rope_dim);
    }
    s.pos = cp.pos;
    s.n_past = cp.n_past;
    return true;
}

size_t PackedEngine::cache_bytes(int slot) const {
    size_t b = 0;
    for (const auto& s : slots_.at(size_t(slot)).mla)
        b += s.cq.size() + (s.inv_s.size() + s.k_rope.size()) * sizeof(float);
    return b;
}

void PackedEngine::run(std::span<const Segment> segments) {
    const PackedModel& pm = *model_;
    const ModelConfig& cfg = pm.config();
    const int D = cfg.d_model, V = cfg.vocab_size;
    const float eps = float(cfg.norm_eps);
    // Validate everything before any state changes.
    size_t total = 0;
    for (size_t i = 0; i < segments.size(); i++) {
        const Segment& sg = segments[i];
        if (sg.slot < 0 || sg.slot >= n_slots())
            fail("decoder: slot " + std::to_string(sg.slot) + " outside [0, " +
                 std::to_string(n_slots()) + ")");
        for (size_t j = 0; j < i; j++)
            if (segments[j].slot == sg.slot)
                fail("decoder: slot " + std::to_string(sg.slot) + " appears twice in one run");
        if (sg.tokens.empty()) fail("decoder: a segment needs at least one token");
        for (size_t t = 0; t < sg.tokens.size(); t++) {
            if (sg.tokens[t] < 0 || sg.tokens[t] >= V)
                fail("decode: token id " + std::to_string(sg.tokens[t]) +
                     " outside the vocabulary");
            if (t > 0 && sg.tokens[t] == 0)
                fail("decoder: token id 0 inside a segment (it starts a new document)");
        }
        total += sg.tokens.size();
    }
    if (total > size_t(max_rows_))
        fail("decoder: " + std::to_string(total) + " tokens in one run, at most " +
             std::to_string(max_rows_));
    if (total == 0) return;

    rows_.clear();
    int R = 0;
    for (const Segment& sg : segments) {
        Slot& s = slots_[size_t(sg.slot)];
        if (!s.started || sg.tokens[0] == 0) start_document(s);
        const int n = int(sg.tokens.size());
        rows_.push_back({sg.slot, R, n, s.pos, sg.logits});
        for (int t = 0; t < n; t++) pm.embed_row(x_.data() + size_t(R + t) * D, sg.tokens[t]);
        R += n;
    }
    const size_t RD = size_t(R) * D;
    for (int l = 0; l < cfg.n_layers; l++) {
        const PackedLayer& L = pm.layers()[l];
        rmsnorm_rows(n_.data(), x_.data(), L.mixer_norm, R, D, eps);
        if (L.kind == 'M')
            mamba_layer(tmp_.data(), n_.data(), R, L, l);
        else
            mla_layer(tmp_.data(), n_.data(), R, L, l);
        for (size_t k = 0; k < RD; k++) x_[k] += tmp_[k];
        rmsnorm_rows(n_.data(), x_.data(), L.ffn_norm, R, D, eps);
        ffn_layer(tmp_.data(), n_.data(), R, L);
        for (size_t k = 0; k < RD; k++) x_[k] += tmp_[k];
    }
    // The head: one product for the last row of every segment that wants logits, so the head's
    // weights are read once per run however many sequences decode.
    head_out_.clear();
    for (const Rows& sg : rows_) {
        Slot& s = slots_[size_t(sg.slot)];
        s.pos += sg.R;
        s.n_past += sg.R;
        if (!sg.logits) continue;
        kern::rmsnorm_row(n_.data() + head_out_.size() * D,
                          x_.data() + size_t(sg.row0 + sg.R - 1) * D, pm.final_norm(), D, eps);
        head_out_.push_back(sg.logits);
    }
    if (const kern::Q8_0x8Matrix* h = pm.head_q8x8())
        kern::q8_0x8_matmat(head_out_, *h, n_.data());
    else
        kern::dense_matmat(head_out_, pm.head(), n_.data());
}

// out[R, D] = Mamba-2 mixer of h[R, D] (DESIGN §2.3), each segment continuing its slot's
// recurrent state.
void PackedEngine::mamba_layer(float* out, const float* h, int R, const PackedLayer& L, int layer) {
    const ModelConfig& cfg = model_->config();
    const MambaDims& md = cfg.mamba;
    const int Di = md.d_inner(), C = md.conv_dim(), H = md.n_heads(), P = md.head_dim,
              N = md.d_state, G = md.n_groups, K = md.d_conv, Ip = md.in_proj_dim();
    const int heads_per_group = H / G;
    const PackedMamba& w = L.mamba;
    float *zx = a_.data(), *xbc = b_.data(), *y = c_.data();
    kern::ternary_linear_forward(zx, w.in_proj, h, R, xq_);  // [R, Ip] = [z | xBC | dt]

    // Causal depthwise conv over the window (K-1 cached inputs, then the segment), same
    // accumulation order as the training forward and the reference step, one tap at a time over
    // contiguous channels (weights transposed to [K, C] at load, so the loops vectorise). Channels
    // are independent: a long run splits them over the threads; one token's ~1 us of work stays
    // on the calling thread, below the cost of a parallel region.
    const float* wT = w.conv_wT;
#pragma omp parallel if (size_t(R) * C >= (size_t(1) << 16))
    {
        const int nth = omp_get_num_threads(), id = omp_get_thread_num();
        const int per = ((C + nth - 1) / nth + 7) & ~7;
        const int c0 = std::min(C, id * per), c1 = std::min(C, c0 + per);
        for (const Rows& sg : rows_) {
            std::vector<float>& conv = slots_[size_t(sg.slot)].mamba[size_t(layer)].conv;
            for (int t = sg.row0; t < sg.row0 + sg.R; t++) {
                const float* xin = zx + size_t(t) * Ip + Di;
                float* o = xbc + size_t(t) * C;
                std::copy(w.conv_b + c0, w.conv_b + c1, o + c0);
                for (int j = 0; j < K - 1; j++) {
                    const float *wj = wT + size_t(j) * C, *sj = conv.data() + size_t(j) * C;
                    for (int c = c0; c < c1; c++) o[c] += wj[c] * sj[c];
                }
                const float* wl = wT + size_t(K - 1) * C;
                for (int c = c0; c < c1; c++) o[c] = o[c] + wl[c] * xin[c];
                kern::silu_rows(o + c0, o + c0, c1 - c0);
                if (K > 1) {
                    for (int j = 0; j + 1 < K - 1; j++)
                        std::copy(conv.begin() + size_t(j + 1) * C + c0,
                                  conv.begin() + size_t(j + 1) * C + c1,
                                  conv.begin() + size_t(j) * C + c0);
                    std::copy(xin + c0, xin + c1, conv.begin() + size_t(K - 2) * C + c0);
                }
            }
        }
    }

    // The selective scan, one (segment, head) pair per work item.
    const size_t PN = size_t(P) * N;
    const int items = int(rows_.size()) * H;
#pragma omp parallel for schedule(static) if (size_t(R) * H * PN >= (size_t(1) << 16))
    for (int item = 0; item < items; item++) {
        const Rows& sg = rows_[size_t(item / H)];
        const int hh = item % H;
        const float A = -std::exp(w.A_log[hh]);
        const int g = hh / heads_per_group;
        float* S = slots_[size_t(sg.slot)].mamba[size_t(layer)].ssm.data() + size_t(hh) * PN;
        for (int t = sg.row0; t < sg.row0 + sg.R; t++) {
            const float* row = zx + size_t(t) * Ip;
            const float dt = softplus(row[Di + C + hh] + w.dt_bias[hh]), decay = std::exp(dt * A);
            const float* xr = xbc + size_t(t) * C;
            float* yh = y + size_t(t) * Di + hh * P;
            const float *xh = xr + hh * P, *Bg = xr + Di + g * N, *Cg = xr + Di + (G + g) * N;
            for (int p = 0; p < P; p++)
                yh[p] = kern::ssm_row_update(S + size_t(p) * N, decay, dt * xh[p], Bg, Cg, N) +
                        w.D[hh] * xh[p];
            kern::gated_act(yh, row + hh * P, yh, P, true);  // y * silu(z)
        }
    }
    rmsnorm_rows(d_.data(), y, w.norm_w, R, Di, float(cfg.norm_eps));
    kern::ternary_linear_forward(out, w.out_proj, d_.data(), R, xq_);
}

// out[R, D] = MLA mixer of h[R, D] (DESIGN §2.4), each segment over its slot's latent cache plus
// its own tokens.
void PackedEngine::mla_layer(float* out, const float* h, int R, const PackedLayer& L, int layer) {
    const ModelConfig& cfg = model_->config();
    const MlaDims& md = cfg.mla;
    const int nh = md.n_heads, dn = md.qk_nope_dim, dr = md.qk_rope_dim, dv = md.v_dim,
              r = md.kv_rank;
    const int qd = dn + dr, kvw = dn + dv, QW = md.q_dim(), KD = md.kv_down_dim(), OW = md.o_dim();
    const float eps = float(cfg.norm_eps);
    const PackedMla& w = L.mla;
    float *q = a_.data(), *kvd = b_.data(), *o = c_.data(), *lat = d_.data();
    kern::quantize_acts_int8(xq_, h, R, cfg.d_model);  // shared by q_proj and kv_down
    const kern::TernaryOutput qkv[] = {{q, &w.q_proj}, {kvd, &w.kv_down}};
    kern::ternary_matmuls(qkv, xq_);

    // Append each segment to its slot's cache: c = RMSNorm(kv_down[:r]) quantised to int8 exactly
    // as kv_up would quantise it, and k_rope rotated to its position.
    for (int t = 0; t < R; t++)
        kern::rmsnorm_row(lat + size_t(t) * r, kvd + size_t(t) * KD, w.kv_norm, r, eps);
    kern::quantize_acts_int8(lat_q_, lat, R, r);
    for (const Rows& sg : rows_) {
        MlaLayerState& st = slots_[size_t(sg.slot)].mla[size_t(layer)];
        const int n0 = int(st.inv_s.size());
        for (int i = 0; i < sg.R; i++) {
            const int t = sg.row0 + i;
            st.cq.insert(st.cq.end(), lat_q_.row(t), lat_q_.row(t) + r);
            st.inv_s.push_back(lat_q_.inv_scale[size_t(t)]);
            rope_row(rope_cos_.data(), rope_sin_.data(), sg.pos0 + i, dr, md.rope_theta);
            const float* kr = kvd + size_t(t) * KD + r;
            st.k_rope.insert(st.k_rope.end(), kr, kr + dr);
            rope_apply(st.k_rope.data() + size_t(n0 + i) * dr, rope_cos_.data(), rope_sin_.data(),
                       dr);
            for (int hh = 0; hh < nh; hh++)
                rope_apply(q + size_t(t) * QW + hh * qd + dn, rope_cos_.data(), rope_sin_.data(),
                           dr);
        }
    }

    const int M = R * nh;
    const float gamma = w.kv_up.gamma, scale = 1.f / std::sqrt(float(qd));
    const int8_t* Wup = w.kv_up_q;  // [nh*(dn+dv), r]
    // Row (t, hh) of the attention problem: q̃ = gamma * Wk_h^T q_nope (the K half of kv_up
    // folded into the query) [M, r], and q_rope [M, dr].
    float *qt_all = att_q_.data(), *qr_all = att_qr_.data(), *cbar_all = att_cbar_.data();
#pragma omp parallel for schedule(static) if (size_t(M) * dn * r >= (size_t(1) << 16))
    for (int row = 0; row < M; row++) {
        const int t = row / nh, hh = row % nh;
        const float* qn = q + size_t(t) * QW + hh * qd;
        kern::absorb_query(qt_all + size_t(row) * r, qn, Wup + size_t(hh * kvw) * r, dn, r, gamma);
        std::copy(qn + dn, qn + qd, qr_all + size_t(row) * dr);
    }
    // c̄ = sum_j p_j c_j over the visible cache (c dequantised), per row. GEMMs pay off when
    // several tokens' queries share each dequantised block; one token (decode) at any context
    // length runs the latent attention kernel, which shares each block over the heads. The
    // latent-kernel rows of all segments run in one parallel loop, the heads of a token split
    // into groups (a head's result does not depend on the grouping, so a chunk gives the same
    // bits as token-by-token).
    att_items_.clear();
    size_t row_work = 0;
    for (size_t si = 0; si < rows_.size(); si++) {
        const Rows& sg = rows_[si];
        const MlaLayerState& st = slots_[size_t(sg.slot)].mla[size_t(layer)];
        const int n_max = int(st.inv_s.size()), n0 = n_max - sg.R;
        if (sg.R >= kMinGemmAttentionTokens && size_t(sg.R) * n_max >= gemm_attention_min_work_) {
            const kern::LatentCache cache{st.cq.data(), st.inv_s.data(), st.k_rope.data(), r, dr};
            attention_gemm(sg.row0 * nh, sg.R * nh, nh, n0, n_max, r, dr, scale, cache);
        } else {
            row_work += size_t(sg.R) * nh * size_t(n_max) * (2 * r + dr);
            for (int t = 0; t < sg.R; t++) att_items_.push_back({int(si), t, 0, nh});
        }
    }
    if (!att_items_.empty()) {
        const int groups = row_work >= (size_t(1) << 16) ? std::min(nh, omp_get_max_threads()) : 1;
        const int per = (nh + groups - 1) / groups, n_tok = int(att_items_.size());
#pragma omp parallel for schedule(static) if (groups > 1)
        for (int item = 0; item < n_tok * groups; item++) {
            const AttentionItem& it = att_items_[size_t(item / groups)];
            const int h0 = (item % groups) * per, h1 = std::min(nh, h0 + per);
            if (h0 >= h1) continue;
            const Rows& sg = rows_[size_t(it.seg)];
            const MlaLayerState& st = slots_[size_t(sg.slot)].mla[size_t(layer)];
            const kern::LatentCache cache{st.cq.data(), st.inv_s.data(), st.k_rope.data(), r, dr};
            const int n0 = int(st.inv_s.size()) - sg.R;
            const size_t row = size_t(sg.row0 + it.t) * nh + h0;
            kern::latent_attention(cbar_all + row * r, qt_all + row * r, qr_all + row * dr, h1 - h0,
                                   n0 + it.t + 1, cache, scale,
                                   thread_scratch_[size_t(omp_get_thread_num())]);
        }
    }
    // The V half of kv_up after the weighted sum: o_h = gamma * Wv_h c̄.
#pragma omp parallel for schedule(static) if (size_t(M) * dv * r >= (size_t(1) << 16))
    for (int row = 0; row < M; row++) {
        const int t = row / nh, hh = row % nh;
        kern::absorb_output(o + size_t(t) * OW + hh * dv, cbar_all + size_t(row) * r,
                            Wup + size_t(hh * kvw + dn) * r, dv, r, gamma);
    }
    rmsnorm_rows(d_.data(), o, w.o_norm, R, OW, eps);
    kern::ternary_linear_forward(out, w.o_proj, d_.data(), R, xq_);
}

// Long prefills: the same attention as GEMMs over blocks of kBlock cached tokens (dequantised into
// a small scratch block, so the cache itself stays int8) with an online softmax, flash-attention
// style: scores [M, block] = q̃ · C_blk^T + q_rope · Kr_blk^T, then c̄ += P · C_blk.
void PackedEngine::attention_gemm(int q0, int M, int nh, int n0, int n_max, int r, int dr,
                                  float scale, const kern::LatentCache& cache) {
    constexpr int kBlock = 256;
    att_s_.resize(size_t(M) * kBlock);
    att_cd_.resize(size_t(kBlock) * r);
    att_m_.assign(size_t(M), -std::numeric_limits<float>::infinity());
    att_l_.assign(size_t(M), 0.f);
    float *S = att_s_.data(), *Cd = att_cd_.data(), *cbar = att_cbar_.data() + size_t(q0) * r;
    const float *qt = att_q_.data() + size_t(q0) * r, *qr = att_qr_.data() + size_t(q0) * dr;
    std::fill(cbar, cbar + size_t(M) * r, 0.f);
    for (int j0 = 0; j0 < n_max; j0 += kBlock) {
        const int nb = std::min(kBlock, n_max - j0);
        for (int j = 0; j < nb; j++)
            for (int k = 0; k < r; k++)
                Cd[size_t(j) * r + k] =
                    float(cache.c[size_t(j0 + j) * r + k]) * cache.inv_s[j0 + j];
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, M, nb, r, scale, qt, r, Cd, r, 0.f, S,
                    kBlock);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, M, nb, dr, scale, qr, dr,
                    cache.k_rope + size_t(j0) * dr, dr, 1.f, S, kBlock);
#pragma omp parallel for schedule(static)
        for (int row = 0; row < M; row++) {
            float* s = S + size_t(row) * kBlock;
            const int visible = std::clamp(n0 + row / nh + 1 - j0, 0, nb);
            float mb = -std::numeric_limits<float>::infinity();
            for (int j = 0; j < visible; j++) mb = std::max(mb, s[j]);
            const float m_new = std::max(att_m_[row], mb);
            float* cb = cbar + size_t(row) * r;
            if (visible > 0 && m_new > att_m_[row]) {
                const float corr = std::exp(att_m_[row] - m_new);  // 0 on the first block
                att_l_[row] *= corr;
                for (int k = 0; k < r; k++) cb[k] *= corr;
                att_m_[row] = m_new;
            }
            float sum = 0;
            for (int j = 0; j < visible; j++) sum += (s[j] = std::exp(s[j] - att_m_[row]));
            for (int j = visible; j < nb; j++) s[j] = 0.f;
            att_l_[row] += sum;
        }
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, M, r, nb, 1.f, S, kBlock, Cd, r, 1.f,
                    cbar, r);
    }
#pragma omp parallel for schedule(static)
    for (int row = 0; row < M; row++) {
        const float inv = 1.f / att_l_[row];
        for (int k = 0; k < r; k++) cbar[size_t(row) * r + k] *= inv;
    }
}

// out[R, D] = down(RMSNorm(act(gate h) * up h) * down_norm) (DESIGN §2.5).
void PackedEngine::ffn_layer(float* out, const float* h, int R, const PackedLayer& L) {
    const ModelConfig& cfg = model_->config();
    const int F = cfg.ffn.hidden;
    const bool swiglu = cfg.ffn.act != "relu2";
    float *g = a_.data(), *u = b_.data(), *m = c_.data();
    kern::quantize_acts_int8(xq_, h, R, cfg.d_model);  // shared by gate and up
    const kern::TernaryOutput gate_up[] = {{g, &L.ffn.gate}, {u, &L.ffn.up}};
    kern::ternary_matmuls(gate_up, xq_);
    const size_t RF = size_t(R) * F;
    // Vectorised, one token's activation takes ~1 us: below the cost of a parallel region.
#pragma omp parallel for schedule(static) if (RF >= (size_t(1) << 16))
    for (int t = 0; t < R; t++)
        kern::gated_act(m + size_t(t) * F, g + size_t(t) * F, u + size_t(t) * F, F, swiglu);
    rmsnorm_rows(d_.data(), m, L.ffn.down_norm, R, F, float(cfg.norm_eps));
    kern::ternary_linear_forward(out, L.ffn.down, d_.data(), R, xq_);
}

}  // namespace np::infer
