#include "train/trainer.h"

#include <algorithm>
#include <bit>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <thread>
#include <vector>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "core/error.h"
#include "core/file_io.h"
#include "core/rng.h"
#include "data/mixture.h"
#include "eval/eval.h"
#include "infer/generate.h"
#include "infer/reference_decoder.h"
#include "model/checkpoint.h"
#include "model/model.h"
#include "tokenizer/role_specials.h"
#include "tokenizer/tokenizer.h"
#include "train/metrics.h"
#include "train/optimizer.h"
#include "train/schedule.h"

namespace np {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

// A data config JSON, or a shard directory / single .npts file as a one-source mixture.
data::DataConfig data_config_for(const std::string& path, const std::string& split, uint64_t seed,
                                 const std::string& field) {
    if (!fs::exists(path)) fail("train config: " + field + " \"" + path + "\" does not exist");
    if (fs::path(path).extension() == ".json") return data::DataConfig::load(path);
    data::DataConfig c;
    c.seed = seed;
    c.sources.push_back({"data", path, split, true, false});
    c.phases.push_back({"all", 1.0, {1.0}});
    return c;
}

// tokenizer.json of the initial checkpoint, else beside the data (config file or first source).
std::string find_tokenizer(const TrainConfig& cfg, const data::DataConfig& dc) {
    std::vector<fs::path> candidates;
    if (fs::is_directory(cfg.init)) candidates.push_back(fs::path(cfg.init) / "tokenizer.json");
    const fs::path data(cfg.data);
    candidates.push_back((fs::is_directory(data) ? data : data.parent_path()) / "tokenizer.json");
    for (const auto& s : dc.sources) {
        const fs::path p(s.path);
        candidates.push_back((fs::is_directory(p) ? p : p.parent_path()) / "tokenizer.json");
    }
    for (const auto& c : candidates)
        if (fs::is_regular_file(c)) return c.string();
    return "";
}

SeqCurriculum curriculum_of(const TrainConfig& cfg) {
    if (cfg.seq.find('@') == std::string::npos) return SeqCurriculum(std::stoi(cfg.seq));
    return SeqCurriculum::parse(cfg.seq, "train config: seq");
}

// Doubles go into trainer_state.json as their bit patterns so a resume restores them exactly.
std::string bits_of(double x) {
    char buf[24];
    std::snprintf(buf, sizeof buf, "%016llx", (unsigned long long)std::bit_cast<uint64_t>(x));
    return buf;
}
double double_of(const nlohmann::json& j) {
    return std::bit_cast<double>(uint64_t(std::stoull(j.get<std::string>(), nullptr, 16)));
}

std::vector<std::pair<int64_t, fs::path>> list_checkpoints(const std::string& run_dir) {
    std::vector<std::pair<int64_t, fs::path>> out;
    const fs::path ck = fs::path(run_dir) / "ckpt";
    if (!fs::is_directory(ck)) return out;
    for (const auto& e : fs::directory_iterator(ck)) {
        const std::string n = e.path().filename().string();
        // Temporary directories of an interrupted save ("step_000010.tmp...") do not match.
        if (!e.is_directory() || n.size() <= 5 || n.rfind("step_", 0) != 0) continue;
        if (!std::all_of(n.begin() + 5, n.end(), [](char c) { return c >= '0' && c <= '9'; }))
            continue;
        out.emplace_back(std::stoll(n.substr(5)), e.path());
    }
    std::sort(out.begin(), out.end());
    return out;
}

void check_ids(std::span<const int32_t> ids, int vocab, const std::string& what) {
    for (int32_t id : ids)
        if (id < 0 || id >= vocab)
            fail(what + ": token id " + std::to_string(id) +
                 " is outside the model's vocabulary (vocab_size " + std::to_string(vocab) + ")");
}

std::string format_g(double x) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%g", x);
    return buf;
}

// The guard's running statistics: everything besides model/optimizer/sampler that a resume needs.
struct GuardState {
    double loss_ema = 0;
    int64_t ema_n = 0, consecutive = 0, skipped = 0;
};

