#include "server/scheduler.h"

#include <algorithm>
#include <chrono>

#include "core/error.h"

namespace np::server {

namespace {

// The reusable part of `held` for `prompt`: all of it when it is a proper prefix (at least one
// prompt token must be left to feed, for its logits), else 0.
size_t prefix_use(const std::vector<int32_t>& held, const std::vector<int32_t>& prompt) {
    if (held.empty() || held.size() >= prompt.size()) return 0;
    return std::equal(held.begin(), held.end(), prompt.begin()) ? held.size() : 0;
}

const SchedulerOptions& checked(const SchedulerOptions& opt) {
    if (opt.slots < 1 || opt.prefill_chunk < 1 || opt.max_prefills < 1)
        fail("scheduler: slots, prefill_chunk and max_prefills must be >= 1");
    if (opt.max_queue < 0) fail("scheduler: max_queue must be >= 0");
    return opt;
}

double seconds(std::chrono::steady_clock::duration d) {
    return std::chrono::duration<double>(d).count();
}

}  // namespace

Scheduler::Scheduler(std::shared_ptr<const infer::PackedModel> model, const Tokenizer& tok,
                     const SchedulerOptions& opt)
    : tok_(tok),
      opt_(checked(opt)),
      ctx_(opt.ctx > 0 ? opt.ctx : model->config().max_seq_len),
      engine_(std::move(model), opt.slots, opt.slots + opt.max_prefills * opt.prefill_chunk),
      slots_(size_t(opt.slots)) {
    for (Slot& s : slots_) s.logits.resize(size_t(engine_.model().config().vocab_size));
    thread_ = std::thread([this] { loop(); });
}

Scheduler::~Scheduler() {
    stop(false);
}

bool Scheduler::submit(Job job) {
    job.options.ctx = ctx_;
    infer::validate(job.options);
    if (job.prompt.empty()) fail("the prompt is empty");
    const int V = engine_.model().config().vocab_size;
    for (int32_t t : job.prompt)
        if (t < 0 || t >= V)
            fail("prompt token id " + std::to_string(t) + " outside the vocabulary");
    if (int64_t(job.prompt.size()) >= ctx_)
        fail("the prompt is " + std::to_string(job.prompt.size()) +
             " tokens, which leaves no room in the context of " + std::to_string(ctx_) + " tokens");
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_ || jobs_in_ >= opt_.max_queue + opt_.slots) return false;
    jobs_in_++;
    queue_.push_back(std::make_unique<Job>(std::move(job)));
    cv_.notify_all();
    return true;
}

void Scheduler::stop(bool drain) {
    {
        std::lock_guard<std::mutex> lock(mu_);
        if (!stopping_) drain_ = drain;
        if (!drain) drain_ = false;
        stopping_ = true;
        cv_.notify_all();
    }
    if (thread_.joinable()) thread_.join();
}

SchedulerStats Scheduler::stats() const {
    std::lock_guard<std::mutex> lock(mu_);
    SchedulerStats s = stats_;
    s.queued = int(queue_.size());
    return s;
}

void Scheduler::loop() {
    while (true) {
        {
            std::unique_lock<std::mutex> lock(mu_);
            if (stopping_ && !drain_) {
                while (!queue_.empty()) {
                    std::unique_ptr<Job> job = std::move(queue_.front());
                    queue_.pop_front();
                    jobs_in_--;
                    job->on_done({}, "the server is shutting down");
                }
                for (Slot& s : slots_)
                    if (s.job) s.job->cancelled->store(true);
            }
            admit(lock);
            const bool busy = std::any_of(slots_.begin(), slots_.end(),
                                          [](const Slot& s) { return bool(s.job); });
            if (!busy) {
                if (stopping_) return;
                cv_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
                continue;
            }
        }
        step();
    }
}

// Moves queued jobs into free slots, each to the free slot that holds the longest prefix of its
// prompt.
void Scheduler::admit(std::unique_lock<std::mutex>&) {
    while (!queue_.empty()) {
        int best = -1;
        size_t best_use = 0;
        for (size_t i = 0; i < slots_.size(); i++) {
            const Slot& s = slots_[i];
            if (s.job) continue;
            const size_t use = std::max(prefix_use(s.held, queue_.front()->prompt),
                                        prefix_use(s.mark_tokens, queue_.front()->prompt));
            if (best < 0 || use > best_use) best = int(i), best_use = use;
        }
        if (best < 0) return;
        std::unique_ptr<Job> job = std::move(queue_.front());
        queue_.pop_front();
        start(slots_[size_t(best)], best, std::move(job));
    }
    int busy = 0;
    for (const Slot& s : slots_) busy += bool(s.job);
    stats_.busy_slots = busy;
}

