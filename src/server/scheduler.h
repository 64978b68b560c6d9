// Continuous batching over the packed engine's sequence slots (infer/packed_engine.h). One
// scheduler thread owns the engine; request threads submit jobs and receive their text through
// callbacks. Every step runs all active slots through the weights once: a decoding slot gives one
// token, a prefilling slot a chunk of its prompt (chunks interleave with decoding, so a long prompt
// does not stall the other streams). Jobs wait in a bounded queue and join between steps. A slot
// remembers its last prompt (the engine's recurrent state checkpointed at its end) and its whole
// sequence; a new job goes to the free slot holding the longest prefix of its prompt, and only the
// rest is prefilled.
//
// A sequence's tokens do not depend on the traffic around it: the engine's rows are independent,
// prompt chunks have a fixed size, and each job samples with its own seeded sampler.
#pragma once
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "infer/generate.h"
#include "infer/packed_engine.h"
#include "tokenizer/tokenizer.h"

namespace np::server {

struct Job {
    std::vector<int32_t> prompt;
    infer::GenerateOptions options;
    // Called on the scheduler thread: pieces of the text as they are produced, then once the
    // result (error empty) or an error.
    infer::StreamCallback on_piece;
    std::function<void(const infer::Generation&, const std::string& error)> on_done;
    // Set by the submitter (a client that went away): the job ends at the next step and frees its
    // slot; on_done is still called.
    std::shared_ptr<std::atomic<bool>> cancelled = std::make_shared<std::atomic<bool>>(false);
};

struct SchedulerOptions {
    int slots = 4;
    int prefill_chunk = 64;  // prompt tokens per slot per step
    int max_prefills = 2;    // prompt chunks per step, bounds a step's rows
    int max_queue = 64;      // waiting jobs beyond the slots; more are refused
    int64_t ctx = 0;         // per-slot context (prompt + generation); 0: the model's max_seq_len
};

struct SchedulerStats {
    int64_t jobs_done = 0, jobs_cancelled = 0, prompt_tokens = 0, prefilled_tokens = 0,
            generated_tokens = 0, steps = 0;
    int queued = 0, busy_slots = 0;
    double busy_seconds = 0;  // time spent in engine steps
};

class Scheduler {
public:
    Scheduler(std::shared_ptr<const infer::PackedModel> model, const Tokenizer& tok,
              const SchedulerOptions& opt);
    ~Scheduler();  // stop(false)
    Scheduler(const Scheduler&) = delete;
    Scheduler& operator=(const Scheduler&) = delete;

    // Queues a job. false when the queue is full or the scheduler is stopping (the job is not
    // taken). Bad options or a prompt that leaves no room in the context throw np::Error before
    // anything is queued.
    bool submit(Job job);
    // Ends the scheduler thread: drain = finish every queued and running job first, otherwise
    // cancel them. Idempotent.
    void stop(bool drain);
    SchedulerStats stats() const;
    const SchedulerOptions& options() const { return opt_; }
    int64_t context() const { return ctx_; }

private:
    struct Slot {
        std::unique_ptr<Job> job;
        std::unique_ptr<infer::GenerationState> gen;
        std::vector<int32_t> held;  // tokens the engine holds for this slot
        size_t fed = 0;             // prompt tokens fed (prefill done when == prompt size)
        size_t reused = 0;          // prompt tokens the slot already held when the job began
        int32_t next = -1;          // token to feed in the next step (decoding)
        std::vector<float> logits;
        // The engine state at the end of the last prompt, and that prompt.
        infer::PackedEngine::Checkpoint mark;
        std::vector<int32_t> mark_tokens;
    };
    void loop();
    void admit(std::unique_lock<std::mutex>& lock);
    void start(Slot& s, int index, std::unique_ptr<Job> job);
    void finish(Slot& s, const std::string& error);
    bool step();  // false when no slot is busy

    const Tokenizer& tok_;
    SchedulerOptions opt_;
    int64_t ctx_;
    infer::PackedEngine engine_;
    std::vector<Slot> slots_;
    mutable std::mutex mu_;
    std::condition_variable cv_;
    std::deque<std::unique_ptr<Job>> queue_;
    bool stopping_ = false, drain_ = true;
    int jobs_in_ = 0;  // queued and running: at most max_queue + slots
    SchedulerStats stats_;
    std::thread thread_;
};

}  // namespace np::server
