#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/file_io.h"
#include "data/shard.h"
#include "model/checkpoint.h"
#include "tiny_model.h"
#include "train/metrics.h"
#include "train/plot_svg.h"
#include "train/train_config.h"
#include "train/trainer.h"

using namespace np;
namespace fs = std::filesystem;

namespace {

struct TempDir {
    fs::path path;
    TempDir() {
        path = fs::temp_directory_path() /
               ("np_trainer_" + std::to_string(::getpid()) + "_" +
                ::testing::UnitTest::GetInstance()->current_test_info()->name());
        fs::remove_all(path);
        fs::create_directories(path);
    }
    ~TempDir() { fs::remove_all(path); }
    std::string operator/(const std::string& s) const { return (path / s).string(); }
};

// Byte-level text shards (train and val) and a tiny initial checkpoint with a 64-token vocabulary.
TrainConfig tiny_run(const TempDir& d) {
    const std::string text =
        "the cat sat on the mat. the dog sat on the log. a cat and a dog met on the mat. ";
    std::vector<int32_t> ids;
    for (int rep = 0; rep < 40; rep++)
        for (char c : text) ids.push_back(int32_t(unsigned(c) % 64));
    fs::create_directories(d / "data");
    data::write_shard(d / "data/train_000.npts", ids, {}, 64);
    data::write_shard(d / "data/val_000.npts", std::span(ids).first(800), {}, 64);
    ModelConfig mc = test::tiny_config("MA", "swiglu", true);
    mc.vocab_size = 64;
    mc.validate();
    Model<float> m(mc);
    m.init_random(1);
    save_checkpoint(d / "init", m);
    TrainConfig c;
    c.init = d / "init";
    c.data = d / "data";
    c.out = d / "run";
    c.steps = 30;
    c.batch = 4;
    c.seq = "24";
    c.lr = 1e-2;
    c.warmup = 0.1;
    c.threads = 1;
    return c;
}

std::vector<double> losses(const std::string& run) {
    std::vector<double> out;
    for (const auto& r : read_metrics(run + "/metrics.jsonl")) out.push_back(r.loss);
    return out;
}

TrainOptions quiet() {
    TrainOptions o;
    o.progress = false;
    return o;
}

}  // namespace

TEST(Trainer, LossFallsOnATinyRun) {
    TempDir d;
    TrainConfig c = tiny_run(d);
    c.val_data = d / "data";
    c.eval_every = 10;
    c.save_every = 10;
    c.keep_last = 2;
    write_file_atomic(d / "data/tokenizer.json", std::string("{\"model\": {}}"));
    const TrainResult r = train(c, quiet());
    EXPECT_EQ(r.steps_done, 30);
    const auto rows = read_metrics(c.out + "/metrics.jsonl");
    ASSERT_EQ(rows.size(), 30u);
    double first = 0, last = 0;
    for (int i = 0; i < 5; i++) first += rows[i].loss / 5, last += rows[25 + i].loss / 5;
    EXPECT_LT(last, first - 0.5) << "first " << first << " last " << last;
    ASSERT_TRUE(rows[9].val_loss && rows[29].val_loss);
    EXPECT_LT(*rows[29].val_loss, *rows[9].val_loss + 0.1);
    EXPECT_FALSE(rows[8].val_loss);
    // keep_last 2 of the checkpoints at 10, 20, 30; final weights; resolved config.
    EXPECT_FALSE(fs::exists(c.out + "/ckpt/step_000010"));
    EXPECT_TRUE(fs::exists(c.out + "/ckpt/step_000020/optimizer.bin"));
    EXPECT_TRUE(fs::exists(c.out + "/ckpt/step_000030/trainer_state.json"));
    EXPECT_TRUE(fs::exists(c.out + "/final/model.safetensors"));
    EXPECT_EQ(read_file(c.out + "/final/tokenizer.json"), read_file(d / "data/tokenizer.json"));
    EXPECT_TRUE(fs::exists(c.out + "/ckpt/step_000030/tokenizer.json"));
    EXPECT_EQ(TrainConfig::load(c.out + "/train_config.json").to_json(), c.to_json());
    // A second run into the same directory must not clobber it.
    EXPECT_THROW(train(c, quiet()), Error);
}

TEST(Trainer, ResumeIsBitExact) {
    TempDir d;
    TrainConfig c = tiny_run(d);
    c.steps = 12;
    c.accum = 2;
    c.adam8bit = true;
    c.seq = "12@0,24@0.5";
    c.lerac_end_step = 6;
    c.swa_start = 0.5;
    c.save_every = 2;
    train(c, quiet());
    TrainConfig half = c;
    half.out = d / "run_half";
    TrainOptions stop = quiet();
    stop.stop_at = 5;
    EXPECT_EQ(train(half, stop).steps_done, 5);
    EXPECT_FALSE(fs::exists(half.out + "/final"));
    TrainOptions resume = quiet();
    resume.resume = true;
    EXPECT_EQ(train(half, resume).steps_done, 12);
    const auto a = losses(c.out), b = losses(half.out);
    ASSERT_EQ(a.size(), 12u);
    ASSERT_EQ(b.size(), 12u);
    for (size_t i = 0; i < a.size(); i++) EXPECT_EQ(a[i], b[i]) << "step " << i + 1;
    EXPECT_EQ(read_file(c.out + "/final/model.safetensors"),
              read_file(half.out + "/final/model.safetensors"));
    EXPECT_EQ(read_file(c.out + "/final_swa/model.safetensors"),
              read_file(half.out + "/final_swa/model.safetensors"));
}