void Scheduler::start(Slot& s, int index, std::unique_ptr<Job> job) {
    const std::vector<int32_t>& prompt = job->prompt;
    if (prefix_use(s.held, prompt) > 0 &&
        prefix_use(s.held, prompt) >= prefix_use(s.mark_tokens, prompt)) {
        // The slot holds a prefix of the prompt as it is: go on from there.
    } else if (prefix_use(s.mark_tokens, prompt) > 0 && engine_.rewind(index, s.mark)) {
        s.held = s.mark_tokens;
    } else {
        engine_.reset(index);
        s.held.clear();
    }
    s.fed = s.held.size();
    s.reused = s.fed;
    try {
        s.gen = std::make_unique<infer::GenerationState>(tok_, prompt, job->options, job->on_piece);
    } catch (const std::exception& e) {
        jobs_in_--;  // admit() holds the lock
        job->on_done({}, e.what());
        return;
    }
    stats_.prompt_tokens += int64_t(prompt.size());
    s.job = std::move(job);
}

void Scheduler::finish(Slot& s, const std::string& error) {
    infer::Generation g = s.gen->finish();
    g.prompt_tokens = int64_t(s.job->prompt.size() - s.reused);  // prefilled, as in generate()
    {
        std::lock_guard<std::mutex> lock(mu_);
        stats_.jobs_done++;
        if (s.job->cancelled->load()) stats_.jobs_cancelled++;
        stats_.generated_tokens += int64_t(g.tokens.size());
        jobs_in_--;
        // Counted free before the client hears of its reply, so /health agrees with it.
        stats_.busy_slots--;
    }
    s.job->on_done(g, error);
    s.job.reset();
    s.gen.reset();
}

bool Scheduler::step() {
    std::vector<infer::PackedEngine::Segment> segs;
    std::vector<int> seg_slot;
    int prefills = 0;
    for (size_t i = 0; i < slots_.size(); i++) {
        Slot& s = slots_[i];
        if (!s.job) continue;
        if (s.job->cancelled->load()) {
            finish(s, "cancelled");
            continue;
        }
        const std::vector<int32_t>& prompt = s.job->prompt;
        if (s.fed < prompt.size()) {
            if (prefills == opt_.max_prefills) continue;
            prefills++;
            // A fixed-size piece that does not cross a document start (id 0 after its first).
            size_t end = std::min(prompt.size(), s.fed + size_t(opt_.prefill_chunk));
            for (size_t k = s.fed + 1; k < end; k++)
                if (prompt[k] == 0) end = k;
            segs.push_back({int(i), std::span(prompt).subspan(s.fed, end - s.fed),
                            end == prompt.size() ? s.logits.data() : nullptr});
        } else {
            segs.push_back({int(i), std::span(&s.next, 1), s.logits.data()});
        }
        seg_slot.push_back(int(i));
    }
    if (segs.empty()) return false;
    const auto t0 = std::chrono::steady_clock::now();
    engine_.run(segs);
    const double dt = seconds(std::chrono::steady_clock::now() - t0);
    int64_t prefilled = 0;
    for (size_t k = 0; k < segs.size(); k++) {
        Slot& s = slots_[size_t(seg_slot[k])];
        s.held.insert(s.held.end(), segs[k].tokens.begin(), segs[k].tokens.end());
        if (s.fed < s.job->prompt.size()) {
            s.fed += segs[k].tokens.size();
            prefilled += int64_t(segs[k].tokens.size());
            if (s.fed < s.job->prompt.size()) continue;
            s.mark = engine_.checkpoint(seg_slot[k]);
            s.mark_tokens = s.job->prompt;
        }
        s.next = s.gen->next(s.logits);
        if (s.gen->done()) finish(s, "");
    }
    std::lock_guard<std::mutex> lock(mu_);
    stats_.steps++;
    stats_.busy_seconds += dt;
    stats_.prefilled_tokens += prefilled;
    int busy = 0;
    for (const Slot& s : slots_) busy += bool(s.job);
    stats_.busy_slots = busy;
    return true;
}

}  // namespace np::server
