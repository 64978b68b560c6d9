#include "rl/rl.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <map>
#include <memory>
#include <numeric>
#include <optional>

#include "core/error.h"
#include "core/file_io.h"
#include "core/rng.h"
#include "data/gym.h"
#include "eval/eval.h"
#include "infer/generate.h"
#include "infer/packed_decoder.h"
#include "infer/packed_model.h"
#include "model/checkpoint.h"
#include "rl/objective.h"
#include "tokenizer/role_specials.h"
#include "tokenizer/tokenizer.h"
#include "train/metrics.h"
#include "train/optimizer.h"
#include "train/plot_svg.h"
#include "train/trainer.h"

#ifdef _OPENMP
#include <omp.h>
#endif

namespace np::rl {

namespace fs = std::filesystem;

void RlConfig::validate() const {
    auto need = [](bool ok, const std::string& flag, const std::string& what) {
        if (!ok) fail("rl: --" + flag + ": " + what);
    };
    need(!init.empty(), "init", "name the starting checkpoint directory");
    need(!out.empty(), "out", "name the run directory");
    need(algo == "grpo" || algo == "dpo", "algo", "expected grpo or dpo, got \"" + algo + "\"");
    int lo = 0, hi = 0;
    data::parse_difficulty_range(difficulty, lo, hi);
    need(steps >= 1, "steps", "expected >= 1");
    need(prompts >= 1, "prompts", "expected >= 1");
    need(group >= 2, "group", "expected >= 2 (advantages and pairs compare samples of a prompt)");
    need(max_tokens >= 1, "max-tokens", "expected >= 1");
    need(temperature > 0, "temperature", "expected > 0 (RL needs varied samples)");
    need(lr > 0 && std::isfinite(lr), "lr", "expected > 0");
    need(warmup >= 0, "warmup", "expected >= 0");
    need(weight_decay >= 0, "weight-decay", "expected >= 0");
    need(grad_clip >= 0, "grad-clip", "expected >= 0 (0 = off)");
    need(epochs >= 1, "epochs", "expected >= 1");
    need(clip_eps > 0 && clip_eps < 1, "clip-eps", "expected in (0, 1)");
    need(beta >= 0, "beta", "expected >= 0");
    need(algo != "dpo" || beta > 0, "beta", "DPO needs beta > 0");
    need(format_penalty >= 0, "format-penalty", "expected >= 0");
    need(length_cost >= 0, "length-cost", "expected >= 0");
    need(trace_reward >= 0, "trace-reward", "expected >= 0");
    need(micro >= 1, "micro", "expected >= 1");
    need(eval_every >= 1, "eval-every", "expected >= 1");
    need(eval_n >= 0, "eval-n", "expected >= 0");
    need(save_every >= 1, "save-every", "expected >= 1");
    need(threads >= 0, "threads", "expected >= 0");
}

nlohmann::json RlConfig::to_json() const {
    return {{"init", init},
            {"out", out},
            {"algo", algo},
            {"task", task},
            {"lang", lang},
            {"difficulty", difficulty},
            {"steps", steps},
            {"prompts", prompts},
            {"group", group},
            {"max_tokens", max_tokens},
            {"temperature", temperature},
            {"lr", lr},
            {"warmup", warmup},
            {"weight_decay", weight_decay},
            {"grad_clip", grad_clip},
            {"epochs", epochs},
            {"clip_eps", clip_eps},
            {"beta", beta},
            {"scale_by_std", scale_by_std},
            {"format_penalty", format_penalty},
            {"length_cost", length_cost},
            {"trace_reward", trace_reward},
            {"micro", micro},
            {"eval_data", eval_data},
            {"eval_every", eval_every},
            {"eval_n", eval_n},
            {"save_every", save_every},
            {"threads", threads},
            {"seed", seed}};
}

RlConfig RlConfig::from_json(const nlohmann::json& j, const std::string& origin) {
    if (!j.is_object()) fail(origin + ": expected a JSON object");
    RlConfig c;
    const nlohmann::json defaults = c.to_json();
    for (auto it = j.begin(); it != j.end(); ++it)
        if (!defaults.contains(it.key())) fail(origin + ": unknown field \"" + it.key() + "\"");
    auto get = [&](const char* key, auto& v) {
        if (!j.contains(key)) return;
        try {
            j.at(key).get_to(v);
        } catch (const nlohmann::json::exception&) {
            fail(origin + ": field \"" + key + "\" has the wrong type (" + j.at(key).dump() + ")");
        }
    };
    get("init", c.init), get("out", c.out), get("algo", c.algo), get("task", c.task);
    get("lang", c.lang), get("difficulty", c.difficulty), get("steps", c.steps);
    get("prompts", c.prompts), get("group", c.group), get("max_tokens", c.max_tokens);
    get("temperature", c.temperature), get("lr", c.lr), get("warmup", c.warmup);
    get("weight_decay", c.weight_decay), get("grad_clip", c.grad_clip), get("epochs", c.epochs);
    get("clip_eps", c.clip_eps), get("beta", c.beta), get("scale_by_std", c.scale_by_std);
    get("format_penalty", c.format_penalty), get("length_cost", c.length_cost);
    get("trace_reward", c.trace_reward);
    get("micro", c.micro), get("eval_data", c.eval_data), get("eval_every", c.eval_every);
    get("eval_n", c.eval_n), get("save_every", c.save_every), get("threads", c.threads);
    get("seed", c.seed);
    return c;
}

namespace {

using Clock = std::chrono::steady_clock;
double since(Clock::time_point t0) {
    return std::chrono::duration<double>(Clock::now() - t0).count();
}

// One sampled completion and what the update needs of it.
struct Sample {
    std::vector<int32_t> tokens;  // prompt + completion
    size_t prompt_len = 0;
    Reward reward;
    int thinking_tokens = 0;
    double advantage = 0;
    std::vector<float> lp, old_lp, ref_lp;  // per completion token (index 0 = tokens[prompt_len])
};

// Rows [r0, r0 + rc) of `rows` as one padded batch [rc, Tn]: tokens, the completion positions as
// the mask, and (when weights is given) each completion token's weight.
struct Batch {
    std::vector<int32_t> tok;
    std::vector<uint8_t> mask;
    std::vector<float> w;
    size_t Tn = 0;
};
Batch pack_rows(const std::vector<Sample*>& rows, size_t r0, size_t rc,
                const std::vector<std::vector<float>>* weights) {
    Batch b;
    for (size_t i = 0; i < rc; ++i) b.Tn = std::max(b.Tn, rows[r0 + i]->tokens.size());
    b.tok.assign(rc * b.Tn, Tokenizer::kPad);
    b.mask.assign(rc * b.Tn, 0);
    b.w.assign(weights ? rc * b.Tn : 0, 0.0f);
    for (size_t i = 0; i < rc; ++i) {
        const Sample& s = *rows[r0 + i];
        std::copy(s.tokens.begin(), s.tokens.end(), b.tok.begin() + long(i * b.Tn));
        for (size_t t = s.prompt_len; t < s.tokens.size(); ++t) {
            b.mask[i * b.Tn + t] = 1;
            if (weights) b.w[i * b.Tn + t] = (*weights)[r0 + i][t - s.prompt_len];
        }
    }
    return b;
}

// Per-token log-probs of the completions of `rows` under `m` (forward only), micro rows at a time.
void completion_logprobs(Model<float>& m, std::vector<Sample*>& rows, int micro,
                         std::vector<float> Sample::*field) {
    for (size_t r0 = 0; r0 < rows.size(); r0 += size_t(micro)) {
        const size_t rc = std::min(rows.size() - r0, size_t(micro));
        const Batch b = pack_rows(rows, r0, rc, nullptr);
        std::vector<float> lp(rc * b.Tn, 0.0f);
        m.loss(b.tok, b.mask, int(rc), int(b.Tn), false, {}, lp);
        for (size_t i = 0; i < rc; ++i) {
            Sample& s = *rows[r0 + i];
            const auto from = lp.begin() + long(i * b.Tn);
            (s.*field).assign(from + long(s.prompt_len), from + long(s.tokens.size()));
        }
    }
}

// Adds the gradient of the sum of weight * CE over the completions of `rows` into m.grads.
void weighted_backward(Model<float>& m, std::vector<Sample*>& rows,
                       const std::vector<std::vector<float>>& weights, int micro) {
    for (size_t r0 = 0; r0 < rows.size(); r0 += size_t(micro)) {
        const size_t rc = std::min(rows.size() - r0, size_t(micro));
        const Batch b = pack_rows(rows, r0, rc, &weights);
        m.loss(b.tok, b.mask, int(rc), int(b.Tn), true, b.w);
    }
}

struct StepStats {
    double objective = 0, kl = 0, clip_frac = 0;
    int64_t tokens = 0;
    int rows = 0;  // samples (GRPO) or pairs (DPO) that carried a gradient
};

// The GRPO update's per-token weights for the current log-probs.
StepStats grpo_weights(std::vector<Sample*>& rows, const RlConfig& cfg,
                       std::vector<std::vector<float>>& weights) {
    StepStats st;
    for (Sample* s : rows) st.tokens += int64_t(s->lp.size());
    const double inv_n = st.tokens ? 1.0 / double(st.tokens) : 0.0;
    int64_t clipped = 0;
    weights.assign(rows.size(), {});
    for (size_t i = 0; i < rows.size(); ++i) {
        const Sample& s = *rows[i];
        weights[i].resize(s.lp.size());
        for (size_t t = 0; t < s.lp.size(); ++t) {
            const GrpoToken g = grpo_token(s.lp[t], s.old_lp[t], s.ref_lp[t], s.advantage,
                                           cfg.clip_eps, cfg.beta, inv_n);
            weights[i][t] = float(g.weight);
            st.objective += g.objective * inv_n;
            st.kl += g.kl * inv_n;
            clipped += g.clipped;
        }
    }
    st.clip_frac = st.tokens ? double(clipped) / double(st.tokens) : 0.0;
    st.rows = int(rows.size());
    return st;
}

// DPO pairs: rows come as (chosen, rejected) couples.
StepStats dpo_weights(std::vector<Sample*>& rows, const RlConfig& cfg,
                      std::vector<std::vector<float>>& weights) {
    StepStats st;
    const size_t pairs = rows.size() / 2;
    const double inv_pairs = pairs ? 1.0 / double(pairs) : 0.0;
    weights.assign(rows.size(), {});
    auto sum = [](const std::vector<float>& v) { return std::accumulate(v.begin(), v.end(), 0.0); };
    for (size_t p = 0; p < pairs; ++p) {
        const Sample &c = *rows[2 * p], &r = *rows[2 * p + 1];
        const DpoPair d =
            dpo_pair(sum(c.lp), sum(c.ref_lp), sum(r.lp), sum(r.ref_lp), cfg.beta, inv_pairs);
        weights[2 * p].assign(c.lp.size(), float(d.chosen_weight));
        weights[2 * p + 1].assign(r.lp.size(), float(d.rejected_weight));
        st.objective -= d.loss;
        st.kl += d.margin * inv_pairs;  // reported as the mean margin
        st.tokens += int64_t(c.lp.size() + r.lp.size());
    }
    st.rows = int(pairs);
    return st;
}

// Greedy, thinking on: the share of records answered right.
double heldout_accuracy(std::shared_ptr<const infer::PackedModel> pm, const Tokenizer& tok,
                        const std::vector<nlohmann::json>& records, int max_tokens) {
    if (records.empty()) return -1;
    infer::PackedDecoder dec(std::move(pm));
    eval::EvalOptions eo;
    eo.gen.mode = infer::ThinkMode::On;
    eo.gen.max_tokens = max_tokens;
    size_t right = 0;
    for (size_t i = 0; i < records.size(); ++i)
        right += eval::evaluate_record(dec, tok, records[i], i, eo).correct;
    return double(right) / double(records.size());
}

void write_plot(const std::string& out) {
    const std::string path = (fs::path(out) / "rl_metrics.jsonl").string();
    PlotSeries reward{"reward", "#1f77b4", {}}, acc{"sample_accuracy", "#2ca02c", {}},
        held{"heldout_accuracy", "#d62728", {}}, kl{"kl", "#9467bd", {}};
    const std::string text = read_file(path);
    size_t pos = 0;
    while (pos < text.size()) {
        const size_t nl = text.find('\n', pos);
        if (nl == std::string::npos) break;
        const auto j = nlohmann::json::parse(text.substr(pos, nl - pos), nullptr, false);
        pos = nl + 1;
        if (!j.is_object() || !j.contains("step")) continue;
        const double step = j["step"].get<double>();
        if (j.contains("reward")) reward.pts.push_back({step, j["reward"].get<double>()});
        if (j.contains("sample_accuracy"))
            acc.pts.push_back({step, j["sample_accuracy"].get<double>()});
        if (j.contains("heldout_accuracy"))
            held.pts.push_back({step, j["heldout_accuracy"].get<double>()});
        if (j.contains("kl")) kl.pts.push_back({step, j["kl"].get<double>()});
    }
    std::vector<PlotPanel> panels = {{"Accuracy", "share right", {acc}},
                                     {"Reward", "mean reward", {reward}}};
    if (!held.pts.empty()) panels[0].series.push_back(held);
    panels.push_back({"KL to the start / DPO margin", "per token / per pair", {kl}});
    write_file_atomic(
        (fs::path(out) / "metrics.svg").string(),
        render_panels_svg("NanoPrime RL " + fs::path(out).filename().string(), "step", panels));
}

}  // namespace

RlResult run_rl(const RlConfig& cfg, const RlOptions& opt) {
    cfg.validate();
#ifdef _OPENMP
    if (cfg.threads > 0) omp_set_num_threads(cfg.threads);
#endif
    RlResult res;
    const std::string resume_dir = opt.resume ? latest_checkpoint(cfg.out) : "";
    if (opt.resume && resume_dir.empty())
        fail("rl: --resume: " + cfg.out + " has no checkpoint yet (ckpt/step_*)");
    if (opt.resume)
        for (const std::string& t : remove_interrupted_saves(cfg.out))
            std::fprintf(stderr, "removed %s (a save cut short by an earlier interruption)\n",
                         t.c_str());
    if (!opt.resume && fs::exists(fs::path(cfg.out) / "rl_config.json"))
        fail("rl: " + cfg.out + " already holds a run; resume it with --resume " + cfg.out +
             " or pick another --out");
    const std::string tok_path = (fs::path(cfg.init) / "tokenizer.json").string();
    if (!fs::exists(tok_path)) fail("rl: --init " + cfg.init + " has no tokenizer.json");
    const Tokenizer tok = load_model_tokenizer(tok_path);
    Model<float> ref = load_checkpoint(cfg.init);
    eval::check_tokenizer(tok, ref.cfg.vocab_size, tok_path);
    Model<float> policy = load_checkpoint(resume_dir.empty() ? cfg.init : resume_dir);
    AdamWConfig acfg;
    acfg.weight_decay = float(cfg.weight_decay);
    AdamW adam(policy.layout, acfg);
    int64_t step = 0;
    double elapsed0 = 0;
    if (!resume_dir.empty()) {
        adam.deserialize(read_file((fs::path(resume_dir) / "optimizer.bin").string()),
                         resume_dir + "/optimizer.bin");
        const auto st =
            nlohmann::json::parse(read_file((fs::path(resume_dir) / "rl_state.json").string()));
        step = st.at("step").get<int64_t>();
        elapsed0 = st.at("elapsed").get<double>();
        truncate_jsonl_after((fs::path(cfg.out) / "rl_metrics.jsonl").string(), step);
    } else {
        fs::create_directories(cfg.out);
        write_file_atomic((fs::path(cfg.out) / "rl_config.json").string(),
                          cfg.to_json().dump(2) + "\n");
        write_file_atomic((fs::path(cfg.out) / "rl_metrics.jsonl").string(), std::string());
    }
    std::vector<nlohmann::json> eval_records;
    if (!cfg.eval_data.empty())
        eval_records = eval::read_records(cfg.eval_data, cfg.eval_n > 0 ? cfg.eval_n : -1);

    data::GymSetOptions gym;
    gym.task = cfg.task;
    gym.lang = cfg.lang;
    data::parse_difficulty_range(cfg.difficulty, gym.min_difficulty, gym.max_difficulty);
    gym.split = data::GymSplit::Train;
    gym.seed = cfg.seed;
    RewardOptions ropt{cfg.format_penalty, cfg.length_cost, cfg.max_tokens, cfg.trace_reward};

    const std::string tok_json = read_file(tok_path);
    auto save = [&](const std::string& dir, int64_t s, double elapsed) {
        std::map<std::string, std::string> extra = {{"tokenizer.json", tok_json}};
        if (dir.find("/ckpt/") != std::string::npos) {
            extra["optimizer.bin"] = adam.serialize();
            extra["rl_state.json"] =
                nlohmann::json{{"step", s}, {"elapsed", elapsed}}.dump() + "\n";
        }
        save_checkpoint(dir, policy, extra);
    };
    const auto t_start = Clock::now();
    std::FILE* log = std::fopen((fs::path(cfg.out) / "rl_metrics.jsonl").string().c_str(), "ab");
    if (!log) fail("rl: cannot append to " + cfg.out + "/rl_metrics.jsonl");
    std::unique_ptr<std::FILE, int (*)(std::FILE*)> log_closer(log, std::fclose);
    auto append = [&](const nlohmann::json& row) {
        const std::string line = row.dump() + "\n";
        std::fwrite(line.data(), 1, line.size(), log);
        std::fflush(log);
    };
    const int64_t last = opt.stop_at > 0 ? std::min(opt.stop_at, cfg.steps) : cfg.steps;
    auto evaluate = [&](int64_t at) {
        const auto pm = infer::PackedModel::from_checkpoint(policy, kern::TernaryFormat::TQ2_0);
        const double a = heldout_accuracy(pm, tok, eval_records, cfg.max_tokens);
        if (res.first_heldout < 0) res.first_heldout = a;
        res.last_heldout = a;
        if (opt.progress)
            std::fprintf(stderr, "rl step %lld: held-out accuracy %.1f%% (%zu problems)\n",
                         (long long)at, 100 * a, eval_records.size());
        return a;
    };
    if (!eval_records.empty() && resume_dir.empty())
        append({{"step", 0}, {"heldout_accuracy", evaluate(0)}, {"elapsed", since(t_start)}});
    const int64_t first_step = step;
    while (step < last) {
        const auto pm = infer::PackedModel::from_checkpoint(policy, kern::TernaryFormat::TQ2_0);
        const auto t0 = Clock::now();
        // ---- sample ----
        infer::PackedDecoder dec(pm);
        std::vector<Sample> samples(size_t(cfg.prompts) * size_t(cfg.group));
        std::vector<nlohmann::json> records(size_t(cfg.prompts));
        for (int p = 0; p < cfg.prompts; ++p) {
            const data::GymRecord rec =
                data::gym_candidate(gym, size_t(step) * size_t(cfg.prompts) + size_t(p));
            records[size_t(p)] = rec.to_json();
            const std::vector<int32_t> prompt =
                infer::build_prompt(tok, rec.question, infer::ThinkMode::On);
            for (int k = 0; k < cfg.group; ++k) {
                infer::GenerateOptions g;
                g.mode = infer::ThinkMode::On;
                g.max_tokens = cfg.max_tokens;
                g.sampling.temperature = float(cfg.temperature);
                g.sampling.seed = splitmix64(
                    splitmix64(splitmix64(cfg.seed ^ uint64_t(step)) ^ uint64_t(p)) ^ uint64_t(k));
                const infer::Generation gen = infer::generate(dec, tok, prompt, g);
                Sample& s = samples[size_t(p) * size_t(cfg.group) + size_t(k)];
                s.prompt_len = prompt.size();
                s.tokens = prompt;
                // The last generated token was never fed back; it is still a trained target.
                s.tokens.insert(s.tokens.end(), gen.tokens.begin(), gen.tokens.end());
                s.thinking_tokens = gen.thinking_tokens;
                s.reward = reward(records[size_t(p)], gen.text, gen.thinking_tokens, ropt);
            }
        }
        const double sample_s = since(t0);
        // ---- choose the rows that carry a gradient ----
        std::vector<double> rewards;
        for (const Sample& s : samples) rewards.push_back(s.reward.value);
        std::vector<Sample*> rows;
        if (cfg.algo == "grpo") {
            const std::vector<double> adv = group_advantages(rewards, cfg.group, cfg.scale_by_std);
            for (size_t i = 0; i < samples.size(); ++i) {
                samples[i].advantage = adv[i];
                if (adv[i] != 0 && samples[i].tokens.size() > samples[i].prompt_len)
                    rows.push_back(&samples[i]);
            }
        } else {
            for (int p = 0; p < cfg.prompts; ++p) {
                std::vector<Sample*> right, wrong;
                for (int k = 0; k < cfg.group; ++k) {
                    Sample& s = samples[size_t(p) * size_t(cfg.group) + size_t(k)];
                    (s.reward.correct ? right : wrong).push_back(&s);
                }
                for (size_t i = 0; i < std::min(right.size(), wrong.size()); ++i) {
                    rows.push_back(right[i]);
                    rows.push_back(wrong[i]);
                }
            }
        }
        // ---- update ----
        const auto t1 = Clock::now();
        StepStats st;
        double grad_norm = 0;
        const double lr =
            cfg.lr * (cfg.warmup > 0 ? std::min(1.0, double(step + 1) / double(cfg.warmup)) : 1.0);
        if (!rows.empty()) {
            completion_logprobs(ref, rows, cfg.micro, &Sample::ref_lp);
            completion_logprobs(policy, rows, cfg.micro, &Sample::old_lp);
            for (int e = 0; e < cfg.epochs; ++e) {
                if (e == 0) {
                    for (Sample* s : rows) s->lp = s->old_lp;
                } else {
                    completion_logprobs(policy, rows, cfg.micro, &Sample::lp);
                }
                std::vector<std::vector<float>> weights;
                const StepStats es = cfg.algo == "grpo" ? grpo_weights(rows, cfg, weights)
                                                        : dpo_weights(rows, cfg, weights);
                if (e == 0) st = es;
                policy.zero_grad();
                weighted_backward(policy, rows, weights, cfg.micro);
                grad_norm = grad_global_norm(policy.backend(), policy.grads);
                if (!std::isfinite(grad_norm))
                    fail("rl: non-finite gradient at step " + std::to_string(step + 1));
                if (cfg.grad_clip > 0 && grad_norm > cfg.grad_clip) {
                    policy.backend().scale(policy.grads.data(), policy.grads.size(),
                                           float(cfg.grad_clip / grad_norm));
                }
                adam.step(policy.backend(), policy.params, policy.grads, lr);
            }
        }
        ++step;
        const double update_s = since(t1);
        int right = 0, formed = 0;
        double mean_reward = 0, think = 0;
        for (const Sample& s : samples) {
            right += s.reward.correct;
            formed += s.reward.well_formed;
            mean_reward += s.reward.value;
            think += s.thinking_tokens;
        }
        const double n = double(samples.size());
        const double elapsed = elapsed0 + since(t_start);
        nlohmann::json row = {{"step", step},
                              {"reward", mean_reward / n},
                              {"sample_accuracy", right / n},
                              {"well_formed", formed / n},
                              {"mean_thinking_tokens", think / n},
                              {"rows", st.rows},
                              {"objective", st.objective},
                              {"kl", st.kl},
                              {"clip_frac", st.clip_frac},
                              {"tokens", st.tokens},
                              {"grad_norm", grad_norm},
                              {"lr", lr},
                              {"sample_s", sample_s},
                              {"update_s", update_s},
                              {"elapsed", elapsed}};
        // Measured before the checkpoint is written, so a resumed run never measures it again.
        if (!eval_records.empty() && (step % cfg.eval_every == 0 || step == cfg.steps))
            row["heldout_accuracy"] = evaluate(step);
        append(row);
        res.last_reward = mean_reward / n;
        if (opt.progress) {
            const double per = since(t_start) / double(step - first_step);
            std::fprintf(stderr,
                         "rl step %lld/%lld | reward %.3f | right %.0f%% | %s %.4f | rows %d | "
                         "%.1fs sample + %.1fs update | ETA %s\n",
                         (long long)step, (long long)cfg.steps, mean_reward / n, 100 * right / n,
                         cfg.algo == "grpo" ? "kl" : "margin", st.kl, st.rows, sample_s, update_s,
                         format_duration(per * double(cfg.steps - step)).c_str());
        }
        res.interrupted = opt.interrupt && opt.interrupt->load() != 0 && step < last;
        if (step % cfg.save_every == 0 || step == last || res.interrupted)
            save((fs::path(cfg.out) / "ckpt" / step_dir_name(step)).string(), step, elapsed);
        if (res.interrupted) break;
    }
    res.steps_done = step;
    if (step == cfg.steps)
        save((fs::path(cfg.out) / "final").string(), step, elapsed0 + since(t_start));
    write_plot(cfg.out);
    return res;
}

}  // namespace np::rl