// Micro-batches accumulate into one mean: batch 4 in one piece and 2 x 2 micro-batches (whose
// masked data gives them different target counts) see the same gradient at every step, weighted
// by targets. And the gradients are zeroed between steps: on data where every batch is the same
// and with a learning rate too small to move the weights, every step sees the first one's gradient
// (left over, the previous step's mean gradient would add about 1/targets of itself).
TEST(Trainer, AccumulatedMicroBatchesEqualOneBatch) {
    TempDir d;
    TrainConfig c = tiny_run(d);
    auto write_data = [&](const std::vector<int32_t>& ids, const std::vector<uint8_t>& mask) {
        fs::remove_all(d / "data");
        fs::create_directories(d / "data");
        data::write_shard(d / "data/train_000.npts", ids, mask, 64);
        data::write_shard(d / "data/val_000.npts", std::span(ids).first(800),
                          std::span(mask).first(800), 64);
    };
    auto grads_per_step = [&](int batch, int accum, const std::string& out) {
        TrainConfig r = c;
        r.batch = batch, r.accum = accum, r.out = d / out;
        std::vector<std::vector<float>> seen;
        TrainOptions o = quiet();
        o.after_backward = [&](int64_t, std::span<float> g, double&) {
            seen.emplace_back(g.begin(), g.end());
        };
        train(r, o);
        return seen;
    };
    auto rel_diff = [](const std::vector<float>& a, const std::vector<float>& b) {
        double diff = 0, scale = 1e-30;
        for (size_t i = 0; i < a.size(); i++) {
            diff = std::max(diff, double(std::fabs(a[i] - b[i])));
            scale = std::max(scale, double(std::fabs(b[i])));
        }
        return diff / scale;
    };
    c.steps = 4;

    std::vector<int32_t> ids;
    const std::string text = "the cat sat on the mat. the dog sat on the log. ";
    for (int rep = 0; rep < 60; rep++)
        for (char ch : text) ids.push_back(int32_t(unsigned(ch) % 64));
    std::vector<uint8_t> mask(ids.size(), 1);
    for (size_t i = 0; i < mask.size(); i++) mask[i] = (i % 37) < 5 + (i / 97) % 23 ? 0 : 1;
    write_data(ids, mask);
    const auto one = grads_per_step(4, 1, "one"), two = grads_per_step(2, 2, "two");
    ASSERT_EQ(one.size(), 4u);
    ASSERT_EQ(two.size(), 4u);
    for (size_t s = 0; s < one.size(); s++)
        EXPECT_LT(rel_diff(two[s], one[s]), 1e-4) << "step " << s + 1;

    write_data(std::vector<int32_t>(ids.size(), 7), std::vector<uint8_t>(ids.size(), 1));
    c.lr = 1e-12;
    const auto same = grads_per_step(2, 2, "same");
    ASSERT_EQ(same.size(), 4u);
    for (size_t s = 1; s < same.size(); s++)
        EXPECT_LT(rel_diff(same[s], same[0]), 1e-5) << "step " << s + 1;
}

TEST(Trainer, GuardSkipsNonFiniteStepsAndStopsAfterRepeats) {
    TempDir d;
    TrainConfig c = tiny_run(d);
    c.steps = 8;
    TrainOptions o = quiet();
    o.after_backward = [](int64_t step, std::span<float> g, double&) {
        if (step == 3) g[0] = std::nanf("");
    };
    const TrainResult r = train(c, o);
    EXPECT_EQ(r.steps_done, 8);
    EXPECT_EQ(r.skipped, 1);
    const auto rows = read_metrics(c.out + "/metrics.jsonl");
    ASSERT_EQ(rows.size(), 8u);
    for (const auto& row : rows) EXPECT_EQ(row.skipped, row.step == 4) << row.step;
    EXPECT_TRUE(std::isnan(rows[3].grad_norm));

    c.out = d / "run_bad";
    c.max_skips = 3;
    o.after_backward = [](int64_t step, std::span<float>, double& loss) {
        if (step >= 2) loss = INFINITY;
    };
    try {
        train(c, o);
        FAIL() << "expected the guard to stop the run";
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("3 consecutive steps"), std::string::npos) << e.what();
    }
}

