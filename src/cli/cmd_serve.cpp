// nanoprime serve: an OpenAI-compatible HTTP server with continuous batching over the packed
// engine's slots, and a web chat at /. SIGINT / SIGTERM stop it cleanly: it stops accepting,
// cancels the generations in flight (their clients get what was written so far) and exits 0.
#include <pthread.h>
#include <signal.h>

#include <cstdio>
#include <random>
#include <thread>

#include "cli/commands.h"
#include "cli/common_flags.h"
#include "core/error.h"
#include "infer/model_loader.h"
#include "infer/packed_decoder.h"
#include "server/http_server.h"
#include "tokenizer/role_specials.h"

namespace np::cli {

namespace {

struct ServeArgs {
    std::string model, host = "127.0.0.1", api_key, alias, think = "auto";
    int port = 8080, parallel = 4, ctx = 0, threads = 0, queue = 64, think_budget = -1,
        prefill_chunk = 64, http_threads = 0;
    size_t max_body = size_t(1) << 20;
    SamplingArgs sampling;
};

void run_serve(const ServeArgs& a) {
    if (a.port < 0 || a.port > 65535)
        fail("--port: expected 0..65535, got " + std::to_string(a.port));
    if (a.parallel < 1 || a.parallel > 256)
        fail("-np/--parallel: expected 1..256 slots, got " + std::to_string(a.parallel));
    if (a.queue < 0) fail("--queue: expected >= 0, got " + std::to_string(a.queue));
    if (a.prefill_chunk < 1)
        fail("--prefill-chunk: expected >= 1, got " + std::to_string(a.prefill_chunk));
    if (a.think_budget < -1)
        fail("--think-budget: expected >= 0 or -1 (no limit), got " +
             std::to_string(a.think_budget));
    apply_threads(a.threads);
    infer::LoadedModel m = infer::load_model(a.model);
    require_nanoprime_specials(m.tokenizer, "--model " + a.model);
    const auto* packed = dynamic_cast<const infer::PackedDecoder*>(m.decoder.get());
    if (!packed) fail("serve: " + a.model + " did not open on the packed engine");

    server::SchedulerOptions so;
    so.slots = a.parallel;
    so.ctx = a.ctx;
    so.max_queue = a.queue;
    so.prefill_chunk = a.prefill_chunk;
    server::HttpOptions ho;
    ho.host = a.host;
    ho.port = a.port;
    ho.api_key = a.api_key;
    ho.max_body_bytes = a.max_body;
    // Every running or queued request holds a connection thread; a few more answer the rest (and
    // refuse with 429 when the queue is full, rather than leave a client waiting to connect).
    ho.http_threads = a.http_threads > 0 ? a.http_threads : a.parallel + a.queue + 8;
    ho.model_name = a.alias.empty() ? a.model : a.alias;
    infer::GenerateOptions& d = ho.defaults.options;
    d.mode = infer::parse_think_mode(a.think);
    d.think_budget = a.think_budget;
    d.sampling = sampler_options(a.sampling);
    ho.defaults.random_seed = a.sampling.seed < 0;

    // Signals go to one thread that waits for them; every other thread (the scheduler's, the
    // HTTP pool's) is created with them blocked.
    sigset_t stop_signals;
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGINT);
    sigaddset(&stop_signals, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
    signal(SIGPIPE, SIG_IGN);  // a client that goes away is a failed write, not the end

    server::Scheduler sched(packed->shared_model(), m.tokenizer, so);
    server::HttpServer http(sched, m.tokenizer, ho);
    http.bind();
    std::fprintf(stderr,
                 "nanoprime serve: %s (%s), %d slots, context %lld, listening on http://%s:%d\n",
                 a.model.c_str(), m.decoder->name().c_str(), so.slots,
                 static_cast<long long>(sched.context()), a.host.c_str(), http.port());
    int got = 0;
    std::thread waiter([&] {
        sigwait(&stop_signals, &got);
        if (got == 0) return;  // woken by the process itself at the end
        std::fprintf(stderr, "nanoprime serve: %s, stopping\n",
                     got == SIGINT ? "SIGINT" : "SIGTERM");
        sched.stop(false);
        http.stop();
    });
    http.listen();
    if (got == 0) pthread_kill(waiter.native_handle(), SIGTERM);  // listen ended on its own
    waiter.join();
    sched.stop(false);
}

}  // namespace

void register_serve_commands(CLI::App& app) {
    auto a = std::make_shared<ServeArgs>();
    CLI::App* c = app.add_subcommand(
        "serve", "OpenAI-compatible HTTP server with continuous batching and a web chat at /");
    c->add_option("-m,--model", a->model, "Checkpoint directory or .gguf file")->required();
    c->add_option("--host", a->host, "Address to listen on")->capture_default_str();
    c->add_option("--port", a->port, "Port (0: any free port, printed at start)")
        ->capture_default_str();
    c->add_option("--parallel", a->parallel,
                  "Slots (-np): sequences decoded together in each batched step")
        ->capture_default_str();
    add_ctx_flag(c, a->ctx);
    c->add_option("--api-key", a->api_key, "Require 'Authorization: Bearer KEY' on /v1/ endpoints");
    c->add_option("--alias", a->alias, "Model name reported by /v1/models (default: the path)");
    c->add_option("--queue", a->queue, "Requests waiting for a slot before 429")
        ->capture_default_str();
    c->add_option("--prefill-chunk", a->prefill_chunk,
                  "Prompt tokens per slot per step (interleaved with decoding)")
        ->capture_default_str();
    c->add_option("--max-body", a->max_body, "Largest request body in bytes (413 above)")
        ->capture_default_str();
    c->add_option("--http-threads", a->http_threads,
                  "Connections served at once (0: slots + queue + 8)")
        ->capture_default_str();
    c->add_option("--think", a->think, "Thinking where a request is silent: on | off | auto")
        ->capture_default_str();
    c->add_option("--think-budget", a->think_budget,
                  "Default thinking budget in tokens (-1: no limit)")
        ->capture_default_str();
    add_threads_flag(c, a->threads);
    add_sampling_flags(c, a->sampling);
    c->callback([a] { run_serve(*a); });
}

}  // namespace np::cli
