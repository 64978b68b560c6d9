// test-backend-ops [--mode eval|grad|perf] [--op NAME,...] [--list]: see op_case.h.
#include <omp.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <set>
#include <sstream>

#include "backend_ops/op_case.h"
#include "core/error.h"

namespace np::backend_ops {
namespace {

template <class T>
double max_abs(const std::vector<T>& v) {
    double m = 0;
    for (T x : v) m = std::max(m, std::fabs(double(x)));
    return m;
}

// max |a - b| / max(max |b|, floor): the error relative to the reference tensor's scale, or to the
// op's (floor), so that a gradient that is zero by construction (a query's when a token attends
// only to itself) is not measured against its own rounding noise.
template <class A, class B>
double rel_err(const std::vector<A>& a, const std::vector<B>& b, double floor = 1e-30) {
    if (a.size() != b.size()) return INFINITY;
    double diff = 0, scale = floor;
    for (size_t i = 0; i < a.size(); i++) {
        const double d = std::fabs(double(a[i]) - double(b[i]));
        diff = std::isnan(d) ? INFINITY : std::max(diff, d);
        scale = std::max(scale, std::fabs(double(b[i])));
    }
    return diff / scale;
}

double rms_err(const std::vector<float>& a, const std::vector<double>& b) {
    double d = 0, s = 1e-300;
    for (size_t i = 0; i < a.size(); i++) {
        d += (double(a[i]) - b[i]) * (double(a[i]) - b[i]);
        s += b[i] * b[i];
    }
    return a.size() == b.size() ? std::sqrt(d / s) : INFINITY;
}

template <class T>
Tensors<T> cast(const Tensors<double>& in) {
    Tensors<T> out;
    for (const auto& t : in) out.emplace_back(t.begin(), t.end());
    return out;
}

template <class T>
Tensors<T> zeros_like(const Tensors<double>& in) {
    Tensors<T> out;
    for (const auto& t : in) out.emplace_back(t.size(), T(0));
    return out;
}

std::string sci(double x) {
    char b[32];
    std::snprintf(b, sizeof b, "%.1e", x);
    return b;
}

struct Tally {
    int passed = 0, failed = 0;
    void line(const std::string& what, bool ok, const std::string& detail) {
        std::printf("  %-58s %s  %s\n", what.c_str(), ok ? "OK  " : "FAIL", detail.c_str());
        (ok ? passed : failed)++;
    }
};

// Forward against the reference; backward "cpu" (fp32) against fp64; a second backward adds
// as much again (gradients accumulate).
void eval_train(const TrainOp& op, Tally& tally) {
    std::mt19937 rng(1);
    const Tensors<double> in64 = op.init(rng);
    const Tensors<float> in32 = cast<float>(in64);
    std::vector<float> out32;
    std::vector<double> ref;
    op.forward(in32, out32);
    op.reference(in64, ref);
    const double ef = op.rms_forward ? rms_err(out32, ref) : rel_err(out32, ref);
    bool ok = ef <= op.tol_forward;
    std::string detail = (op.rms_forward ? "forward rms " : "forward ") + sci(ef);
    if (op.backward) {
        std::vector<double> dout64(ref.size());
        std::normal_distribution<double> nd(0, 1);
        for (double& v : dout64) v = nd(rng);
        const std::vector<float> dout32(dout64.begin(), dout64.end());
        Tensors<float> g32 = zeros_like<float>(in64);
        Tensors<double> g64 = zeros_like<double>(in64);
        op.backward(in32, dout32, g32);
        op.backward64(in64, dout64, g64);
        const Tensors<float> once = g32;
        op.backward(in32, dout32, g32);
        double eb = 0, ea = 0, floor = 1e-30;
        // fp32 rounding is relative to the op's largest terms (RMSNorm's dx at one column is a
        // difference of two terms of size 1 that nearly cancel): a floor of 1% of them.
        for (const auto& g : g64) floor = std::max(floor, 1e-2 * max_abs(g));
        for (size_t i = 0; i < in64.size(); i++) {
            eb = std::max(eb, rel_err(once[i], g64[i], floor));
            std::vector<double> twice(once[i].begin(), once[i].end());
            for (double& v : twice) v *= 2;
            ea = std::max(ea, rel_err(g32[i], twice, 2 * floor));
        }
        ok = ok && eb <= op.tol_backward && ea <= 1e-5;
        detail += ", backward " + sci(eb) + ", accumulate " + sci(ea);
    }
    tally.line(op.name + " " + op.shape + " [cpu vs ref]", ok, detail);
}

// The fp64 backward against central differences of <dout, forward> on sampled entries of every
// differentiable input.
void grad_train(const TrainOp& op, Tally& tally) {
    if (!op.backward64 ||
        std::none_of(op.differentiable.begin(), op.differentiable.end(), [](bool b) { return b; }))
        return;
    std::mt19937 rng(2);
    Tensors<double> in = op.init(rng);
    std::vector<double> out;
    op.forward64(in, out);
    std::vector<double> dout(out.size());
    std::normal_distribution<double> nd(0, 1);
    for (double& v : dout) v = nd(rng);
    Tensors<double> g = zeros_like<double>(in);
    op.backward64(in, dout, g);
    auto objective = [&] {
        op.forward64(in, out);
        double s = 0;
        for (size_t i = 0; i < out.size(); i++) s += dout[i] * out[i];
        return s;
    };
    double worst = 0, floor = 1e-30;
    for (size_t k = 0; k < in.size(); k++)
        if (op.differentiable[k]) floor = std::max(floor, 1e-3 * max_abs(g[k]));
    std::string worst_input;
    for (size_t k = 0; k < in.size(); k++) {
        if (!op.differentiable[k]) continue;
        std::vector<double> analytic, numeric;
        for (int s = 0; s < std::min<int>(int(in[k].size()), 12); s++) {
            const size_t i = rng() % in[k].size();
            const double keep = in[k][i], eps = 1e-5 * std::max(1.0, std::fabs(keep));
            in[k][i] = keep + eps;
            const double up = objective();
            in[k][i] = keep - eps;
            const double down = objective();
            in[k][i] = keep;
            analytic.push_back(g[k][i]);
            numeric.push_back((up - down) / (2 * eps));
        }
        const double e = rel_err(analytic, numeric, floor);
        if (e >= worst) worst = e, worst_input = op.inputs[k];
    }
    tally.line(op.name + " " + op.shape + " [ref vs finite differences]", worst <= 1e-5,
               "worst " + sci(worst) + " (" + worst_input + ")");
}

std::vector<kern::KernelPath> paths_of(const InferOp& op) {
    if (op.per_path) return kern::available_kernel_paths();
    return {kern::best_kernel_path()};
}

std::string backend_name(const InferOp& op, kern::KernelPath p) {
    return op.per_path ? std::string("cpu-") + kern::kernel_path_name(p) : "cpu";
}

void eval_infer(const InferOp& op, Tally& tally) {
    const std::vector<double> ref = op.reference();
    for (kern::KernelPath p : paths_of(op)) {
        const std::vector<double> got = op.run(p);
        const double e = rel_err(got, ref);
        const bool ok = op.tol == 0 ? got == ref : e <= op.tol;
        tally.line(op.name + " " + op.shape + " [" + backend_name(op, p) + " vs ref]", ok,
                   op.tol == 0 ? (ok ? "bit-identical" : "differs, " + sci(e)) : sci(e));
    }
}

// Median milliseconds of fn over at least 3 runs and about 0.3 s.
template <class F>
double median_ms(F&& fn) {
    std::vector<double> ms;
    const auto start = std::chrono::steady_clock::now();
    while (ms.size() < 3 || (ms.size() < 200 && std::chrono::steady_clock::now() - start <
                                                    std::chrono::milliseconds(300))) {
        const auto t0 = std::chrono::steady_clock::now();
        fn();
        ms.push_back(
            std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0)
                .count());
    }
    std::nth_element(ms.begin(), ms.begin() + long(ms.size() / 2), ms.end());
    return ms[ms.size() / 2];
}

void perf_row(const std::string& op, const std::string& shape, const std::string& backend,
              const std::string& pass, double ms, double flops, double ref_ms) {
    std::printf("| %s | %s | %s | %s | %.4g | %.2f | %s |\n", op.c_str(), shape.c_str(),
                backend.c_str(), pass.c_str(), ms, flops / ms * 1e-6,
                ref_ms > 0 ? (std::to_string(ref_ms / ms).substr(0, 5) + "x").c_str() : "");
}

void perf_train(const TrainOp& op) {
    std::mt19937 rng(1);
    const Tensors<double> in64 = op.init(rng);
    const Tensors<float> in32 = cast<float>(in64);
    std::vector<float> out32;
    std::vector<double> out64;
    const double ref_ms = median_ms([&] { op.reference(in64, out64); });
    perf_row(op.name, op.shape, "ref", "forward", ref_ms, op.flops, 0);
    perf_row(op.name, op.shape, "cpu", "forward", median_ms([&] { op.forward(in32, out32); }),
             op.flops, ref_ms);
    if (op.backward) {
        const std::vector<float> dout(out32.size(), 1e-3f);
        Tensors<float> g = zeros_like<float>(in64);
        // The backward recomputes the forward it needs: 3x the forward's flops in all.
        perf_row(op.name, op.shape, "cpu", "forward+backward",
                 median_ms([&] { op.backward(in32, dout, g); }), 3 * op.flops, 0);
    }
}

void perf_infer(const InferOp& op) {
    const double ref_ms = median_ms([&] { op.reference(); });
    perf_row(op.name, op.shape, "ref", "forward", ref_ms, op.flops, 0);
    for (kern::KernelPath p : paths_of(op))
        perf_row(op.name, op.shape, backend_name(op, p), "forward", median_ms([&] { op.run(p); }),
                 op.flops, ref_ms);
}

int run(int argc, char** argv) {
    CLI::App app{"Every op of the op table, forward and backward, against its reference"};
    std::string mode = "eval";
    std::vector<std::string> only;
    bool list = false;
    app.add_option("-m,--mode", mode,
                   "eval: against the reference; grad: backward against "
                   "finite differences; perf: time per backend")
        ->check(CLI::IsMember({"eval", "grad", "perf"}));
    app.add_option("-o,--op", only, "Only these ops (comma-separated names, see --list)")
        ->delimiter(',');
    app.add_flag("--list", list, "List the ops and exit");
    CLI11_PARSE(app, argc, argv);

    const bool perf = mode == "perf";
    const std::vector<TrainOp> train = training_ops(perf);
    const std::vector<InferOp> infer = inference_ops(perf);
    std::set<std::string> names;
    for (const TrainOp& op : train) names.insert(op.name);
    for (const InferOp& op : infer) names.insert(op.name);
    if (list) {
        for (const std::string& n : names) std::printf("%s\n", n.c_str());
        return 0;
    }
    for (const std::string& n : only)
        if (!names.count(n)) throw Error("--op: no op named '" + n + "' (see --list)");
    auto wanted = [&](const std::string& n) {
        return only.empty() || std::find(only.begin(), only.end(), n) != only.end();
    };
    std::printf("test-backend-ops %s: backends ref (fp64 / plain reference), cpu (fp32)",
                mode.c_str());
    for (kern::KernelPath p : kern::available_kernel_paths())
        std::printf(", cpu-%s", kern::kernel_path_name(p));
    std::printf("; %d threads\n", omp_get_max_threads());
    if (perf) {
        std::printf(
            "| op | shape | backend | pass | ms | GFLOP/s | vs ref "
            "|\n|---|---|---|---|---:|---:|---:|\n");
        for (const TrainOp& op : train)
            if (wanted(op.name)) perf_train(op);
        for (const InferOp& op : infer)
            if (wanted(op.name)) perf_infer(op);
        return 0;
    }
    Tally tally;
    for (const TrainOp& op : train)
        if (wanted(op.name)) mode == "eval" ? eval_train(op, tally) : grad_train(op, tally);
    if (mode == "eval")
        for (const InferOp& op : infer)
            if (wanted(op.name)) eval_infer(op, tally);
    if (tally.passed + tally.failed == 0) {
        // An empty run proves nothing: say so rather than pass.
        std::fprintf(stderr,
                     "test-backend-ops: no %s case for these ops (grad covers the ops "
                     "with a differentiable input)\n",
                     mode.c_str());
        return 1;
    }
    std::printf("%d/%d cases passed\n", tally.passed, tally.passed + tally.failed);
    return tally.failed == 0 ? 0 : 1;
}

}  // namespace
}  // namespace np::backend_ops

int main(int argc, char** argv) {
    try {
        return np::backend_ops::run(argc, argv);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "test-backend-ops: %s\n", e.what());
        return 2;
    }
}
