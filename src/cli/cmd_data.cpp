// nanoprime data prepare | data config | data sample | data inspect, and nanoprime gym [score].
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "core/error.h"
#include "core/file_io.h"
#include "data/chat.h"
#include "data/encoder.h"
#include "data/gym.h"
#include "data/mixture.h"
#include "data/prepare.h"
#include "data/shard.h"
#include "tokenizer/role_specials.h"
#include "tokenizer/tokenizer.h"

namespace np::cli {

namespace fs = std::filesystem;

namespace {

// The real BPE tokenizer behind the data pipeline's encoder interface, with NanoPrime's special
// tokens added where the file lacks them (a Hugging Face tokenizer keeps its ids).
struct TokenizerEncoder final : data::TextEncoder {
    Tokenizer tok;
    SpecialIds ids;
    explicit TokenizerEncoder(const std::string& path) {
        std::string added;
        tok = with_nanoprime_specials(Tokenizer::load(path), &added);
        require_nanoprime_specials(tok, path);
        ids = special_ids_of(tok);
        if (!added.empty())
            std::fprintf(stderr,
                         "note: %s lacks NanoPrime's special tokens %s: added after its last id "
                         "(the shards' tokenizer.json has them)\n",
                         path.c_str(), added.c_str());
    }
    std::vector<int32_t> encode(std::string_view text) const override { return tok.encode(text); }
    int32_t vocab_size() const override { return tok.vocab_size(); }
    SpecialIds specials() const override { return ids; }
};

// "bytes" selects the byte-level encoder (no tokenizer file needed); anything else is loaded.
std::unique_ptr<data::TextEncoder> make_encoder(const std::string& spec) {
    if (spec == "bytes") return std::make_unique<data::ByteEncoder>();
    return std::make_unique<TokenizerEncoder>(spec);
}

void write_jsonl(const std::string& path, const std::vector<data::GymRecord>& recs) {
    std::string out;
    for (const auto& r : recs) out += r.to_json().dump() + "\n";
    if (path == "-") {
        std::fwrite(out.data(), 1, out.size(), stdout);
        return;
    }
    write_file_atomic(path, out);
}

std::vector<nlohmann::json> read_jsonl(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) fail(path + ": cannot open");
    std::vector<nlohmann::json> out;
    std::string line;
    size_t n = 0;
    while (std::getline(in, line)) {
        ++n;
        if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
        try {
            out.push_back(nlohmann::json::parse(line));
        } catch (const nlohmann::json::exception& e) {
            fail(path + ":" + std::to_string(n) + ": invalid JSON (" + e.what() + ")");
        }
    }
    return out;
}

void register_prepare(CLI::App& data) {
    auto* cmd = data.add_subcommand(
        "prepare", "Tokenize text / JSONL / chat files into train and val token shards");
    auto opt = std::make_shared<data::PrepareOptions>();
    auto tok = std::make_shared<std::string>();
    auto quiet = std::make_shared<bool>(false);
    cmd->add_option("--input", opt->inputs, "Input files (.txt plain text, .jsonl/.json records)")
        ->required()
        ->expected(1, -1);
    cmd->add_option("--format", opt->format, "auto | text | jsonl | chat")->capture_default_str();
    cmd->add_option("--text-docs", opt->text_docs,
                    "Plain-text documents: blank (blank-line separated) | line | file")
        ->capture_default_str();
    cmd->add_option("--tokenizer", *tok,
                    "tokenizer.json (or a directory), or \"bytes\" for the byte-level encoder")
        ->required();
    cmd->add_option("--out", opt->out_dir, "Output directory")->required();
    cmd->add_option("--val-fraction", opt->val_fraction, "Fraction of documents for validation")
        ->capture_default_str();
    cmd->add_option("--seed", opt->seed, "Seed of the train/val split")->capture_default_str();
    cmd->add_option("--shard-tokens", opt->shard_tokens, "Tokens per shard")->capture_default_str();
    cmd->add_flag("--quiet", *quiet, "No progress bar");
    cmd->callback([opt, tok, quiet] {
        auto enc = make_encoder(*tok);
        const auto* bpe = dynamic_cast<const TokenizerEncoder*>(enc.get());
        opt->tokenizer_name = *tok;
        opt->progress = !*quiet;
        data::PrepareSummary s = data::prepare_data(*opt, *enc);
        // The shards travel with their tokenizer (the special tokens added, if any were), so a
        // run trained on them saves it beside every checkpoint (train looks beside the data).
        if (bpe) bpe->tok.save((fs::path(opt->out_dir) / "tokenizer.json").string());
        uint64_t total = s.tokens[0] + s.tokens[1];
        std::printf("documents: %llu train, %llu val (%llu chat)\n",
                    (unsigned long long)s.documents[0], (unsigned long long)s.documents[1],
                    (unsigned long long)s.chat_documents);
        std::printf("tokens:    %llu train, %llu val; loss tokens %llu train, %llu val\n",
                    (unsigned long long)s.tokens[0], (unsigned long long)s.tokens[1],
                    (unsigned long long)s.loss_tokens[0], (unsigned long long)s.loss_tokens[1]);
        std::printf("words:     %llu  tokens/word %.3f  bytes/token %.3f\n",
                    (unsigned long long)s.words, s.words ? double(total) / double(s.words) : 0.0,
                    total ? double(s.bytes) / double(total) : 0.0);
        std::printf("malformed lines skipped: %llu\n", (unsigned long long)s.malformed);
        if (opt->val_fraction > 0 && s.documents[1] == 0)
            std::fprintf(stderr,
                         "warning: no document landed in the validation split (raise "
                         "--val-fraction or add data)\n");
        std::printf("shards: %zu in %s (summary.json written), %.2f s\n", s.shards.size(),
                    opt->out_dir.c_str(), s.seconds);
    });
}

void register_config(CLI::App& data) {
    auto* cmd = data.add_subcommand(
        "config", "Write the seed's default mixture config (knowledge 90% / alignment 10%)");
    auto en = std::make_shared<std::string>("en"), it = std::make_shared<std::string>("it"),
         instr = std::make_shared<std::string>("instructions"),
         out = std::make_shared<std::string>();
    cmd->add_option("--en", *en, "English text shard directory")->capture_default_str();
    cmd->add_option("--it", *it, "Italian text shard directory")->capture_default_str();
    cmd->add_option("--instructions", *instr, "Instruction / gym shard directory")
        ->capture_default_str();
    cmd->add_option("--out", *out, "Config file to write")->required();
    cmd->callback([=] {
        // The config resolves relative paths against its own directory.
        auto rel = [&](const std::string& p) {
            return std::filesystem::proximate(std::filesystem::absolute(p),
                                              std::filesystem::absolute(*out).parent_path())
                .string();
        };
        write_file_atomic(
            *out,
            data::DataConfig::seed_default(rel(*en), rel(*it), rel(*instr)).to_json().dump(2) +
                "\n");
        std::printf("wrote %s\n", out->c_str());
    });
}

void register_sample(CLI::App& data) {
    auto* cmd = data.add_subcommand(
        "sample", "Draw batches from a mixture (checks configs; shows the sampler at work)");
    struct Opts {
        std::string config, state_in, state_out, tokenizer;
        int rows = 4, len = 64, batches = 1, rank = 0, world = 1;
        double progress = 0;
        bool ids = false;
    };
    auto o = std::make_shared<Opts>();
    cmd->add_option("--config", o->config, "Data config JSON")->required();
    cmd->add_option("--rows", o->rows, "Rows per batch on this rank")->capture_default_str();
    cmd->add_option("--len", o->len, "Tokens per row")->capture_default_str();
    cmd->add_option("--batches", o->batches, "Number of batches")->capture_default_str();
    cmd->add_option("--progress", o->progress, "Fraction of training done (picks the phase)")
        ->capture_default_str();
    cmd->add_option("--rank", o->rank, "Data-parallel rank")->capture_default_str();
    cmd->add_option("--world", o->world, "Data-parallel world size")->capture_default_str();
    cmd->add_option("--state-in", o->state_in, "Resume from a saved sampler state JSON");
    cmd->add_option("--state-out", o->state_out, "Save the sampler state JSON afterwards");
    cmd->add_option("--tokenizer", o->tokenizer,
                    "Decode the first row of each batch with this tokenizer");
    cmd->add_flag("--ids", o->ids, "Print every row's ids");
    cmd->callback([o] {
        data::MixtureSampler s(data::DataConfig::load(o->config), o->rank, o->world);
        if (!o->state_in.empty()) s.load_state(nlohmann::json::parse(read_file(o->state_in)));
        std::unique_ptr<Tokenizer> tok;
        if (!o->tokenizer.empty()) tok = std::make_unique<Tokenizer>(Tokenizer::load(o->tokenizer));
        std::vector<int32_t> ids(size_t(o->rows) * size_t(o->len));
        std::vector<uint8_t> mask(ids.size());
        std::vector<int> src;
        for (int b = 0; b < o->batches; ++b) {
            s.next_batch(o->rows, o->len, o->progress, ids, mask, &src);
            int phase = s.config().phase_at(o->progress);
            uint64_t h = data::fnv1a64(ids.data(), ids.size() * 4);
            uint64_t loss = 0;
            for (uint8_t m : mask) loss += m;
            std::printf("batch %d phase %s hash %016llx loss_tokens %llu sources", b,
                        s.config().phases[size_t(phase)].name.c_str(), (unsigned long long)h,
                        (unsigned long long)loss);
            for (int r : src) std::printf(" %s", s.config().sources[size_t(r)].name.c_str());
            std::printf("\n");
            if (o->ids)
                for (int r = 0; r < o->rows; ++r) {
                    for (int j = 0; j < o->len; ++j)
                        std::printf(j ? " %d" : "%d", ids[size_t(r * o->len + j)]);
                    std::printf("\n");
                }
            if (tok)
                std::printf(
                    "%s\n",
                    tok->decode(std::span<const int32_t>(ids.data(), size_t(o->len))).c_str());
        }
        if (!o->state_out.empty()) write_file_atomic(o->state_out, s.state_json().dump(2) + "\n");
    });
}

void register_inspect(CLI::App& data) {
    auto* cmd = data.add_subcommand("inspect",
                                    "Validate a token shard and show its header and first tokens");
    auto path = std::make_shared<std::string>();
    auto tok = std::make_shared<std::string>();
    auto n = std::make_shared<uint64_t>(32);
    cmd->add_option("shard", *path, "Shard file (.npts)")->required();
    cmd->add_option("--tokenizer", *tok, "Tokenizer to show pieces with");
    cmd->add_option("-n", *n, "Tokens to show")->capture_default_str();
    cmd->callback([=] {
        data::ShardReader r(*path);
        uint64_t loss = 0;
        for (uint64_t i = 0; i < r.size(); ++i) loss += r.mask(i);
        std::printf("%s: ok, %llu tokens, width %u, vocab %u, mask %s, %llu loss tokens\n",
                    path->c_str(), (unsigned long long)r.size(), r.width(), r.vocab_size(),
                    r.has_mask() ? "yes" : "no (all count)", (unsigned long long)loss);
        std::unique_ptr<Tokenizer> t;
        if (!tok->empty()) t = std::make_unique<Tokenizer>(Tokenizer::load(*tok));
        for (uint64_t i = 0; i < std::min(*n, r.size()); ++i) {
            int32_t id = r.token(i);
            std::printf("%6llu %6d %d", (unsigned long long)i, id, r.mask(i));
            if (t)
                std::printf("  %s",
                            nlohmann::json(t->id_to_bytes(id))
                                .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace)
                                .c_str());
            std::printf("\n");
        }
    });
}