TEST(Trainer, ConfigValidationNamesTheField) {
    auto expect_error = [](const TrainConfig& c, const std::string& field) {
        try {
            c.validate();
            FAIL() << "expected an error about " << field;
        } catch (const Error& e) {
            EXPECT_NE(std::string(e.what()).find(field), std::string::npos) << e.what();
        }
    };
    TrainConfig ok;
    ok.data = "x";
    EXPECT_NO_THROW(ok.validate());
    TrainConfig c = ok;
    c.batch = 0;
    expect_error(c, "batch");
    c = ok, c.seq = "12x";
    expect_error(c, "seq");
    c = ok, c.seq = "256@0.1";
    expect_error(c, "seq");
    c = ok, c.eval_every = 5;
    expect_error(c, "val_data");
    c = ok, c.decay_shape = "square";
    expect_error(c, "square");
    c = ok, c.spike_factor = 0.5;
    expect_error(c, "spike_factor");
    EXPECT_THROW(TrainConfig::from_json({{"stpes", 10}}), Error);
    EXPECT_THROW(TrainConfig::from_json({{"steps", "ten"}}), Error);
    EXPECT_EQ(TrainConfig::from_json(ok.to_json()).to_json(), ok.to_json());

    TempDir d;
    TrainConfig t = tiny_run(d);
    t.init = "no-such-preset";
    EXPECT_THROW(train(t, quiet()), Error);
    t = tiny_run(d), t.seq = "100";  // above the tiny model's max_seq_len 64
    EXPECT_THROW(train(t, quiet()), Error);
}

TEST(Trainer, DryRunWritesNothing) {
    TempDir d;
    TrainConfig c = tiny_run(d);
    TrainOptions o = quiet();
    o.dry_run = true;
    const TrainResult r = train(c, o);
    EXPECT_EQ(r.steps_done, 3);
    EXPECT_GT(r.param_bytes, 0u);
    EXPECT_GT(r.optimizer_bytes, 0u);
    EXPECT_GT(r.peak_rss, r.param_bytes);
    EXPECT_FALSE(fs::exists(c.out));
}

TEST(Plot, WellFormedSvgWithOnePolylinePerSeries) {
    std::vector<MetricRow> rows;
    for (int s = 1; s <= 20; s++) {
        MetricRow r;
        r.step = s;
        r.loss = 4.0 / s;
        r.lr = 1e-3 * s / 20;
        r.tok_s = 1000 + s;
        if (s % 5 == 0) r.val_loss = 4.5 / s;
        rows.push_back(r);
    }
    const std::string svg = render_metrics_svg(rows, "test <run>");
    EXPECT_EQ(svg.rfind("<?xml", 0), 0u);
    EXPECT_NE(svg.find("</svg>"), std::string::npos);
    EXPECT_NE(svg.find("test &lt;run&gt;"), std::string::npos);
    // Tags balance (every opened element is closed, in order).
    std::vector<std::string> stack;
    for (size_t i = svg.find("<svg"); i != std::string::npos; i = svg.find('<', i + 1)) {
        const size_t end = svg.find('>', i);
        ASSERT_NE(end, std::string::npos);
        const std::string tag = svg.substr(i + 1, end - i - 1);
        const std::string name =
            tag.substr(tag[0] == '/', tag.find_first_of(" />", 1) - (tag[0] == '/'));
        if (tag[0] == '/') {
            ASSERT_FALSE(stack.empty());
            EXPECT_EQ(stack.back(), name);
            stack.pop_back();
        } else if (tag.back() != '/') {
            stack.push_back(name);
        }
    }
    EXPECT_TRUE(stack.empty());
    auto points_of = [&](const std::string& cls) {
        const size_t p = svg.find("<polyline class=\"" + cls + "\"");
        EXPECT_NE(p, std::string::npos) << cls;
        const size_t b = svg.find("points=\"", p) + 8, e = svg.find('"', b);
        const std::string pts = svg.substr(b, e - b);
        return std::count(pts.begin(), pts.end(), ',');
    };
    EXPECT_EQ(points_of("loss"), 20);
    EXPECT_EQ(points_of("val_loss"), 4);
    EXPECT_EQ(points_of("lr"), 20);
    EXPECT_EQ(points_of("tok_s"), 20);
    EXPECT_NE(svg.find("class=\"xtick\""), std::string::npos);
    EXPECT_NE(svg.find(">step</text>"), std::string::npos);
}

TEST(Trainer, DamagedCheckpointGivesAClearErrorOnResume) {
    TempDir d;
    TrainConfig c = tiny_run(d);
    c.steps = 4;
    TrainOptions o = quiet();
    o.stop_at = 2;
    train(c, o);
    const std::string ck = latest_checkpoint(c.out);
    ASSERT_EQ(fs::path(ck).filename(), "step_000002");
    const std::string opt_bytes = read_file(ck + "/optimizer.bin");
    write_file_atomic(ck + "/optimizer.bin", opt_bytes.substr(0, opt_bytes.size() / 2));
    TrainOptions r = quiet();
    r.resume = true;
    try {
        train(c, r);
        FAIL() << "expected an error for the truncated optimizer state";
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("optimizer.bin"), std::string::npos) << e.what();
    }
    write_file_atomic(ck + "/optimizer.bin", opt_bytes);
    write_file_atomic(ck + "/trainer_state.json", std::string("{\"step\": 2}"));
    try {
        train(c, r);
        FAIL() << "expected an error for the incomplete trainer state";
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("trainer_state.json"), std::string::npos) << e.what();
    }
}