// Dropout seed of global micro-batch `micro` of optimizer step `step` (0-based): a function of the
// step, not of the history, so a resumed run and any number of ranks draw the same masks.
uint64_t dropout_seed(uint64_t seed, int64_t step, int micro) {
    return splitmix64(splitmix64(splitmix64(seed ^ 0x64726f706f7574ull) ^ uint64_t(step)) ^
                      uint64_t(micro));
}

// The questions of --sample-prompts: JSONL objects with "question", or plain text lines.
std::vector<std::string> load_sample_prompts(const std::string& path) {
    if (path.empty()) return {"What is 12 + 7?", "What is 6 * 8?"};
    if (!fs::is_regular_file(path))
        fail("train config: sample_prompts \"" + path + "\" is not a file");
    const std::string text = read_file(path);
    std::vector<std::string> out;
    size_t pos = 0, line_no = 0;
    while (pos < text.size()) {
        size_t nl = text.find('\n', pos);
        if (nl == std::string::npos) nl = text.size();
        std::string line = text.substr(pos, nl - pos);
        pos = nl + 1;
        line_no++;
        if (!line.empty() && line.back() == '\r') line.pop_back();
        if (line.find_first_not_of(" \t") == std::string::npos) continue;
        if (line.front() == '{') {
            try {
                const auto j = nlohmann::json::parse(line);
                out.push_back(j.at("question").get<std::string>());
            } catch (const nlohmann::json::exception& e) {
                fail("sample_prompts " + path + " line " + std::to_string(line_no) +
                     ": expected a JSON object with a string \"question\" (" + e.what() + ")");
            }
        } else {
            out.push_back(line);
        }
    }
    if (out.empty()) fail("sample_prompts " + path + ": no prompts in the file");
    return out;
}

}  // namespace

std::string step_dir_name(int64_t step) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "step_%06lld", (long long)step);
    return buf;
}

void truncate_jsonl_after(const std::string& path, int64_t upto) {
    if (!fs::exists(path)) return;
    const std::string text = read_file(path);
    std::string kept;
    size_t pos = 0;
    while (pos < text.size()) {
        const size_t nl = text.find('\n', pos);
        if (nl == std::string::npos) break;  // a torn last line (killed run)
        const std::string line = text.substr(pos, nl - pos);
        pos = nl + 1;
        const auto j = nlohmann::json::parse(line, nullptr, false);
        if (j.is_object() && j.contains("step") && j["step"].is_number_integer() &&
            j["step"].get<int64_t>() <= upto)
            kept += line + "\n";
    }
    write_file_atomic(path, kept);
}

std::vector<std::string> remove_interrupted_saves(const std::string& run_dir) {
    // write_directory_atomic names its work "<target>.tmp.<pid>" and "<target>.old.<pid>".
    std::vector<std::string> removed;
    for (const fs::path& dir : {fs::path(run_dir), fs::path(run_dir) / "ckpt"}) {
        if (!fs::is_directory(dir)) continue;
        for (const auto& e : fs::directory_iterator(dir)) {
            const std::string n = e.path().filename().string();
            const bool ours = n.rfind("step_", 0) == 0 || n.rfind("final", 0) == 0;
            if (e.is_directory() && ours &&
                (n.find(".tmp.") != std::string::npos || n.find(".old.") != std::string::npos)) {
                std::error_code ec;
                fs::remove_all(e.path(), ec);
                if (ec)
                    fail("train: cannot remove " + e.path().string() + " (" + ec.message() + ")");
                removed.push_back(e.path().string());
            }
        }
    }
    return removed;
}

std::string latest_checkpoint(const std::string& run_dir) {
    auto all = list_checkpoints(run_dir);
    return all.empty() ? "" : all.back().second.string();
}