// gym --list: per task the meaning of --difficulty, then the families of each language with
// their frame counts; held-out families are starred.
void print_gym_tasks() {
    for (const auto& t : data::gym_tasks()) {
        std::printf("%s: difficulty d = %s\n", t.c_str(), data::gym_difficulty_meaning(t).c_str());
        for (const char* lang : {"en", "it"}) {
            size_t frames = 0, held = 0;
            std::string line;
            for (const auto& f : data::gym_families(t, lang)) {
                frames += f.frames;
                held += f.heldout ? f.frames : 0;
                line +=
                    " " + f.name + (f.heldout ? "*" : "") + "(" + std::to_string(f.frames) + ")";
            }
            std::printf("  %s: %zu frames, %zu held out:%s\n", lang, frames, held, line.c_str());
        }
    }
    std::printf("(* = held-out family: asked only with --split heldout or all)\n");
}

void register_gym(CLI::App& app) {
    auto* gym = app.add_subcommand(
        "gym", "Generate verifiable reasoning problems (JSONL), or score outputs (gym score)");
    struct Opts {
        data::GymSetOptions set;
        std::string out, difficulty = "1", split = "all", turns = "1";
        bool list = false;
        std::vector<std::string> exclude;
        int n = 100;
        bool text = false;
    };
    auto o = std::make_shared<Opts>();
    std::string tasks;
    for (const auto& t : data::gym_tasks()) tasks += " " + t;
    gym->add_option("--task", o->set.task,
                    "Task:" + tasks + "; all, or a comma-separated list (cycled through)")
        ->capture_default_str();
    gym->add_option("--n", o->n, "Number of problems")->capture_default_str();
    gym->add_option("--lang", o->set.lang, "en | it | both")->capture_default_str();
    gym->add_option("--difficulty", o->difficulty,
                    "1..12, or a range A-B (each problem draws its own); what it sets per task "
                    "(digits, steps, numbers) is in gym --list")
        ->capture_default_str();
    gym->add_option("--direct-max-difficulty", o->set.direct_max_difficulty,
                    "Problems of difficulty <= N get an empty \"thinking\" (answered directly: "
                    "the empty think block in chat data); 0 = none")
        ->capture_default_str();
    gym->add_option("--seed", o->set.seed, "Seed")->capture_default_str();
    gym->add_option("--split", o->split,
                    "Sentence families to phrase questions in: train | heldout (shapes kept out of "
                    "training, for measuring generalisation to new phrasings) | all (gym --list "
                    "shows them)")
        ->capture_default_str();
    gym->add_flag("--list", o->list,
                  "List the tasks, what --difficulty means for each, and their sentence families "
                  "per language (held-out ones marked), then exit");
    gym->add_option("--exclude", o->exclude,
                    "JSONL files of held-out records: problems with the same question text are "
                    "skipped (the set still has --n problems)");
    gym->add_flag("--unique", o->set.unique, "Skip a problem whose question already appeared");
    gym->add_flag("--text", o->text,
                  "Write plain-text documents (question, reasoning, answer) for pretraining "
                  "instead of gym records: {\"text\"} lines when --out ends in .jsonl, else "
                  "text with a blank line between documents");
    gym->add_option("--turns", o->turns,
                    "A or A-B: group consecutive problems into chat conversations of that many "
                    "turns ({\"messages\"} records, for multi-turn SFT); 1 = one record each")
        ->capture_default_str();
    gym->add_option("--out", o->out, "Output JSONL file (- for stdout)");
    gym->require_subcommand(0, 1);

    auto* score = gym->add_subcommand(
        "score", "Score model outputs against gym or {question, answer} records");
    auto data_path = std::make_shared<std::string>(), outputs = std::make_shared<std::string>(),
         report = std::make_shared<std::string>();
    score->add_option("--data", *data_path, "Records JSONL (gym records or {question, answer})")
        ->required();
    score
        ->add_option("--outputs", *outputs,
                     "Model outputs JSONL, line i for record i: a JSON string or {\"output\": ...}")
        ->required();
    score->add_option("--report", *report, "Write per-record results and totals as JSON");
    score->callback([=] {
        auto recs = read_jsonl(*data_path);
        auto outs = read_jsonl(*outputs);
        if (outs.size() != recs.size())
            fail(*outputs + ": " + std::to_string(outs.size()) + " outputs for " +
                 std::to_string(recs.size()) + " records in " + *data_path);
        std::map<std::string, std::pair<int, int>> by_task;
        nlohmann::json rows = nlohmann::json::array();
        int correct = 0;
        for (size_t i = 0; i < recs.size(); ++i) {
            const auto& o = outs[i];
            std::string text = o.is_string() ? o.get<std::string>()
                               : o.is_object() && o.contains("output")
                                   ? o["output"].get<std::string>()
                                   : "";
            if (!o.is_string() && !(o.is_object() && o.contains("output")))
                fail(*outputs + ":" + std::to_string(i + 1) +
                     ": expected a JSON string or {\"output\": ...}");
            auto r = data::gym_score(recs[i], text);
            std::string task = recs[i].value("task", "all");
            by_task[task].first += r.correct;
            by_task[task].second += 1;
            correct += r.correct;
            rows.push_back({{"index", i},
                            {"task", task},
                            {"correct", r.correct},
                            {"expected", r.expected},
                            {"extracted", r.extracted},
                            {"reason", r.reason}});
        }
        nlohmann::json totals = nlohmann::json::object();
        for (const auto& [t, c] : by_task) {
            std::printf("%-16s %5d / %5d  %6.2f%%\n", t.c_str(), c.first, c.second,
                        100.0 * c.first / c.second);
            totals[t] = {{"correct", c.first}, {"total", c.second}};
        }
        double acc = recs.empty() ? 0.0 : double(correct) / double(recs.size());
        std::printf("%-16s %5d / %5zu  %6.2f%%\n", "overall", correct, recs.size(), 100.0 * acc);
        if (!report->empty())
            write_file_atomic(*report, nlohmann::json{{"accuracy", acc},
                                                      {"correct", correct},
                                                      {"total", recs.size()},
                                                      {"by_task", totals},
                                                      {"records", rows}}
                                               .dump(1) +
                                           "\n");
    });

    gym->callback([gym, o] {
        if (gym->got_subcommand("score")) return;
        if (o->list) {
            print_gym_tasks();
            return;
        }
        if (o->out.empty()) fail("gym: --out is required (a JSONL file, or - for stdout)");
        if (o->n < 0) fail("gym: --n must be >= 0");
        data::parse_difficulty_range(o->difficulty, o->set.min_difficulty, o->set.max_difficulty);
        o->set.split = data::parse_gym_split(o->split);
        std::vector<std::string> held_out;
        for (const std::string& path : o->exclude) {
            auto recs = read_jsonl(path);
            for (size_t i = 0; i < recs.size(); ++i) {
                const auto& r = recs[i];
                if (!r.is_object() || !r.contains("question") || !r["question"].is_string())
                    fail("gym --exclude " + path + ":" + std::to_string(i + 1) +
                         ": expected a record with a string \"question\"");
                held_out.push_back(r["question"].get<std::string>());
            }
        }
        auto recs = data::gym_generate_set(o->set, size_t(o->n), held_out);
        int min_turns = 1, max_turns = 1;
        try {
            data::parse_difficulty_range(o->turns, min_turns, max_turns);
        } catch (const Error&) {
            fail("gym: --turns expects N or A-B with 1 <= A <= B, got \"" + o->turns + "\"");
        }
        if (max_turns > 1 && o->text) fail("gym: --turns and --text do not go together");
        if (max_turns > 1) {
            std::string out;
            for (const auto& c : data::gym_conversations(recs, min_turns, max_turns, o->set.seed))
                out += c.dump() + "\n";
            if (o->out == "-")
                std::fwrite(out.data(), 1, out.size(), stdout);
            else
                write_file_atomic(o->out, out);
        } else if (o->text) {
            // JSONL {"text"} lines, or plain text with blank lines between documents (what
            // `tokenizer train` learns from and `data prepare` splits back into documents).
            const bool jsonl = o->out.ends_with(".jsonl");
            std::string out;
            for (const auto& r : recs)
                out += jsonl ? nlohmann::json{{"text", data::gym_plain_text(r)}}.dump() + "\n"
                             : data::gym_plain_text(r) + "\n\n";
            if (o->out == "-")
                std::fwrite(out.data(), 1, out.size(), stdout);
            else
                write_file_atomic(o->out, out);
        } else {
            write_jsonl(o->out, recs);
        }
        size_t direct = 0;
        for (const auto& r : recs) direct += r.thinking.empty();
        if (o->out != "-")
            std::fprintf(stderr, "wrote %d problems (%zu answered directly) to %s\n", o->n, direct,
                         o->out.c_str());
    });
}

}  // namespace

void register_data_commands(CLI::App& app) {
    auto* data = app.add_subcommand("data", "Data preparation, mixtures and sampling");
    data->require_subcommand(1);
    register_prepare(*data);
    register_config(*data);
    register_sample(*data);
    register_inspect(*data);
    register_gym(app);
}

}  // namespace np::cli
