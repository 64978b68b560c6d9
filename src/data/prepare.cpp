#include "data/prepare.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "core/error.h"
#include "core/file_io.h"
#include "core/rng.h"
#include "data/chat.h"
#include "data/shard.h"
#include "tokenizer/unicode.h"

namespace np::data {

namespace fs = std::filesystem;

namespace {

struct SplitWriter {
    SplitWriter(std::string d, std::string s, uint64_t n, int32_t v)
        : dir(std::move(d)), split(std::move(s)), shard_tokens(n), vocab(v) {}
    std::string dir, split;
    uint64_t shard_tokens;
    int32_t vocab;
    std::vector<int32_t> ids;
    std::vector<uint8_t> mask;
    bool any_masked = false;
    int index = 0;
    std::vector<std::string> written;

    void add(const TokenizedDoc& d) {
        ids.insert(ids.end(), d.ids.begin(), d.ids.end());
        mask.insert(mask.end(), d.mask.begin(), d.mask.end());
        for (uint8_t m : d.mask) any_masked |= m == 0;
        if (ids.size() >= shard_tokens) flush();
    }
    void flush() {
        if (ids.empty()) return;
        char name[64];
        std::snprintf(name, sizeof name, "%s_%05d.npts", split.c_str(), index++);
        write_shard((fs::path(dir) / name).string(), ids,
                    any_masked ? std::span<const uint8_t>(mask) : std::span<const uint8_t>(),
                    uint32_t(vocab));
        written.push_back(name);
        ids.clear();
        mask.clear();
        any_masked = false;
    }
};

struct Item {
    Document doc;
    std::string where;  // file:line
    std::string error;  // set when the line is malformed
    TokenizedDoc tok;
};

class Progress {
public:
    Progress(bool on, uint64_t total)
        : on_(on), tty_(isatty(STDERR_FILENO) != 0), total_(std::max<uint64_t>(total, 1)) {}
    // On a terminal the bar is redrawn every 250 ms; in a log a line every 10 s.
    void update(uint64_t done, uint64_t docs, uint64_t tokens, bool final = false) {
        if (!on_) return;
        auto now = std::chrono::steady_clock::now();
        if (!final && now - last_ < std::chrono::milliseconds(tty_ ? 250 : 10000)) return;
        last_ = now;
        double frac = std::min(1.0, double(done) / double(total_));
        double secs = std::chrono::duration<double>(now - start_).count();
        int filled = int(frac * 30);
        std::fprintf(stderr, "%s[%.*s%.*s] %5.1f%%  %.2f MB/s  %llu docs  %llu tokens",
                     tty_ ? "\r" : "", filled, "##############################", 30 - filled,
                     "                              ", 100 * frac,
                     secs > 0 ? done / secs / 1e6 : 0.0, (unsigned long long)docs,
                     (unsigned long long)tokens);
        if (final || !tty_) std::fputc('\n', stderr);
    }

private:
    bool on_, tty_;
    uint64_t total_;
    std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now(), last_{};
};

// Where `text` stops being UTF-8 text: the offset of the first byte of an invalid sequence, or of
// a NUL (which only binary files hold); npos when it is all text.
size_t first_non_text_byte(std::string_view text) {
    for (size_t i = 0; i < text.size();) {
        if (text[i] == '\0') return i;
        const unicode::Decoded d = unicode::decode_utf8(text, i);
        if (d.cp == unicode::kInvalid) return i;
        i += d.len;
    }
    return std::string_view::npos;
}

std::string non_text_error(std::string_view text, size_t at) {
    char buf[96];
    std::snprintf(buf, sizeof buf, "not UTF-8 text: byte 0x%02X at column %zu",
                  unsigned(static_cast<uint8_t>(text[at])), at + 1);
    return buf;
}

// The output directory is built beside its target and moved into place at the end, so a failed
// or interrupted run leaves no half-written (or empty) output behind.
class StagedDir {
public:
    explicit StagedDir(const std::string& target)
        : target_(fs::path(target).lexically_normal()),
          work_(target_.string() + ".tmp." + std::to_string(::getpid())) {
        if (target_.filename().empty()) target_ = target_.parent_path();
        std::error_code ec;
        fs::remove_all(work_, ec);
        fs::create_directories(work_, ec);
        if (ec) fail(target + ": cannot create " + work_.string() + " (" + ec.message() + ")");
    }
    ~StagedDir() {
        std::error_code ec;
        if (!committed_) fs::remove_all(work_, ec);
    }
    StagedDir(const StagedDir&) = delete;
    StagedDir& operator=(const StagedDir&) = delete;
    std::string path() const { return work_.string(); }
    // Moves every file into the target (created when missing); shards of an earlier, larger run
    // that this one did not write are removed, so the sampler cannot pick them up.
    void commit(const std::vector<std::string>& shards) {
        std::error_code ec;
        fs::create_directories(target_, ec);
        if (ec) fail(target_.string() + ": cannot create (" + ec.message() + ")");
        for (const char* split : {"train", "val"})
            for (const std::string& p : list_shards(target_.string(), split))
                if (std::find(shards.begin(), shards.end(), fs::path(p).filename().string()) ==
                    shards.end())
                    fs::remove(p);
        for (const auto& e : fs::directory_iterator(work_)) {
            fs::rename(e.path(), target_ / e.path().filename(), ec);
            if (ec)
                fail(target_.string() + ": cannot move " + e.path().string() + " into place (" +
                     ec.message() + ")");
        }
        committed_ = true;
        fs::remove_all(work_, ec);
    }

private:
    fs::path target_, work_;
    bool committed_ = false;
};

}  // namespace

std::vector<std::string> list_shards(const std::string& dir, const std::string& split) {
    if (fs::is_regular_file(dir)) return {dir};
    if (!fs::is_directory(dir)) fail(dir + ": no such shard directory or .npts file");
    std::vector<std::string> out;
    for (const auto& e : fs::directory_iterator(dir)) {
        std::string n = e.path().filename().string();
        if (n.rfind(split + "_", 0) == 0 && n.size() > 5 && n.ends_with(".npts"))
            out.push_back(e.path().string());
    }
    std::sort(out.begin(), out.end());
    return out;
}

nlohmann::json PrepareSummary::to_json(const PrepareOptions& opt, int32_t vocab_size) const {
    uint64_t all_tokens = tokens[0] + tokens[1];
    return {{"documents",
             {{"train", documents[0]},
              {"val", documents[1]},
              {"total", documents[0] + documents[1]},
              {"chat", chat_documents}}},
            {"tokens", {{"train", tokens[0]}, {"val", tokens[1]}, {"total", all_tokens}}},
            {"loss_tokens", {{"train", loss_tokens[0]}, {"val", loss_tokens[1]}}},
            {"words", words},
            {"bytes", bytes},
            {"tokens_per_word", words ? double(all_tokens) / double(words) : 0.0},
            {"malformed_lines", malformed},
            {"malformed_examples", malformed_examples},
            {"shards", shards},
            {"inputs", opt.inputs},
            {"format", opt.format},
            {"text_docs", opt.text_docs},
            {"val_fraction", opt.val_fraction},
            {"seed", opt.seed},
            {"tokenizer", opt.tokenizer_name},
            {"vocab_size", vocab_size},
            {"seconds", seconds}};
}

PrepareSummary prepare_data(const PrepareOptions& opt, const TextEncoder& enc) {
    if (opt.inputs.empty()) fail("data prepare: --input needs at least one file");
    if (opt.out_dir.empty()) fail("data prepare: --out is required");
    if (!(opt.val_fraction >= 0 && opt.val_fraction < 1))
        fail("data prepare: --val-fraction must be in [0, 1)");
    if (opt.format != "auto" && opt.format != "text" && opt.format != "jsonl" &&
        opt.format != "chat")
        fail("data prepare: --format must be auto, text, jsonl or chat, got " + opt.format);
    if (opt.text_docs != "blank" && opt.text_docs != "line" && opt.text_docs != "file")
        fail("data prepare: --text-docs must be blank, line or file, got " + opt.text_docs);
    if (opt.shard_tokens == 0) fail("data prepare: shard size must be positive");
    uint64_t total_bytes = 0;
    for (const auto& f : opt.inputs) {
        std::error_code ec;
        auto sz = fs::file_size(f, ec);
        if (ec) fail(f + ": cannot read input (" + ec.message() + ")");
        total_bytes += sz;
    }
    StagedDir out(opt.out_dir);

    auto t0 = std::chrono::steady_clock::now();
    PrepareSummary sum;
    SplitWriter writers[2] = {{out.path(), "train", opt.shard_tokens, enc.vocab_size()},
                              {out.path(), "val", opt.shard_tokens, enc.vocab_size()}};
    Progress progress(opt.progress, total_bytes);
    uint64_t doc_index = 0, bytes_done = 0;
    std::vector<Item> batch;

    auto run_batch = [&]() {
        for (const Item& it : batch)
            if (it.error.empty() && it.doc.is_chat && !enc.has_chat_specials())
                fail(it.where + ": chat record, but the tokenizer " + opt.tokenizer_name +
                     " lacks <|im_start|> <|im_end|> <think> </think> at ids 2..5");
#pragma omp parallel for schedule(dynamic, 16)
        for (size_t i = 0; i < batch.size(); ++i) {
            if (!batch[i].error.empty()) continue;
            try {
                batch[i].tok = tokenize_document(batch[i].doc, enc);
            } catch (const std::exception& e) {
                batch[i].error = e.what();
            }
        }
        for (Item& it : batch) {
            if (!it.error.empty()) {
                ++sum.malformed;
                if (sum.malformed_examples.size() < 10)
                    sum.malformed_examples.push_back(it.where + ": " + it.error);
                if (sum.malformed <= opt.max_warnings)
                    std::fprintf(stderr, "%swarning: %s: %s (line skipped)\n",
                                 opt.progress ? "\n" : "", it.where.c_str(), it.error.c_str());
                else if (sum.malformed == opt.max_warnings + 1)
                    std::fprintf(stderr,
                                 "%swarning: further malformed lines are counted but not shown\n",
                                 opt.progress ? "\n" : "");
                continue;
            }
            // Which split a document lands in depends only on (seed, its index), not on threads.
            uint64_t h = splitmix64(opt.seed * 0x9e3779b97f4a7c15ull ^ splitmix64(doc_index++));
            int split = double(h >> 11) * 0x1.0p-53 < opt.val_fraction ? 1 : 0;
            const Document& d = it.doc;
            if (d.is_chat) {
                ++sum.chat_documents;
                for (const Message& m : d.messages) sum.words += count_words(m.content);
            } else {
                sum.words += count_words(d.text);
            }
            sum.documents[split]++;
            sum.tokens[split] += it.tok.ids.size();
            for (uint8_t m : it.tok.mask) sum.loss_tokens[split] += m;
            writers[split].add(it.tok);
        }
        batch.clear();
        progress.update(bytes_done, sum.documents[0] + sum.documents[1],
                        sum.tokens[0] + sum.tokens[1]);
    };
    auto push = [&](Item&& it) {
        batch.push_back(std::move(it));
        if (batch.size() >= 2048) run_batch();
    };

    for (const std::string& file : opt.inputs) {
        std::string fmt = opt.format;
        if (fmt == "auto")
            fmt = file.ends_with(".jsonl") || file.ends_with(".json") ? "jsonl" : "text";
        std::ifstream in(file, std::ios::binary);
        if (!in) fail(file + ": cannot open input");
        if (fmt == "text" && opt.text_docs == "file") {
            Item it;
            it.doc.text = read_file(file);
            bytes_done += it.doc.text.size();
            sum.bytes += it.doc.text.size();
            it.where = file + ":1";
            if (const size_t bad = first_non_text_byte(it.doc.text); bad != std::string::npos) {
                const std::string_view t(it.doc.text);
                const size_t line_start = t.rfind('\n', bad) + 1;  // npos + 1 == 0
                fail(file + ":" +
                     std::to_string(1 + std::count(t.begin(), t.begin() + ptrdiff_t(bad), '\n')) +
                     ": " + non_text_error(t.substr(line_start), bad - line_start) +
                     " (--text-docs file reads the whole file as one document)");
            }
            if (count_words(it.doc.text) > 0) push(std::move(it));
            continue;
        }
        std::string line, para;
        uint64_t lineno = 0, para_start = 1;
        auto flush_para = [&]() {
            if (count_words(para) > 0) {
                Item it;
                while (!para.empty() && para.back() == '\n') para.pop_back();
                it.doc.text = std::move(para);
                it.where = file + ":" + std::to_string(para_start);
                push(std::move(it));
            }
            para.clear();
        };
        while (std::getline(in, line)) {
            ++lineno;
            bytes_done += line.size() + 1;
            sum.bytes += line.size() + 1;
            if (!line.empty() && line.back() == '\r') line.pop_back();
            if (const size_t bad = first_non_text_byte(line); bad != std::string::npos) {
                // Reported and skipped like a malformed record; a file that is mostly not text
                // ends the run below.
                Item it;
                it.where = file + ":" + std::to_string(lineno);
                it.error = non_text_error(line, bad);
                push(std::move(it));
                if (fmt == "text" && opt.text_docs == "blank") flush_para();
                continue;
            }
            if (fmt == "text") {
                if (opt.text_docs == "line") {
                    para = line;
                    para_start = lineno;
                    flush_para();
                } else if (count_words(line) == 0) {
                    flush_para();
                } else {
                    if (para.empty()) para_start = lineno;
                    para += line;
                    para += '\n';
                }
                continue;
            }
            if (count_words(line) == 0) continue;
            Item it;
            it.where = file + ":" + std::to_string(lineno);
            try {
                nlohmann::json j = nlohmann::json::parse(line);
                it.doc = record_to_document(j);
                if (fmt == "chat" && !it.doc.is_chat)
                    fail("a {\"text\"} record where --format chat expects a conversation");
            } catch (const nlohmann::json::exception& e) {
                it.error = std::string("invalid JSON (") + e.what() + ")";
            } catch (const Error& e) {
                it.error = e.what();
            }
            push(std::move(it));
        }
        if (in.bad()) fail(file + ": read error at line " + std::to_string(lineno + 1));
        if (fmt == "text") flush_para();
    }
    run_batch();
    const uint64_t docs = sum.documents[0] + sum.documents[1];
    const std::string example =
        sum.malformed_examples.empty() ? "" : " (first: " + sum.malformed_examples[0] + ")";
    if (docs == 0)
        fail("data prepare: no documents in " + std::to_string(opt.inputs.size()) +
             " input file(s)" +
             (sum.malformed > 0 ? ": all " + std::to_string(sum.malformed) +
                                      " non-empty lines are malformed" + example
                                : ": the input is empty or blank"));
    if (sum.malformed > docs)
        fail("data prepare: " + std::to_string(sum.malformed) + " malformed lines against " +
             std::to_string(docs) + " documents: the input is mostly not text or records" +
             example);
    for (auto& w : writers) {
        w.flush();
        sum.shards.insert(sum.shards.end(), w.written.begin(), w.written.end());
    }
    progress.update(total_bytes, sum.documents[0] + sum.documents[1], sum.tokens[0] + sum.tokens[1],
                    true);
    sum.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    // File names (in "inputs" and in every example's file:line) need not be UTF-8: replace what
    // is not, rather than fail the whole run at its end (json::dump throws on invalid UTF-8).
    write_file_atomic((fs::path(out.path()) / "summary.json").string(),
                      sum.to_json(opt, enc.vocab_size())
                              .dump(2, ' ', false, nlohmann::json::error_handler_t::replace) +
                          "\n");
    out.commit(sum.shards);
    return sum;
}

}  // namespace np::data