TrainResult train(const TrainConfig& cfg, const TrainOptions& opt) {
    cfg.validate();
    if (!opt.dry_run && cfg.out.empty()) fail("train config: out must name the run directory");
    const Communicator self(false);
    const Communicator& comm = opt.comm ? *opt.comm : self;
    const int ranks = comm.size(), rank = comm.rank();
    const bool root = comm.root();
    if (cfg.accum % ranks != 0)
        fail("train: accum " + std::to_string(cfg.accum) + " must be a multiple of the " +
             std::to_string(ranks) +
             " ranks: a step's global batch is batch x accum rows and every rank runs accum / "
             "ranks of its micro-batches (raise accum, lowering batch to keep the global batch)");
    const int local_accum = cfg.accum / ranks;
#ifdef _OPENMP
    if (cfg.threads > 0)
        omp_set_num_threads(cfg.threads);
    else if (ranks > 1 && !std::getenv("OMP_NUM_THREADS"))
        // The ranks on one machine share its cores instead of each starting a thread per core.
        omp_set_num_threads(
            std::max(1, int(std::thread::hardware_concurrency()) / comm.local_size()));
#endif
    const data::DataConfig dcfg = data_config_for(cfg.data, "train", cfg.seed, "data");
    data::MixtureSampler sampler(dcfg);
    const SeqCurriculum curriculum = curriculum_of(cfg);

    // Model: the newest checkpoint (resume), an initial checkpoint, or a preset.
    std::string resume_dir = opt.resume ? latest_checkpoint(cfg.out) : "";
    std::optional<Model<float>> model;
    if (!resume_dir.empty())
        model.emplace(load_checkpoint(resume_dir));
    else if (fs::is_directory(cfg.init))
        model.emplace(load_checkpoint(cfg.init));
    else {
        ModelConfig mc;
        try {
            mc = ModelConfig::preset(cfg.init);
        } catch (const Error& e) {
            fail("train config: init \"" + cfg.init +
                 "\" is neither a checkpoint directory nor a preset (" + e.what() + ")");
        }
        model.emplace(mc);
        model->init_random(cfg.seed);
    }
    Model<float>& m = *model;
    if (curriculum.max_len() > m.cfg.max_seq_len)
        fail("train config: seq " + std::to_string(curriculum.max_len()) +
             " exceeds the model's max_seq_len " + std::to_string(m.cfg.max_seq_len));
    const std::string tokenizer = find_tokenizer(cfg, dcfg);
    Model<float>::TrainOptions topt;
    topt.dropout = float(cfg.dropout);
    topt.label_smoothing = float(cfg.label_smoothing);
    topt.recompute = cfg.recompute;

    // Sample generations: checked up front so a bad file fails before any training.
    std::optional<Tokenizer> sample_tok;
    std::vector<std::string> sample_prompts;
    if (cfg.sample_every > 0) {
        if (tokenizer.empty())
            fail(
                "train config: sample_every needs a tokenizer.json in the init checkpoint or "
                "beside the data");
        sample_tok.emplace(load_model_tokenizer(tokenizer));
        eval::check_tokenizer(*sample_tok, m.cfg.vocab_size, tokenizer);
        sample_prompts = load_sample_prompts(cfg.sample_prompts);
    }

    AdamWConfig ac;
    ac.weight_decay = float(cfg.weight_decay);
    ac.state_8bit = cfg.adam8bit;
    AdamW adam(m.layout, ac);
    LrSchedule sched;
    sched.base_lr = cfg.lr;
    sched.total_steps = cfg.steps;
    sched.warmup_frac = cfg.warmup;
    sched.decay_frac = cfg.decay;
    sched.shape = parse_decay_shape(cfg.decay_shape);
    sched.min_lr_ratio = cfg.min_lr_ratio;
    LeracSchedule lerac;
    lerac.end_step = cfg.lerac_end_step;
    std::vector<float> lr_mult(cfg.lerac_end_step > 0 ? m.layout.specs.size() : 0);
    // Only rank 0 writes checkpoints, so only it keeps the average.
    std::optional<Swa> swa;
    if (cfg.swa_start > 0 && root) swa.emplace(m.params.size(), cfg.swa_start, cfg.swa_every);

    TrainResult res;
    GuardState guard;
    int64_t step = 0, tokens_total = 0;
    double elapsed_before = 0;
    if (!resume_dir.empty()) {
        const fs::path d(resume_dir);
        adam.deserialize(read_file((d / "optimizer.bin").string()), (d / "optimizer.bin").string());
        const std::string sp = (d / "trainer_state.json").string();
        try {
            const auto st = nlohmann::json::parse(read_file(sp));
            step = st.at("step").get<int64_t>();
            tokens_total = st.at("tokens").get<int64_t>();
            elapsed_before = st.at("elapsed").get<double>();
            guard.loss_ema = double_of(st.at("loss_ema"));
            guard.ema_n = st.at("ema_n").get<int64_t>();
            guard.consecutive = st.at("consecutive_skips").get<int64_t>();
            guard.skipped = st.at("skipped").get<int64_t>();
            sampler.load_state(st.at("sampler"));
        } catch (const nlohmann::json::exception& e) {
            fail(sp + ": malformed trainer state (" + e.what() + ")");
        }
        if (swa) {
            const fs::path sw = d / "swa.bin";
            if (fs::exists(sw)) swa->deserialize(read_file(sw.string()), sw.string());
        }
    } else if (opt.resume && !fs::exists(cfg.out)) {
        fail("--resume: run directory " + cfg.out + " does not exist");
    }
    if (opt.resume && step >= cfg.steps) {
        res.already_finished = true;
        res.steps_done = step;
        return res;
    }
    if (opt.stop_at > 0 && opt.stop_at <= step)
        fail("--stop-at " + std::to_string(opt.stop_at) + ": the run is already at step " +
             std::to_string(step) + " (give a later step, up to " + std::to_string(cfg.steps) +
             ")");
    if (opt.resume && root && !opt.dry_run)
        for (const std::string& t : remove_interrupted_saves(cfg.out))
            std::fprintf(stderr, "removed %s (a save cut short by an earlier interruption)\n",
                         t.c_str());

    // Fixed validation rows, drawn once at the longest sequence length.
    std::vector<int32_t> val_ids;
    std::vector<uint8_t> val_mask;
    const int val_len = curriculum.max_len();
    if (!cfg.val_data.empty()) {
        data::MixtureSampler vs(data_config_for(cfg.val_data, "val", cfg.seed, "val_data"));
        val_ids.resize(size_t(cfg.val_rows) * val_len);
        val_mask.resize(val_ids.size());
        vs.next_batch(cfg.val_rows, val_len, 0.0, val_ids, val_mask);
        check_ids(val_ids, m.cfg.vocab_size, "val_data " + cfg.val_data);
    }
    // Plain cross-entropy (no smoothing); the ranks share the chunks of batch rows.
    auto val_loss = [&]() {
        m.train_opts = {};
        double sum[2] = {0, 0};  // loss x targets, targets
        int chunk = 0;
        for (int r = 0; r < cfg.val_rows; r += cfg.batch, chunk++) {
            if (chunk % ranks != rank) continue;
            const int rows = std::min(cfg.batch, cfg.val_rows - r);
            const size_t off = size_t(r) * val_len, len = size_t(rows) * val_len;
            LossResult lr = m.loss(std::span(val_ids).subspan(off, len),
                                   std::span(val_mask).subspan(off, len), rows, val_len, false);
            sum[0] += lr.loss * double(lr.tokens);
            sum[1] += double(lr.tokens);
        }
        comm.allreduce_sum(std::span(sum));
        return sum[1] > 0 ? sum[0] / sum[1] : 0.0;
    };

    auto save = [&](int64_t s, double elapsed) {
        std::map<std::string, std::string> extra;
        extra["optimizer.bin"] = adam.serialize();
        nlohmann::json st = {{"step", s},
                             {"tokens", tokens_total},
                             {"elapsed", elapsed},
                             {"loss_ema", bits_of(guard.loss_ema)},
                             {"ema_n", guard.ema_n},
                             {"consecutive_skips", guard.consecutive},
                             {"skipped", guard.skipped},
                             {"sampler", sampler.state_json()}};
        extra["trainer_state.json"] = st.dump(1) + "\n";
        if (swa) extra["swa.bin"] = swa->serialize();
        if (!tokenizer.empty()) extra["tokenizer.json"] = read_file(tokenizer);
        save_checkpoint((fs::path(cfg.out) / "ckpt" / step_dir_name(s)).string(), m, extra);
        auto all = list_checkpoints(cfg.out);
        for (size_t i = 0; i + size_t(cfg.keep_last) < all.size(); i++)
            fs::remove_all(all[i].second);
    };

    std::optional<MetricsLog> log;
    const fs::path samples_path = fs::path(cfg.out) / "samples.jsonl";
    if (!opt.dry_run) {
        if (!opt.resume && (fs::exists(fs::path(cfg.out) / "metrics.jsonl") ||
                            fs::exists(fs::path(cfg.out) / "ckpt")))
            fail("train: run directory " + cfg.out + " already holds a run (use --resume " +
                 cfg.out + " to continue it, or another --out)");
        // Every rank has looked before rank 0 creates the files.
        comm.barrier();
        if (root) {
            if (!opt.resume) {
                fs::create_directories(cfg.out);
                write_file_atomic((fs::path(cfg.out) / "train_config.json").string(),
                                  cfg.to_json().dump(2) + "\n");
            }
            log.emplace((fs::path(cfg.out) / "metrics.jsonl").string(), step);
            truncate_jsonl_after(samples_path.string(), step);
        }
    }

    const int64_t end = opt.dry_run
                            ? std::min<int64_t>(cfg.steps, step + opt.dry_run_steps)
                            : (opt.stop_at > 0 ? std::min(cfg.steps, opt.stop_at) : cfg.steps);
    ProgressLine progress(cfg.steps, cfg.log_every, opt.progress && root, root);
    if (!resume_dir.empty())
        progress.message("resumed from " + resume_dir + " at step " + std::to_string(step));
    if (ranks > 1) {
        int threads = 1;
#ifdef _OPENMP
        threads = omp_get_max_threads();
#endif
        progress.message("data parallel: " + std::to_string(ranks) + " ranks x " +
                         std::to_string(threads) + " threads, " + std::to_string(local_accum) +
                         " micro-batch(es) of " + std::to_string(cfg.batch) +
                         " rows per rank and step");
    }

    // Greedy generations from a copy of the weights (decoding must not disturb the training
    // model's buffers); rank 0 only.
    std::optional<infer::ReferenceDecoder> sample_dec;
    auto write_samples = [&](int64_t s) {
        if (!sample_dec) sample_dec.emplace(Model<float>(m.cfg));
        sample_dec->model().params = m.params;
        infer::GenerateOptions g;
        g.mode = infer::ThinkMode::Auto;
        g.max_tokens = 64;
        const auto dump = [](const std::string& x) {
            return nlohmann::json(x).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
        };
        std::string lines;
        for (const std::string& q : sample_prompts) {
            const auto prompt = infer::build_prompt(*sample_tok, q, g.mode);
            const infer::Generation gen = infer::generate(*sample_dec, *sample_tok, prompt, g);
            lines += "{\"step\":" + std::to_string(s) + ",\"prompt\":" + dump(q) +
                     ",\"output\":" + dump(gen.text) + "}\n";
            progress.message("sample at step " + std::to_string(s) + ": " + dump(q) + " -> " +
                             dump(gen.text));
        }
        std::FILE* f = std::fopen(samples_path.string().c_str(), "ab");
        if (!f) fail("train: cannot append to " + samples_path.string());
        const bool ok = std::fwrite(lines.data(), 1, lines.size(), f) == lines.size();
        if (std::fclose(f) != 0 || !ok) fail("train: cannot write " + samples_path.string());
    };

    res.ranks = ranks;
    std::vector<int32_t> ids;
    std::vector<uint8_t> mask;
    const auto run_start = Clock::now();
    double timed_seconds = 0;
    int64_t timed_steps = 0, run_steps = 0, timed_tokens = 0;
    int last_len = 0;
    bool last_loss_finite = true;
    while (step < end) {
        const auto t0 = Clock::now();
        const int len = curriculum.at_step(step, cfg.steps);
        last_len = len;
        const int rows = cfg.batch * cfg.accum;
        ids.resize(size_t(rows) * len);
        mask.resize(ids.size());
        sampler.next_batch(rows, len, double(step) / double(cfg.steps), ids, mask);
        check_ids(ids, m.cfg.vocab_size, "data " + cfg.data);

        // Every micro-batch adds the gradient of its summed cross-entropy into m.grads; one scale
        // by 1/targets at the end makes the step's loss and gradient the mean over every target of
        // the step (on all ranks), as one big batch would give.
        double loss = 0;
        int64_t ntok = 0;
        m.zero_grad();
        for (int j = 0; j < local_accum; j++) {
            const int a = rank * local_accum + j;  // global micro-batch index
            const size_t off = size_t(a) * cfg.batch * len, n = size_t(cfg.batch) * len;
            m.train_opts = topt;
            m.train_opts.dropout_seed = dropout_seed(cfg.seed, step, a);
            m.train_opts.grad_of_sum = true;
            LossResult lr = m.loss(std::span(ids).subspan(off, n), std::span(mask).subspan(off, n),
                                   cfg.batch, len, true);
            loss += lr.loss * double(lr.tokens);
            ntok += lr.tokens;
        }
        if (ranks > 1) {
            comm.allreduce_sum(std::span(m.grads));
            double sums[2] = {loss, double(ntok)};
            comm.allreduce_sum(std::span(sums));
            loss = sums[0];
            ntok = int64_t(sums[1]);
        }
        const double inv = ntok > 0 ? 1.0 / double(ntok) : 0.0;
        loss *= inv;
        for (float& g : m.grads) g = float(double(g) * inv);
        if (opt.after_backward) opt.after_backward(step, m.grads, loss);

        const double gnorm = cfg.clip > 0 ? clip_grad_norm(m.backend(), m.grads, cfg.clip)
                                          : grad_global_norm(m.backend(), m.grads);
        const double lr = sched.lr(step);
        // A batch whose every target is masked (a chat window without an assistant turn) has
        // nothing to learn from: it is skipped like a bad step, and it neither feeds the running
        // mean (a mean of 0 would make every later step a "spike") nor resets the skip count.
        const bool empty = ntok == 0;
        const bool spike = cfg.spike_factor > 0 && guard.ema_n > 0 && guard.loss_ema > 0 &&
                           step >= sched.warmup_steps() && loss > cfg.spike_factor * guard.loss_ema;
        const bool skip = empty || !std::isfinite(loss) || !std::isfinite(gnorm) || spike;
        last_loss_finite = empty || std::isfinite(loss);
        if (skip) {
            guard.skipped++;
            guard.consecutive++;
            std::string why;
            if (empty)
                why = "no loss targets in the batch (every target masked)";
            else
                why = "loss " + format_g(loss) + ", grad_norm " + format_g(gnorm) +
                      (spike ? " > spike_factor x running mean " + format_g(guard.loss_ema) : "");
            progress.warn("step " + std::to_string(step + 1) + " skipped: " + why + " (" +
                          std::to_string(guard.consecutive) + " in a row)");
            if (guard.consecutive >= cfg.max_skips)
                fail("train: " +
                     std::string(last_loss_finite ? "stopping" : "training diverged, stopping") +
                     " at step " + std::to_string(step + 1) + ": " +
                     std::to_string(guard.consecutive) +
                     " consecutive steps were skipped, the last for " + why + " (max_skips " +
                     std::to_string(cfg.max_skips) +
                     "); lower lr, raise warmup, or check that the data has loss targets");
        } else {
            guard.consecutive = 0;
            if (!lr_mult.empty()) lerac.multipliers(m.layout, m.cfg.n_layers, step, lr_mult);
            adam.step(m.backend(), m.params, m.grads, lr, lr_mult);
            if (const ParamSpec* bad = find_non_finite(m.layout, m.params))
                fail("train: training diverged at step " + std::to_string(step + 1) + " (lr " +
                     format_g(lr) + "): tensor " + bad->name +
                     " became non-finite; nothing was saved from this step on (" +
                     (latest_checkpoint(cfg.out).empty()
                          ? std::string("no checkpoint yet")
                          : "the newest checkpoint is " + latest_checkpoint(cfg.out)) +
                     "); lower lr or raise warmup");
            guard.loss_ema = guard.ema_n == 0 ? loss : 0.9 * guard.loss_ema + 0.1 * loss;
            guard.ema_n++;
            tokens_total += ntok;
        }
        step++;
        run_steps++;
        if (swa && !skip && swa->due(step, cfg.steps)) swa->update(m.params);

        const double dt = std::chrono::duration<double>(Clock::now() - t0).count();
        if (run_steps > 1 || !opt.dry_run) timed_seconds += dt, timed_steps++, timed_tokens += ntok;
        MetricRow row;
        row.step = step;
        row.loss = loss;
        row.lr = lr;
        row.grad_norm = gnorm;
        row.tokens = tokens_total;
        row.tok_s = dt > 0 ? double(ntok) / dt : 0;
        row.elapsed =
            elapsed_before + std::chrono::duration<double>(Clock::now() - run_start).count();
        row.skipped = skip;
        if (!val_ids.empty() &&
            ((cfg.eval_every > 0 && step % cfg.eval_every == 0) || step == cfg.steps))
            row.val_loss = val_loss();
        if (log) log->append(row);
        const double mean_dt =
            std::chrono::duration<double>(Clock::now() - run_start).count() / double(run_steps);
        progress.update(row, mean_dt * double(cfg.steps - step));
        if (!empty) res.last_loss = loss;

        if (!opt.dry_run && root && cfg.sample_every > 0 && step % cfg.sample_every == 0)
            write_samples(step);
        const bool interrupted = opt.interrupt && comm.any(opt.interrupt->load() != 0);
        const bool due = (cfg.save_every > 0 && step % cfg.save_every == 0) || step == end;
        if (!opt.dry_run && (due || interrupted)) {
            comm.check_identical(m.params, "the model weights");
            if (!last_loss_finite)
                progress.warn("step " + std::to_string(step) +
                              ": no checkpoint written, the step's loss is non-finite");
            else if (root)
                save(step, row.elapsed);
        }
        if (interrupted) {
            res.interrupted = true;
            break;
        }
    }
    progress.finish();
    if (!last_loss_finite && !opt.dry_run)
        fail("train: training diverged: the loss of the last step (" + std::to_string(step) +
             ") is non-finite, so final/ was not written (" +
             (latest_checkpoint(cfg.out).empty()
                  ? std::string("no checkpoint was written")
                  : "the newest checkpoint is " + latest_checkpoint(cfg.out)) +
             "); lower lr or raise warmup");
    if (!opt.dry_run && root && step == cfg.steps && end == cfg.steps && !res.interrupted) {
        std::map<std::string, std::string> extra;
        if (!tokenizer.empty()) extra["tokenizer.json"] = read_file(tokenizer);
        save_checkpoint((fs::path(cfg.out) / "final").string(), m, extra);
        if (swa && swa->count() > 0) {
            std::vector<float> avg = swa->average();
            std::swap(m.params, avg);
            save_checkpoint((fs::path(cfg.out) / "final_swa").string(), m, extra);
            std::swap(m.params, avg);
        }
    }
    // Dry run: one micro-batch's activation memory and time without and with recomputation, each
    // on a fresh copy of the model so that neither setting inherits the other's buffers.
    if (opt.dry_run && root && last_len > 0) {
        const size_t n = size_t(cfg.batch) * last_len;
        for (bool rc : {false, true}) {
            Model<float> probe(m.cfg);
            probe.params = m.params;
            probe.train_opts = topt;
            probe.train_opts.recompute = rc;
            probe.train_opts.dropout_seed = dropout_seed(cfg.seed, step, 0);
            const auto span_ids = std::span(ids).first(n);
            const auto span_mask = std::span(mask).first(n);
            probe.loss(span_ids, span_mask, cfg.batch, last_len, true);  // warm: allocations
            double dt = 0;
            for (int rep = 0; rep < 2; rep++) {  // the faster of two, on a possibly busy machine
                const auto t0 = Clock::now();
                probe.loss(span_ids, span_mask, cfg.batch, last_len, true);
                const double t = std::chrono::duration<double>(Clock::now() - t0).count();
                dt = rep == 0 ? t : std::min(dt, t);
            }
            (rc ? res.activation_bytes_recompute : res.activation_bytes) = probe.activation_bytes();
            (rc ? res.micro_seconds_recompute : res.micro_seconds) = dt;
        }
    }
    res.steps_done = step;
    res.skipped = guard.skipped;
    res.step_seconds = timed_steps > 0 ? timed_seconds / double(timed_steps) : 0;
    res.tok_s = timed_seconds > 0 ? double(timed_tokens) / timed_seconds : 0;
    res.param_bytes = m.params.size() * sizeof(float);
    res.grad_bytes = m.grads.size() * sizeof(float);
    res.optimizer_bytes = adam.state_bytes();
    res.peak_rss = peak_rss_bytes();
    return res;
}

}  // namespace np
