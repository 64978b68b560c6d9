// Tokenizer throughput: trains a 4k-vocab BPE on generated English+Italian text (reports the time),
// then encodes English-like and Italian-like text on one thread with it and with the seed
// tokenizer (if found) and reports MB/s per core.
// Usage: bench_tokenizer [MB per language] [seed tokenizer.json]  (default:
// $NP_SHARED_DIR/data/...)
#include <time.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "core/file_io.h"
#include "tokenizer/bpe_train.h"
#include "tokenizer/tokenizer.h"

namespace {

// Zipf-distributed common words plus open-vocabulary words built from syllables, so the word
// cache sees a realistic share of misses; punctuation, numbers and newlines mixed in.
std::string make_text(bool italian, size_t bytes, uint32_t seed) {
    static const std::vector<std::string> en = {
        "the",     "of",       "and",       "to",        "a",      "in",    "is",     "it",
        "you",     "that",     "he",        "was",       "for",    "on",    "are",    "with",
        "as",      "his",      "they",      "be",        "at",     "one",   "have",   "this",
        "from",    "or",       "had",       "by",        "word",   "but",   "what",   "some",
        "we",      "can",      "out",       "other",     "were",   "all",   "there",  "when",
        "up",      "use",      "your",      "how",       "said",   "each",  "she",    "which",
        "their",   "time",     "will",      "way",       "about",  "many",  "then",   "them",
        "would",   "like",     "so",        "these",     "people", "water", "number", "could",
        "school",  "country",  "answer",    "between",   "it's",   "don't", "I'm",    "children",
        "example", "together", "important", "government"};
    static const std::vector<std::string> it = {
        "il",     "di",       "che",         "e",          "la",       "un",      "a",
        "per",    "non",      "in",          "una",        "è",        "sono",    "mi",
        "si",     "ho",       "lo",          "ma",         "ti",       "ha",      "le",
        "con",    "cosa",     "se",          "io",         "come",     "da",      "ci",
        "questo", "qui",      "hai",         "bene",       "tu",       "del",     "della",
        "perché", "più",      "città",       "già",        "però",     "così",    "può",
        "lavoro", "mondo",    "grazie",      "sempre",     "ancora",   "l'uomo",  "dell'anno",
        "c'è",    "un'altra", "nell'ultimo", "università", "attività", "società", "famiglia",
        "giorno", "tempo",    "anche",       "quando",     "tutto",    "essere",  "fatto",
        "detto"};
    static const std::vector<std::string> en_syl = {"con", "ter", "ing",  "tion", "ex",   "pre",
                                                    "al",  "ly",  "ment", "ness", "st",   "ar",
                                                    "ble", "dis", "er",   "ous",  "ight", "un"};
    static const std::vector<std::string> it_syl = {
        "ca", "to",   "ri",  "men", "zio", "ne",  "gli", "sce", "pa", "re",
        "mo", "chia", "ver", "ità", "pro", "ssi", "zza", "tà",  "lo", "ò"};
    const auto& words = italian ? it : en;
    const auto& syl = italian ? it_syl : en_syl;
    std::mt19937 rng(seed);
    std::vector<double> w(words.size());
    for (size_t i = 0; i < w.size(); ++i) w[i] = 1.0 / double(i + 1);
    std::discrete_distribution<size_t> zipf(w.begin(), w.end());
    std::string s;
    s.reserve(bytes + 64);
    bool cap = true;
    while (s.size() < bytes) {
        std::string word;
        const uint32_t r = rng() % 100;
        if (r < 70) {
            word = words[zipf(rng)];
        } else if (r < 95) {
            for (uint32_t k = 0, n = 2 + rng() % 3; k < n; ++k) word += syl[rng() % syl.size()];
        } else {
            word = std::to_string(rng() % 10000);
        }
        if (cap && word[0] >= 'a' && word[0] <= 'z') word[0] = char(word[0] - 32);
        cap = false;
        s += word;
        const uint32_t p = rng() % 100;
        if (p < 6) {
            s += ". ";
            cap = true;
        } else if (p < 10) {
            s += ", ";
        } else if (p < 11) {
            s += ".\n\n";
            cap = true;
        } else {
            s += ' ';
        }
    }
    return s;
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

double thread_cpu_seconds() {
    timespec ts{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return double(ts.tv_sec) + 1e-9 * double(ts.tv_nsec);
}

// MB/s by wall clock and by this thread's CPU time (the fair per-core number on a busy machine).
void bench_encode(const char* name, const np::Tokenizer& tok, const std::string& text,
                  const char* lang) {
    const auto t0 = std::chrono::steady_clock::now();
    const double c0 = thread_cpu_seconds();
    const auto ids = tok.encode(text);
    const double cpu = thread_cpu_seconds() - c0, secs = seconds_since(t0);
    const double mb = double(text.size()) / 1e6;
    std::printf(
        "encode %-8s %-13s %5.1f MB: %6.1f MB/s wall, %6.1f MB/s per core-second"
        "  (%.2f bytes/token)\n",
        name, lang, mb, mb / secs, mb / cpu, double(text.size()) / double(ids.size()));
}

}  // namespace

int main(int argc, char** argv) {
    const size_t mb = argc > 1 ? std::stoul(argv[1]) : 8;
    const std::string en = make_text(false, mb << 20, 1), it = make_text(true, mb << 20, 2);

    const std::vector<std::string> corpus{make_text(false, 5 << 20, 3),
                                          make_text(true, 5 << 20, 4)};
    np::BpeTrainOptions opt;
    opt.vocab_size = 4096;
    opt.threads = 1;
    auto t0 = std::chrono::steady_clock::now();
    const auto counts = np::count_words(corpus, opt.threads);
    const double count_s = seconds_since(t0);
    t0 = std::chrono::steady_clock::now();
    const np::Tokenizer trained = np::train_bpe(counts, opt);
    std::printf("train    4k vocab on 10 MB, 1 thread: count %.2fs + merges %.2fs (%zu merges)\n",
                count_s, seconds_since(t0), trained.num_merges());

    bench_encode("trained", trained, en, "English");
    bench_encode("trained", trained, it, "Italian");
    const char* shared = std::getenv("NP_SHARED_DIR");
    const std::string seed = argc > 2 ? argv[2]
                                      : std::string(shared ? shared : "../shared") +
                                            "/data/seed-tokenizer/tokenizer.json";
    const std::string gsm_path =
        std::string(shared ? shared : "../shared") + "/data/gsm8k/train.jsonl";
    const std::string gsm = std::filesystem::exists(gsm_path) ? np::read_file(gsm_path) : "";
    if (!gsm.empty()) bench_encode("trained", trained, gsm, "GSM8K (real)");
    if (std::filesystem::exists(seed)) {
        const np::Tokenizer s = np::Tokenizer::load(seed);
        bench_encode("seed", s, en, "English");
        bench_encode("seed", s, it, "Italian");
        if (!gsm.empty()) bench_encode("seed", s, gsm, "GSM8K (real)");
    }
    return 0;
}
