#include "server/http_server.h"

#include <httplib.h>

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <deque>
#include <mutex>

#include "core/error.h"
#include "server/web_chat.h"

namespace np::server {

using nlohmann::json;

namespace {

int64_t unix_time() {
    return std::chrono::duration_cast<std::chrono::seconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

void send_error(httplib::Response& res, const ApiError& e) {
    res.status = e.status;
    res.set_content(json_text(error_json(e)), "application/json");
}

// What the jobs of one request report, read by the thread that answers it.
struct Exchange {
    struct Event {
        int choice = 0;
        std::string piece;
        bool thinking = false, done = false;
        infer::Generation gen;
        std::string error;
    };
    std::mutex mu;
    std::condition_variable cv;
    std::deque<Event> events;
    std::shared_ptr<std::atomic<bool>> cancelled = std::make_shared<std::atomic<bool>>(false);

    void push(Event e) {
        std::lock_guard<std::mutex> lock(mu);
        events.push_back(std::move(e));
        cv.notify_all();
    }
    // The events so far, after waiting up to `wait` for one.
    std::deque<Event> take(std::chrono::milliseconds wait) {
        std::unique_lock<std::mutex> lock(mu);
        cv.wait_for(lock, wait, [&] { return !events.empty(); });
        std::deque<Event> out;
        out.swap(events);
        return out;
    }
};

// The state of one answer in progress (shared by the content provider's calls).
struct Answer {
    ApiRequest req;
    std::string id, model;
    int64_t created = 0;
    std::shared_ptr<Exchange> ex;
    std::vector<ChoiceResult> results;
    std::vector<ThinkSplitter> split;
    std::vector<uint8_t> started;
    int done = 0;
    std::string error;
};

bool write(httplib::DataSink& sink, const std::string& s) {
    return sink.write(s.data(), s.size());
}

std::string sse(const json& j) {
    return "data: " + json_text(j) + "\n\n";
}

}  // namespace

struct HttpServer::Impl {
    Scheduler& sched;
    const Tokenizer& tok;
    HttpOptions opt;
    httplib::Server svr;
    std::atomic<int64_t> requests{0}, errors{0}, next_id{0};

    Impl(Scheduler& s, const Tokenizer& t, HttpOptions o) : sched(s), tok(t), opt(std::move(o)) {
        routes();
    }

    void routes();
    void completion(const httplib::Request& hreq, httplib::Response& res, bool chat);
    bool stream_step(Answer& a, httplib::DataSink& sink);
    bool json_step(Answer& a, httplib::DataSink& sink);
    std::string metrics() const;
};

void HttpServer::Impl::routes() {
    // A thread per open connection up to http_threads: each stream holds one while it runs.
    // (httplib takes ownership of the raw pointer.)
    const int threads = opt.http_threads;
    svr.new_task_queue = [threads] { return new httplib::ThreadPool(size_t(threads)); };
    svr.set_payload_max_length(opt.max_body_bytes);
    // SO_REUSEADDR (a restart binds at once) but not httplib's default SO_REUSEPORT, which would
    // let a second server share the port silently instead of failing to bind.
    svr.set_socket_options([](socket_t sock) {
        int yes = 1;
        setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
    });
    svr.set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
        requests++;
        if (opt.api_key.empty() || req.path.rfind("/v1/", 0) != 0 || req.method == "OPTIONS")
            return httplib::Server::HandlerResponse::Unhandled;
        if (req.get_header_value("Authorization") == "Bearer " + opt.api_key)
            return httplib::Server::HandlerResponse::Unhandled;
        send_error(res, {401, "invalid or missing API key (send 'Authorization: Bearer KEY')", "",
                         "authentication_error"});
        return httplib::Server::HandlerResponse::Handled;
    });
    svr.set_error_handler([this](const httplib::Request& req, httplib::Response& res) {
        errors++;
        if (!res.body.empty()) return;
        std::string msg = "HTTP " + std::to_string(res.status);
        if (res.status == 404) msg = "no endpoint " + req.method + " " + req.path;
        if (res.status == 413)
            msg =
                "the request body is larger than " + std::to_string(opt.max_body_bytes) + " bytes";
        if (res.status == 405) msg = "method " + req.method + " not allowed on " + req.path;
        send_error(res, {res.status, msg, "",
                         res.status >= 500 ? "server_error" : "invalid_request_error"});
    });
    svr.set_exception_handler(
        [](const httplib::Request&, httplib::Response& res, std::exception_ptr ep) {
            std::string what = "internal error";
            try {
                std::rethrow_exception(ep);
            } catch (const std::exception& e) {
                what = e.what();
            } catch (...) {
            }
            send_error(res, {500, what, "", "server_error"});
        });
    svr.Post("/v1/chat/completions",
             [this](const httplib::Request& q, httplib::Response& r) { completion(q, r, true); });
    svr.Post("/v1/completions",
             [this](const httplib::Request& q, httplib::Response& r) { completion(q, r, false); });
    svr.Get("/v1/models", [this](const httplib::Request&, httplib::Response& res) {
        const json m = {{"id", opt.model_name},
                        {"object", "model"},
                        {"created", unix_time()},
                        {"owned_by", "nanoprime"},
                        {"context_length", sched.context()}};
        res.set_content(json_text(json{{"object", "list"}, {"data", json::array({m})}}),
                        "application/json");
    });
    svr.Get("/health", [this](const httplib::Request&, httplib::Response& res) {
        const SchedulerStats s = sched.stats();
        res.set_content(json{{"status", "ok"},
                             {"slots_idle", sched.options().slots - s.busy_slots},
                             {"slots_processing", s.busy_slots},
                             {"queued", s.queued}}
                            .dump(),
                        "application/json");
    });
    svr.Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
        res.set_content(metrics(), "text/plain; version=0.0.4");
    });
    svr.Get("/", [](const httplib::Request&, httplib::Response& res) {
        res.set_header("Content-Security-Policy",
                       "default-src 'self'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; "
                       "connect-src 'self'");
        res.set_content(std::string(web_chat_html()), "text/html; charset=utf-8");
    });
}

