// `data prepare` input parsing (data/prepare.cpp): plain text (blank-line, line or whole-file
// documents), JSONL records and chat JSONL, tokenized with the byte-level test encoder into real
// shards. First byte: bits 0-1 pick the format (auto on a .jsonl name, text, jsonl, chat), bits 2-3
// the text document mode (blank, line, file); the rest is the input file. The shards written must
// hold exactly the tokens the summary reports.
#include "data/encoder.h"
#include "data/prepare.h"
#include "data/shard.h"
#include "fuzz_common.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size == 0) return 0;
    const auto& scratch = np::fuzz::Scratch::get();
    static const char* const kFormats[] = {"auto", "text", "jsonl", "chat"};
    static const char* const kDocs[] = {"blank", "line", "file", "blank"};
    np::data::PrepareOptions opt;
    opt.format = kFormats[data[0] & 3];
    opt.text_docs = kDocs[(data[0] >> 2) & 3];
    opt.inputs = {scratch.write("in.jsonl", {data + 1, size - 1})};
    opt.out_dir = scratch.fresh_dir("prepared");
    opt.val_fraction = 0.25;
    opt.shard_tokens = 256;  // several shards per split, so shard rollover is exercised
    opt.progress = false;
    opt.max_warnings = 0;
    opt.tokenizer_name = "bytes";
    const np::data::ByteEncoder enc;
    np::data::PrepareSummary sum;
    if (!np::fuzz::accepts([&] { sum = np::data::prepare_data(opt, enc); })) return 0;

    for (int split = 0; split < 2; split++) {
        uint64_t tokens = 0, loss = 0;
        for (const std::string& p : np::data::list_shards(opt.out_dir, split ? "val" : "train")) {
            const np::data::ShardReader r(p);
            NP_FUZZ_CHECK(r.vocab_size() == uint32_t(enc.vocab_size()));
            tokens += r.size();
            for (uint64_t i = 0; i < r.size(); i++) loss += r.mask(i);
        }
        NP_FUZZ_CHECK(tokens == sum.tokens[split]);
        NP_FUZZ_CHECK(loss == sum.loss_tokens[split]);
    }
    NP_FUZZ_CHECK(sum.bytes <= size);
    return 0;
}
