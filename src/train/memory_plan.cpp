#include "train/memory_plan.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <sstream>

#include "core/error.h"
#include "model/params.h"

namespace np {

namespace {

// Allocator fragmentation, CUDA context and library workspaces: a fixed part plus a share.
constexpr int64_t kMarginFixed = int64_t(512) << 20;
constexpr double kMarginShare = 0.05;

// Bytes one layer keeps for backward and needs as backward scratch, per token (R = B*T rows),
// plus its per-sequence part (Mamba chunk states, RoPE tables).
struct LayerCost {
    int64_t kept_per_token = 0;  // excluding the fp32 residual input x_in
    int64_t scratch_per_token = 0;
    int64_t kept_fixed = 0;  // for the whole batch
};

LayerCost layer_cost(const ModelConfig& cfg, char kind, int B, int T, int64_t A) {
    const int64_t D = cfg.d_model, F = cfg.ffn.hidden, f32 = 4, i32 = 4;
    LayerCost c;
    // Residual after the mixer (fp32), both normed inputs and their rstd.
    c.kept_per_token += D * f32 + 2 * D * A + 2 * f32;
    if (kind == 'M') {
        const MambaDims& m = cfg.mamba;
        const int64_t Di = m.d_inner(), C = m.conv_dim(), Ip = m.in_proj_dim(), H = m.n_heads();
        const int64_t P = m.head_dim, N = m.d_state, chunk = 64;
        c.kept_per_token += D * A         // in_proj quantised input
                            + Ip * A      // in_proj output [z | xBC | dt]
                            + 2 * C * A   // conv output before and after SiLU
                            + H * f32     // dt
                            + 2 * Di * A  // y and gated output
                            + f32         // gated-norm rstd
                            + 2 * Di * A  // normed gated output and out_proj's quantised input
                            + i32;        // document start per row
        c.kept_fixed += int64_t(B) * H * ((T + chunk - 1) / chunk) * P * N * f32;  // SSM states
        c.scratch_per_token += (Di + Ip + C + H * 2 * N) * A;
    } else {
        const MlaDims& a = cfg.mla;
        const int64_t QW = a.q_dim(), KW = a.kv_up_dim(), OW = a.o_dim(), r = a.kv_rank,
                      dr = a.qk_rope_dim, nh = a.n_heads;
        c.kept_per_token += D * A               // q_proj's and kv_down's quantised input
                            + QW * A            // q
                            + (r + dr) * A      // kv_down output
                            + 2 * r * A         // latent before / after kv_norm
                            + r * A             // kv_up quantised input
                            + dr * A            // rotated k_rope
                            + KW * A            // kv_up output
                            + 3 * OW * A        // o, o_norm(o), o_proj quantised input
                            + 2 * f32           // rstd of both norms
                            + nh * f32          // per-query log-sum-exp
                            + i32;              // document start per row
        c.kept_fixed += int64_t(T) * dr * f32;  // RoPE cos/sin tables
        c.scratch_per_token +=
            (2 * OW + QW + KW + 2 * r + (r + dr) + nh * dr) * A + 2 * nh * f32;  // score rows
    }
    // FFN: gate's and up's quantised input, gate/up outputs, act(a)*u, its norm, down's input.
    c.kept_per_token += D * A + 5 * F * A + f32;
    c.scratch_per_token += 3 * F * A;
    return c;
}

int64_t optimizer_bytes(const ParamLayout& layout, const PlanOptions& opt) {
    int64_t total = 0;
    for (const ParamSpec& s : layout.specs) {
        if (opt.adam8bit && s.numel >= opt.min_8bit_numel) {
            const int64_t blocks = (s.numel + opt.block_size - 1) / opt.block_size;
            total += 2 * s.numel + 2 * blocks * 4;  // two 1-byte moments + two fp32 absmax/block
        } else {
            total += 8 * s.numel;
        }
    }
    return total;
}

std::string lower(std::string s) {
    for (char& ch : s) ch = char(std::tolower(static_cast<unsigned char>(ch)));
    return s;
}

}  // namespace

MemoryPlan plan_memory(const ModelConfig& cfg, const PlanOptions& opt) {
    cfg.validate();
    const int B = opt.batch, T = opt.seq > 0 ? opt.seq : cfg.max_seq_len;
    if (B < 1) fail("plan: --batch must be >= 1, got " + std::to_string(B));
    if (T < 1) fail("plan: --seq must be >= 1, got " + std::to_string(T));
    const ParamLayout layout = make_param_layout(cfg);
    const ParamCounts counts = count_params(cfg);
    const int64_t A = opt.bf16 ? 2 : 4, R = int64_t(B) * T, D = cfg.d_model;

    MemoryPlan p;
    p.params = counts.total;
    p.weights = counts.total * 4 + (opt.bf16 ? counts.total * 2 : 0);
    p.gradients = counts.total * 4;
    p.optimizer = optimizer_bytes(layout, opt);
    p.quant_cache = counts.ternary * A;
    p.logits = int64_t(std::min<int64_t>(opt.head_chunk, R)) * cfg.vocab_size * 4;

    // Model level: residual stream, mixer/FFN output, final-normed hidden + rstd, the packed
    // sequence layout (doc start + position), and the backward's three [R, D] gradient buffers.
    const int64_t model_kept = R * (3 * D * 4 + 4 + 2 * 4);
    const int64_t model_scratch = R * 3 * D * 4;

    int64_t kept_all = 0, kept_max = 0, scratch_max = 0;
    for (int l = 0; l < cfg.n_layers; l++) {
        const LayerCost c = layer_cost(cfg, cfg.mixer_kind(l), B, T, A);
        const int64_t kept = R * c.kept_per_token + c.kept_fixed;
        const int64_t scratch = R * c.scratch_per_token;
        kept_all += kept;
        kept_max = std::max(kept_max, kept), scratch_max = std::max(scratch_max, scratch);
    }
    const int64_t residual_inputs = int64_t(cfg.n_layers) * R * D * 4;
    p.per_layer_acts_max = kept_max + R * D * 4;
    // The backward's scratch exists once per mixer kind and once for the FFNs, shared by the
    // layers (Arena::add_shared): the largest layer's.
    p.bwd_scratch = model_scratch + scratch_max;
    p.activations = model_kept + residual_inputs + (opt.recompute ? kept_max : kept_all);
    const int64_t sum = p.weights + p.gradients + p.optimizer + p.activations + p.bwd_scratch +
                        p.quant_cache + p.logits;
    p.margin = kMarginFixed + int64_t(std::llround(kMarginShare * double(sum)));
    p.total = sum + p.margin;
    return p;
}

int64_t parse_size(const std::string& text, const std::string& what) {
    const std::string err = what + ": cannot parse '" + text +
                            "' as a size; expected a number with an optional unit, e.g. 12GiB, "
                            "12GB, 8000MiB, 512M";
    size_t i = 0;
    while (i < text.size() && std::isspace(static_cast<unsigned char>(text[i]))) i++;
    const size_t num_begin = i;
    while (i < text.size() && (std::isdigit(static_cast<unsigned char>(text[i])) || text[i] == '.'))
        i++;
    const std::string num = text.substr(num_begin, i - num_begin);
    if (num.empty() || std::count(num.begin(), num.end(), '.') > 1 || num == ".") fail(err);
    while (i < text.size() && std::isspace(static_cast<unsigned char>(text[i]))) i++;
    std::string unit = lower(text.substr(i));
    while (!unit.empty() && std::isspace(static_cast<unsigned char>(unit.back()))) unit.pop_back();
    double mult = 0;
    if (unit.empty() || unit == "b")
        mult = 1;
    else if (unit == "k" || unit == "kib")
        mult = 1024.0;
    else if (unit == "m" || unit == "mib")
        mult = 1024.0 * 1024;
    else if (unit == "g" || unit == "gib")
        mult = 1024.0 * 1024 * 1024;
    else if (unit == "t" || unit == "tib")
        mult = 1024.0 * 1024 * 1024 * 1024;
    else if (unit == "kb")
        mult = 1e3;
    else if (unit == "mb")
        mult = 1e6;
    else if (unit == "gb")
        mult = 1e9;
    else if (unit == "tb")
        mult = 1e12;
    else
        fail(what + ": unknown unit '" + text.substr(i) + "' in '" + text +
             "'; use B, KiB, MiB, GiB, TiB (or K, M, G, T) or KB, MB, GB, TB");
    const double v = std::stod(num) * mult;
    if (!(v >= 1)) fail(what + ": '" + text + "' must be at least 1 byte");
    if (v > 9.0e18) fail(what + ": '" + text + "' is too large");
    return int64_t(std::llround(v));
}

std::string format_bytes(int64_t b) {
    char buf[48];
    const double x = double(b);
    if (b >= (int64_t(1) << 30))
        std::snprintf(buf, sizeof buf, "%.2f GiB", x / double(int64_t(1) << 30));
    else if (b >= (int64_t(1) << 20))
        std::snprintf(buf, sizeof buf, "%.1f MiB", x / double(1 << 20));
    else if (b >= 1024)
        std::snprintf(buf, sizeof buf, "%.1f KiB", x / 1024.0);
    else
        std::snprintf(buf, sizeof buf, "%lld B", static_cast<long long>(b));
    return buf;
}

int largest_fitting_batch(const ModelConfig& cfg, PlanOptions opt, int64_t budget, int max_batch) {
    auto fits = [&](int b) {
        opt.batch = b;
        return plan_memory(cfg, opt).total <= budget;
    };
    if (!fits(1)) return 0;
    int lo = 1, hi = 2;  // total grows monotonically with the batch
    while (hi <= max_batch && fits(hi)) lo = hi, hi *= 2;
    hi = std::min(hi, max_batch + 1);
    while (hi - lo > 1) {
        const int mid = lo + (hi - lo) / 2;
        (fits(mid) ? lo : hi) = mid;
    }
    return lo;
}

std::string render_plan(const ModelConfig& cfg, const PlanOptions& opt, const MemoryPlan& p,
                        int64_t budget) {
    const int T = opt.seq > 0 ? opt.seq : cfg.max_seq_len;
    std::ostringstream os;
    char line[256];
    std::snprintf(
        line, sizeof line,
        "model: %lld parameters (D=%d, L=%d, pattern %s, vocab %d); batch %d x seq %d; "
        "%s, %s, %s\n",
        static_cast<long long>(p.params), cfg.d_model, cfg.n_layers, cfg.layer_pattern.c_str(),
        cfg.vocab_size, opt.batch, T, opt.bf16 ? "bf16 activations" : "fp32 activations",
        opt.adam8bit ? "8-bit AdamW" : "fp32 AdamW", opt.recompute ? "recompute" : "no recompute");
    os << line;
    auto row = [&](const char* name, int64_t bytes, const std::string& note) {
        std::snprintf(line, sizeof line, "  %-20s %12s  %5.1f%%  %s\n", name,
                      format_bytes(bytes).c_str(), p.total ? 100.0 * double(bytes) / p.total : 0.0,
                      note.c_str());
        os << line;
    };
    row("weights", p.weights, opt.bf16 ? "fp32 latent + bf16 copy" : "fp32 latent");
    row("gradients", p.gradients, "fp32");
    row("optimizer", p.optimizer,
        opt.adam8bit ? "AdamW m+v 8-bit, block " + std::to_string(opt.block_size) + " (tensors < " +
                           std::to_string(opt.min_8bit_numel) + " stay fp32)"
                     : "AdamW m+v fp32 (8 B/param)");
    row("activations", p.activations,
        opt.recompute
            ? "per-layer residual inputs + one layer (" + format_bytes(p.per_layer_acts_max) + ")"
            : "kept for backward, all layers");
    row("backward scratch", p.bwd_scratch, "one layer's, shared by the layers");
    row("quantised weights", p.quant_cache, "ternary W' copies in BitLinear caches");
    row("logits chunk", p.logits, std::to_string(opt.head_chunk) + " rows x vocab, fp32");
    row("workspace margin", p.margin, "512 MiB + 5% (context, fragmentation)");
    std::snprintf(line, sizeof line, "  %-20s %12s\n", "total", format_bytes(p.total).c_str());
    os << line;
    if (p.total <= budget) {
        os << "fits in " << format_bytes(budget) << " (headroom " << format_bytes(budget - p.total)
           << ")\n";
    } else {
        os << "does not fit in " << format_bytes(budget) << " (short by "
           << format_bytes(p.total - budget) << ")\n";
    }
    if (opt.bf16)
        os << "note: --bf16 is an estimate for a GPU trainer; the CPU trainer keeps its weights "
              "and activations in fp32\n";
    const int best = largest_fitting_batch(cfg, opt, budget);
    if (best > 0) {
        os << "suggestion: largest batch that fits at seq " << T << ": " << best << "\n";
        return os.str();
    }
    // Batch 1 does not fit: try the savings not yet enabled, then shorter sequences.
    PlanOptions o = opt;
    o.batch = 1;
    std::string added;
    for (int k = 0; k < 3; k++) {
        bool* flag = k == 0 ? &o.recompute : k == 1 ? &o.adam8bit : &o.bf16;
        const char* name = k == 0 ? "--recompute" : k == 1 ? "--adam8bit" : "--bf16";
        if (*flag) continue;
        *flag = true;
        added += std::string(added.empty() ? "" : " ") + name;
        if (plan_memory(cfg, o).total <= budget) {
            os << "suggestion: batch 1 fits with " << added << " (largest batch then "
               << largest_fitting_batch(cfg, o, budget) << ")\n";
            return os.str();
        }
    }
    for (int s = T / 2; s >= 1; s /= 2) {
        o.seq = s;
        if (plan_memory(cfg, o).total <= budget) {
            os << "suggestion: batch 1 fits at seq " << s << (added.empty() ? "" : " with " + added)
               << "\n";
            return os.str();
        }
    }
    os << "suggestion: nothing fits; weights, gradients and optimizer state alone need "
       << format_bytes(p.weights + p.gradients + plan_memory(cfg, o).optimizer) << "\n";
    return os.str();
}

}  // namespace np
