// test-backend-ops: every op of every backend against a reference, in the spirit of llama.cpp's
// tool of that name. Two kinds of op:
//   * training ops: float inputs (activations and parameters) -> one float output; the backward
//     ADDS the gradient of <dout, out> into one gradient per input. Backend "cpu" (fp32, the fast
//     paths: BLAS, OpenMP, the chunked SSD scan, exp_fast) is compared with backend "ref" (fp64:
//     an independent plain loop where the op has one, else the same op instantiated in double
//     with its reference algorithm);
//   * inference ops: the packed kernels, run on every SIMD path this CPU has (cpu-avx512vnni,
//     cpu-avx2, cpu-neon) and compared with the scalar path or the op's plain reference.
// Modes: eval (forward and backward against the reference, and that backward accumulates), grad
// (fp64 backward against central finite differences of the fp64 forward), perf (milliseconds and
// GFLOP/s per backend, median of repetitions).
#pragma once
#include <cstdint>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "backend/backend.h"
#include "cpu_backend.h"
#include "kernels/cpu/dispatch.h"

namespace np::backend_ops {

template <class T>
using Tensors = std::vector<std::vector<T>>;

// The op table the training cases call: Backend<float> is backend "cpu", the one under test;
// Backend<double> is the same CPU code in double, the finite-difference subject and, where an op
// has no plain loop, its reference.
template <class T>
Backend<T>& backend() {
    return test::cpu<T>();
}

struct TrainOp {
    std::string name, shape;
    std::vector<std::string> inputs;                                          // names, in order
    std::function<Tensors<double>(std::mt19937&)> init;                       // the inputs' values
    std::function<void(const Tensors<float>&, std::vector<float>&)> forward;  // "cpu"
    std::function<void(const Tensors<double>&, std::vector<double>&)> reference;  // "ref"
    std::function<void(const Tensors<double>&, std::vector<double>&)> forward64;  // for FD
    // Both add the gradient of <dout, out> into grads (sized like the inputs, zeroed by the
    // caller); empty when the op has no backward (quantisers).
    std::function<void(const Tensors<float>&, const std::vector<float>&, Tensors<float>&)> backward;
    std::function<void(const Tensors<double>&, const std::vector<double>&, Tensors<double>&)>
        backward64;
    std::vector<bool> differentiable;                // per input: take part in the gradient checks
    double tol_forward = 1e-5, tol_backward = 1e-4;  // max |a-b| / max(|ref|) per tensor
    // The forward's error as rms(a-b) / rms(ref): for lossy state (8-bit moments), whose error
    // is a distribution, not a bound per element.
    bool rms_forward = false;
    double flops = 0;  // forward, for perf
};

struct InferOp {
    std::string name, shape;
    // The op's output on one SIMD path (as doubles) and its reference output.
    std::function<std::vector<double>(kern::KernelPath)> run;
    std::function<std::vector<double>()> reference;
    double tol = 0;  // 0: bit-identical
    double flops = 0;
    bool per_path = false;  // takes the SIMD path: run on every path this CPU has
};

// Cases at awkward shapes (one row, odd sizes, document starts inside rows) for eval and grad; at
// model-like sizes for perf.
std::vector<TrainOp> training_ops(bool perf_shapes);
std::vector<InferOp> inference_ops(bool perf_shapes);

// Builds a TrainOp from a struct with template<class T> forward(in, out) and, when it has one,
// backward(in, dout, grads): the fp32 instantiation is backend "cpu", the fp64 one the FD subject.
template <class Impl>
TrainOp make_train_op(const Impl& impl, std::string name, std::string shape,
                      std::vector<std::string> inputs) {
    TrainOp op;
    op.name = std::move(name);
    op.shape = std::move(shape);
    op.inputs = std::move(inputs);
    op.differentiable.assign(op.inputs.size(), true);
    op.init = [impl](std::mt19937& rng) { return impl.init(rng); };
    op.forward = [impl](const Tensors<float>& in, std::vector<float>& out) {
        impl.forward(in, out);
    };
    op.forward64 = [impl](const Tensors<double>& in, std::vector<double>& out) {
        impl.forward(in, out);
    };
    op.reference = op.forward64;
    if constexpr (requires {
                      impl.backward(Tensors<float>{}, std::vector<float>{},
                                    std::declval<Tensors<float>&>());
                  }) {
        op.backward = [impl](const Tensors<float>& in, const std::vector<float>& dout,
                             Tensors<float>& g) { impl.backward(in, dout, g); };
        op.backward64 = [impl](const Tensors<double>& in, const std::vector<double>& dout,
                               Tensors<double>& g) { impl.backward(in, dout, g); };
    }
    return op;
}

}  // namespace np::backend_ops