std::string HttpServer::Impl::metrics() const {
    const SchedulerStats s = sched.stats();
    std::string out;
    auto metric = [&](const char* name, const char* type, const char* help, double v) {
        char line[96];
        std::snprintf(line, sizeof line, "%.6g", v);
        out += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " " + type + "\n" +
               name + " " + line + "\n";
    };
    metric("nanoprime_requests_total", "counter", "HTTP requests received", double(requests));
    metric("nanoprime_request_errors_total", "counter", "HTTP requests answered with an error",
           double(errors));
    metric("nanoprime_sequences_total", "counter", "generations finished", double(s.jobs_done));
    metric("nanoprime_sequences_cancelled_total", "counter", "generations cancelled",
           double(s.jobs_cancelled));
    metric("nanoprime_prompt_tokens_total", "counter", "prompt tokens of all generations",
           double(s.prompt_tokens));
    metric("nanoprime_prefilled_tokens_total", "counter",
           "prompt tokens run through the model (the rest came from a slot's cache)",
           double(s.prefilled_tokens));
    metric("nanoprime_generated_tokens_total", "counter", "tokens generated",
           double(s.generated_tokens));
    metric("nanoprime_tokens_per_second", "gauge",
           "tokens generated and prefilled per second of engine time",
           s.busy_seconds > 0 ? double(s.generated_tokens + s.prefilled_tokens) / s.busy_seconds
                              : 0.0);
    metric("nanoprime_engine_steps_total", "counter", "batched engine steps", double(s.steps));
    metric("nanoprime_queue_length", "gauge", "requests waiting for a slot", double(s.queued));
    metric("nanoprime_slots_busy", "gauge", "slots generating", double(s.busy_slots));
    metric("nanoprime_slots_total", "gauge", "slots", double(sched.options().slots));
    return out;
}

void HttpServer::Impl::completion(const httplib::Request& hreq, httplib::Response& res, bool chat) {
    auto a = std::make_shared<Answer>();
    try {
        a->req = parse_request(hreq.body, chat, opt.defaults);
        tokenize_request(a->req, tok, sched.context());
    } catch (const ApiError& e) {
        send_error(res, e);
        return;
    }
    const ApiRequest& req = a->req;
    a->id = std::string(chat ? "chatcmpl-" : "cmpl-") + std::to_string(unix_time()) + "-" +
            std::to_string(next_id++);
    a->model = req.model.empty() ? opt.model_name : req.model;
    a->created = unix_time();
    a->ex = std::make_shared<Exchange>();
    a->results.resize(size_t(req.n));
    a->split.resize(size_t(req.n));
    a->started.assign(size_t(req.n), 0);
    for (int i = 0; i < req.n; i++) {
        Job job;
        job.prompt = req.prompt_tokens;
        job.options = req.options;
        job.options.sampling.seed = req.options.sampling.seed + uint64_t(i);
        job.cancelled = a->ex->cancelled;
        std::weak_ptr<Exchange> w = a->ex;
        if (req.stream)  // a whole response needs only the end
            job.on_piece = [w, i](std::string_view piece, bool thinking) {
                if (auto ex = w.lock()) ex->push({i, std::string(piece), thinking, false, {}, {}});
            };
        job.on_done = [w, i](const infer::Generation& g, const std::string& error) {
            if (auto ex = w.lock()) ex->push({i, {}, false, true, g, error});
        };
        bool queued = false;
        try {
            queued = sched.submit(std::move(job));
        } catch (const Error& e) {
            a->ex->cancelled->store(true);
            send_error(res, {400, e.what(), ""});
            return;
        }
        if (!queued) {
            a->ex->cancelled->store(true);
            send_error(res, {429, "the server is busy (request queue full); retry later", "",
                             "rate_limit_error"});
            return;
        }
    }
    auto cancel = [a](bool success) {
        if (!success) a->ex->cancelled->store(true);
    };
    if (req.stream) {
        res.set_header("Cache-Control", "no-cache");
        res.set_chunked_content_provider(
            "text/event-stream",
            [this, a](size_t, httplib::DataSink& sink) { return stream_step(*a, sink); }, cancel);
    } else {
        res.set_chunked_content_provider(
            "application/json",
            [this, a](size_t, httplib::DataSink& sink) { return json_step(*a, sink); }, cancel);
    }
}

