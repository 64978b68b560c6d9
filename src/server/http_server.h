// The HTTP side of `nanoprime serve` (cpp-httplib): OpenAI-compatible endpoints over the batching
// scheduler, health, Prometheus metrics and the web chat page.
//   POST /v1/chat/completions, POST /v1/completions   (stream: server-sent events)
//   GET /v1/models, GET /health, GET /metrics, GET / (the web chat)
// Every error is a JSON body in OpenAI's shape: 400 naming the field, 401 for a wrong or missing
// key (when --api-key is set; /health and / stay open), 404, 413 for an oversize body, 429 when
// the queue is full, 503 while shutting down.
#pragma once
#include <atomic>
#include <cstdint>
#include <memory>
#include <string>

#include "server/openai_api.h"
#include "server/scheduler.h"
#include "tokenizer/tokenizer.h"

namespace np::server {

struct HttpOptions {
    std::string host = "127.0.0.1";
    int port = 8080;  // 0: any free port (see HttpServer::port)
    std::string api_key;
    std::string model_name = "nanoprime";
    size_t max_body_bytes = size_t(1) << 20;
    int http_threads = 32;  // concurrent connections served (streams hold one each)
    RequestDefaults defaults;
};

class HttpServer {
public:
    HttpServer(Scheduler& scheduler, const Tokenizer& tok, HttpOptions opt);
    ~HttpServer();
    // Binds the address (np::Error naming it when that fails); port() is then known.
    void bind();
    int port() const { return port_; }
    // Serves until stop().
    void listen();
    void stop();

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
    int port_ = 0;
};

}  // namespace np::server
