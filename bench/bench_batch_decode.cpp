// Batched decode on the packed engine without a server: B sequences (B = 1, 2, 4, 8, 16), each
// prefilled with a short prompt, then `steps` runs that feed every sequence one token. Reports
// tokens/s of all sequences together and the speed-up over B = 1, measured in rounds that
// alternate the batch sizes (medians and ranges): what continuous batching can give at most,
// against which bench/serve_streams.sh measures the server.
//
//   bench_batch_decode MODEL.gguf [steps (64)] [rounds (3)] [batches (1,2,4,8,16)]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <sstream>
#include <string>
#include <vector>

#include "infer/packed_engine.h"

using Clock = std::chrono::steady_clock;

namespace {

double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
}

// Tokens/s of `steps` batched decode steps over B fresh slots.
double decode_tps(np::infer::PackedEngine& e, int B, int steps) {
    const int V = e.model().config().vocab_size;
    std::vector<std::vector<float>> logits(static_cast<size_t>(B),
                                           std::vector<float>(static_cast<size_t>(V)));
    std::vector<std::vector<int32_t>> prompt(static_cast<size_t>(B));
    std::vector<np::infer::PackedEngine::Segment> segs;
    for (int b = 0; b < B; b++) {
        e.reset(b);
        prompt[size_t(b)] = {0};
        for (int i = 0; i < 16; i++) prompt[size_t(b)].push_back(1 + (b * 131 + i * 17) % (V - 1));
        segs.push_back({b, prompt[size_t(b)], logits[size_t(b)].data()});
        e.run(std::span(&segs.back(), 1));
    }
    std::vector<int32_t> next(static_cast<size_t>(B));
    const auto t0 = Clock::now();
    for (int s = 0; s < steps; s++) {
        for (int b = 0; b < B; b++) {
            const auto& l = logits[size_t(b)];
            next[size_t(b)] = int32_t(std::max_element(l.begin() + 1, l.end()) - l.begin());
            segs[size_t(b)] = {b, std::span(&next[size_t(b)], 1), logits[size_t(b)].data()};
        }
        e.run(segs);
    }
    return double(B) * steps / std::chrono::duration<double>(Clock::now() - t0).count();
}

std::vector<int> parse_list(const std::string& s) {
    std::vector<int> out;
    std::stringstream ss(s);
    for (std::string x; std::getline(ss, x, ',');) out.push_back(std::stoi(x));
    return out;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 2) {
        std::fprintf(stderr, "usage: bench_batch_decode MODEL.gguf [steps] [rounds] [batches]\n");
        return 2;
    }
    const int steps = argc > 2 ? std::stoi(argv[2]) : 64;
    const int rounds = argc > 3 ? std::stoi(argv[3]) : 3;
    const std::vector<int> batches = parse_list(argc > 4 ? argv[4] : "1,2,4,8,16");
    const int max_b = *std::max_element(batches.begin(), batches.end());
    np::infer::PackedEngine e(np::infer::PackedModel::from_gguf(argv[1]), max_b, 16 * max_b + 16);
    std::vector<std::vector<double>> tps(batches.size());
    decode_tps(e, 1, 8);  // warm-up
    for (int r = 0; r < rounds; r++)
        for (size_t i = 0; i < batches.size(); i++)
            tps[i].push_back(decode_tps(e, batches[i], steps));
    std::printf("| batch | tokens/s | x batch 1 |\n| ---: | ---: | ---: |\n");
    for (size_t i = 0; i < batches.size(); i++) {
        std::vector<double> ratio;
        for (int r = 0; r < rounds; r++) ratio.push_back(tps[i][size_t(r)] / tps[0][size_t(r)]);
        std::printf("| %d | %.1f [%.1f, %.1f] | %.2f |\n", batches[i], median(tps[i]),
                    *std::min_element(tps[i].begin(), tps[i].end()),
                    *std::max_element(tps[i].begin(), tps[i].end()), median(ratio));
    }
    return 0;
}