// One call of the event-stream provider: passes on what the jobs reported. A failed write means
// the client went away: the jobs are cancelled and their slots freed.
bool HttpServer::Impl::stream_step(Answer& a, httplib::DataSink& sink) {
    const auto events = a.ex->take(std::chrono::milliseconds(1000));
    std::string out;
    if (events.empty()) out = ": keep-alive\n\n";  // also how a silent disconnect is noticed
    for (const auto& ev : events) {
        const size_t i = size_t(ev.choice);
        if (!ev.done) {
            ThinkSplitter::Delta d;
            if (a.req.chat)
                d = a.split[i].push(ev.piece, ev.thinking);
            else
                d.content = ev.piece;
            if (d.reasoning.empty() && d.content.empty()) continue;
            out += sse(
                chunk_json(a.req, a.id, a.created, a.model, ev.choice, &d, nullptr, !a.started[i]));
            a.started[i] = 1;
            continue;
        }
        a.results[i] = {ev.gen, ev.error};
        a.done++;
        if (!ev.error.empty() && a.error.empty()) a.error = ev.error;
        out += sse(chunk_json(a.req, a.id, a.created, a.model, ev.choice, nullptr,
                              finish_reason(ev.gen.stop_reason), !a.started[i]));
        a.started[i] = 1;
    }
    if (a.done == a.req.n) {
        if (!a.error.empty()) out += sse(error_json({500, a.error, "", "server_error"}));
        json last = {{"id", a.id},
                     {"object", a.req.chat ? "chat.completion.chunk" : "text_completion"},
                     {"created", a.created},
                     {"model", a.model},
                     {"choices", json::array()}};
        const int64_t fed = a.results.empty() ? 0 : a.results[0].gen.prompt_tokens;
        last["usage"] = usage_json(a.results, int64_t(a.req.prompt_tokens.size()),
                                   std::max<int64_t>(0, int64_t(a.req.prompt_tokens.size()) - fed));
        out += sse(last) + "data: [DONE]\n\n";
    }
    // Nothing to pass on yet (the pieces were held back by the splitter): an empty chunk would
    // end the response.
    if (out.empty()) return true;
    if (!write(sink, out)) {
        a.ex->cancelled->store(true);
        return false;
    }
    if (a.done == a.req.n) sink.done();
    return true;
}

// One call of the JSON provider: whitespace while the jobs run (valid before a JSON value, and a
// write that fails tells that the client went away), then the response.
bool HttpServer::Impl::json_step(Answer& a, httplib::DataSink& sink) {
    // A write to a socket its peer closed fails only at the second try: write often enough that a
    // client that went away frees its slot within a fraction of a second.
    const auto events = a.ex->take(std::chrono::milliseconds(100));
    for (const auto& ev : events) {
        if (!ev.done) continue;
        a.results[size_t(ev.choice)] = {ev.gen, ev.error};
        a.done++;
        if (!ev.error.empty() && a.error.empty()) a.error = ev.error;
    }
    if (a.done < a.req.n) {
        if (events.empty() && !write(sink, " ")) {
            a.ex->cancelled->store(true);
            return false;
        }
        return true;
    }
    const json body = a.error.empty() ? response_json(a.req, a.id, a.created, a.model, a.results)
                                      : error_json({500, a.error, "", "server_error"});
    if (!write(sink, json_text(body))) return false;
    sink.done();
    return true;
}

HttpServer::HttpServer(Scheduler& scheduler, const Tokenizer& tok, HttpOptions opt)
    : impl_(std::make_unique<Impl>(scheduler, tok, std::move(opt))) {}

HttpServer::~HttpServer() {
    stop();
}

void HttpServer::bind() {
    const HttpOptions& o = impl_->opt;
    if (o.port == 0) {
        port_ = impl_->svr.bind_to_any_port(o.host);
    } else {
        port_ = impl_->svr.bind_to_port(o.host, o.port) ? o.port : -1;
    }
    if (port_ < 0)
        fail("serve: cannot listen on " + o.host + ":" + std::to_string(o.port) +
             " (address in use, or not an address of this machine)");
}

void HttpServer::listen() {
    impl_->svr.listen_after_bind();
}

void HttpServer::stop() {
    if (impl_) impl_->svr.stop();
}

}  // namespace np::server
