// `nanoprime tokenizer train` and `nanoprime tokenize`.
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <iterator>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "core/error.h"
#include "tokenizer/bpe_train.h"
#include "tokenizer/role_specials.h"
#include "tokenizer/tokenizer.h"

namespace np::cli {
namespace {

struct TrainArgs {
    std::vector<std::string> inputs;
    int32_t vocab = 4096;
    std::string out;
    int threads = 0;
    uint64_t min_frequency = 2;
};

struct ConvertArgs {
    std::string in, out, gpt2_dir;
    bool add_specials = false;
};

struct TokenizeArgs {
    std::string tokenizer;
    bool ids_only = false;
    bool specials = false;
    bool json_lines = false;
};

// "[=====>     ] 1200/3834 merges  850/s  ETA 3s", redrawn in place at most 5 times a second.
class ProgressBar {
public:
    void operator()(size_t done, size_t total) {
        const auto now = std::chrono::steady_clock::now();
        const double since_draw = std::chrono::duration<double>(now - last_).count();
        // A terminal redraws the bar; a log gets a line every 10 s.
        if (done < total && drawn_ && since_draw < (tty_ ? 0.2 : 10.0)) return;
        last_ = now;
        drawn_ = true;
        const double secs = std::chrono::duration<double>(now - start_).count();
        const double rate = secs > 0 ? static_cast<double>(done) / secs : 0.0;
        const double eta = rate > 0 ? static_cast<double>(total - done) / rate : 0.0;
        constexpr int kWidth = 30;
        const int fill = total ? static_cast<int>(kWidth * done / total) : kWidth;
        std::string bar(static_cast<size_t>(fill), '=');
        if (fill < kWidth) bar += '>' + std::string(static_cast<size_t>(kWidth - fill - 1), ' ');
        std::fprintf(stderr, "%s[%s] %zu/%zu merges  %.0f/s  ETA %.0fs", tty_ ? "\r" : "",
                     bar.c_str(), done, total, rate, eta);
        if (done >= total || !tty_) std::fputc('\n', stderr);
        std::fflush(stderr);
    }
    void finish() { std::fputc('\n', stderr); }

private:
    std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now(), last_ = start_;
    bool drawn_ = false;
    const bool tty_ = isatty(STDERR_FILENO) != 0;
};

void run_train(const TrainArgs& a) {
    BpeTrainOptions opt;
    opt.vocab_size = a.vocab;
    opt.threads = a.threads;
    opt.min_frequency = a.min_frequency;
    auto bar = std::make_shared<ProgressBar>();
    opt.progress = [bar](size_t done, size_t total) { (*bar)(done, total); };
    std::fprintf(stderr, "counting words in %zu file(s)...\n", a.inputs.size());
    const auto t0 = std::chrono::steady_clock::now();
    const Tokenizer tok = train_bpe_files(a.inputs, opt);
    const double secs =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (tok.vocab_size() < a.vocab)
        std::fprintf(stderr,
                     "\nnote: the input only supports %d tokens with --min-frequency %llu "
                     "(asked for %d)\n",
                     tok.vocab_size(), static_cast<unsigned long long>(a.min_frequency), a.vocab);
    tok.save(a.out);
    std::fprintf(stderr, "wrote %s: %d tokens, %zu merges in %.1fs\n", a.out.c_str(),
                 tok.vocab_size(), tok.num_merges(), secs);
}

void print_encoding(const Tokenizer& tok, const std::vector<int32_t>& ids, bool ids_only) {
    std::string line;
    if (ids_only) {
        for (size_t i = 0; i < ids.size(); ++i) {
            if (i) line += ' ';
            line += std::to_string(ids[i]);
        }
        line += '\n';
    } else {
        for (int32_t id : ids) line += std::to_string(id) + "\t" + tok.id_to_piece(id) + "\n";
    }
    std::fwrite(line.data(), 1, line.size(), stdout);
}

void run_tokenize(const TokenizeArgs& a) {
    const Tokenizer tok = Tokenizer::load(a.tokenizer);
    auto encode = [&](std::string_view text) {
        return a.specials ? tok.encode_with_specials(text) : tok.encode(text);
    };
    if (a.json_lines) {
        std::string line;
        size_t line_no = 0;
        while (std::getline(std::cin, line)) {
            ++line_no;
            nlohmann::json j;
            try {
                j = nlohmann::json::parse(line);
            } catch (const nlohmann::json::exception& e) {
                fail("stdin:" + std::to_string(line_no) + ": expected a JSON string: " + e.what());
            }
            if (!j.is_string())
                fail("stdin:" + std::to_string(line_no) + ": expected a JSON string");
            print_encoding(tok, encode(j.get<std::string>()), a.ids_only);
        }
        return;
    }
    const std::string text((std::istreambuf_iterator<char>(std::cin)),
                           std::istreambuf_iterator<char>());
    const auto ids = encode(text);
    print_encoding(tok, ids, a.ids_only);
    if (!a.ids_only)
        std::fprintf(stderr, "%zu tokens, %zu bytes (%.2f bytes/token)\n", ids.size(), text.size(),
                     ids.empty() ? 0.0 : double(text.size()) / ids.size());
}

}  // namespace

void register_tokenizer_commands(CLI::App& app) {
    auto* tok = app.add_subcommand("tokenizer", "Byte-level BPE tokenizer tools");
    tok->require_subcommand(1);

    auto targs = std::make_shared<TrainArgs>();
    auto* train = tok->add_subcommand(
        "train",
        "Train a byte-level BPE (specials at ids 0..5, 256 bytes, every digit its own token) and "
        "write a Hugging Face tokenizer.json");
    train->add_option("--input", targs->inputs, "Text files to learn from")->required();
    train->add_option("--vocab", targs->vocab, "Vocabulary size, specials and bytes included")
        ->capture_default_str();
    train->add_option("--out", targs->out, "Output tokenizer.json")->required();
    train->add_option("--threads", targs->threads, "Threads for word counting (0: all cores)")
        ->capture_default_str();
    train
        ->add_option("--min-frequency", targs->min_frequency,
                     "Stop when the most frequent pair occurs fewer times than this")
        ->capture_default_str();
    train->callback([targs] { run_train(*targs); });

    auto cargs = std::make_shared<ConvertArgs>();
    auto* convert = tok->add_subcommand(
        "convert",
        "Read a tokenizer (tokenizer.json, or a directory with tokenizer.json or GPT-2 "
        "vocab.json+merges.txt) and write it as tokenizer.json and/or vocab.json+merges.txt");
    convert->add_option("--in", cargs->in, "Input tokenizer file or directory")->required();
    convert->add_option("--out", cargs->out, "Output tokenizer.json");
    convert->add_option("--gpt2-out", cargs->gpt2_dir,
                        "Output directory for vocab.json + merges.txt (added tokens are not kept)");
    convert->add_flag("--add-specials", cargs->add_specials,
                      "Add NanoPrime's special tokens the input lacks after its last id, keeping "
                      "every id (what data prepare and the model commands do when they load it)");
    convert->callback([cargs] {
        if (cargs->out.empty() && cargs->gpt2_dir.empty())
            fail("tokenizer convert: give --out and/or --gpt2-out");
        std::string added;
        const Tokenizer t = cargs->add_specials
                                ? with_nanoprime_specials(Tokenizer::load(cargs->in), &added)
                                : Tokenizer::load(cargs->in);
        if (cargs->add_specials)
            std::fprintf(stderr, "special tokens added: %s\n",
                         added.empty() ? "none (all present)" : added.c_str());
        if (!cargs->out.empty()) t.save(cargs->out);
        if (!cargs->gpt2_dir.empty()) {
            std::filesystem::create_directories(cargs->gpt2_dir);
            t.save_gpt2(cargs->gpt2_dir + "/vocab.json", cargs->gpt2_dir + "/merges.txt");
        }
    });

    auto kargs = std::make_shared<TokenizeArgs>();
    auto* tz = app.add_subcommand(
        "tokenize", "Encode stdin and print the token ids and pieces (one 'id<TAB>piece' a line)");
    tz->add_option("--tokenizer", kargs->tokenizer,
                   "tokenizer.json, or a directory with tokenizer.json or vocab.json+merges.txt")
        ->required();
    tz->add_flag("--ids-only", kargs->ids_only, "Print only the ids, space-separated on one line");
    tz->add_flag("--specials", kargs->specials,
                 "Recognise special tokens written literally (chat templates); by default their "
                 "text is encoded as plain text");
    tz->add_flag("--json-lines", kargs->json_lines,
                 "Each stdin line is a JSON string; encode each separately, one output per line");
    tz->callback([kargs] { run_tokenize(*kargs); });
}

}  // namespace np::cli
