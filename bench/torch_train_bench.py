#!/usr/bin/env python3
"""PyTorch baseline for NanoPrime training speed on CPU: forward + backward tokens/s.

The model is the independent reference of tests/reference/nanoprime_ref.py (fp32, BitLinear with
the straight-through estimator, Mamba-2 + MLA, packed documents), run in PyTorch eager mode (no
torch.compile) with the Mamba scan in its chunked SSD form (mode "ssd"; document starts set the
log-decay to -inf). It is the number the C++ trainer is compared with.

BLAS: Debian's python3-torch 1.13 reports BLAS_INFO=generic in torch.__config__.show(): it links
libblas.so.3, which the Debian alternatives point at OpenBLAS (openblas-pthread), plus oneDNN
(MKL-DNN 2.6.3) for some ops, OpenMP for intra-op threads. --threads sets torch.set_num_threads and
OPENBLAS_NUM_THREADS/OMP_NUM_THREADS (before torch is imported) so BLAS does not oversubscribe.

Usage: /usr/bin/python3 bench/torch_train_bench.py --preset nano --batch 4 --seq 256 --threads 2
Prints one JSON line: tokens_per_s (B*T per forward+backward), step times, peak RSS.
"""
import argparse
import json
import os
import resource
import sys
import time

# DESIGN §2.7 (architecture fields only).
PRESETS = {
    "nano": {"architecture": "nanoprime", "vocab_size": 4096, "d_model": 256, "n_layers": 8,
             "layer_pattern": "MMMA", "tie_embeddings": True, "norm_eps": 1e-6, "max_seq_len": 512,
             "ffn": {"act": "swiglu", "hidden": 768},
             "mamba": {"expand": 2, "head_dim": 64, "d_state": 32, "n_groups": 1, "d_conv": 4},
             "mla": {"n_heads": 4, "qk_nope_dim": 48, "qk_rope_dim": 16, "v_dim": 64, "kv_rank": 64,
                     "rope_theta": 10000}},
    "small": {"architecture": "nanoprime", "vocab_size": 32128, "d_model": 768, "n_layers": 12,
              "layer_pattern": "MMMA", "tie_embeddings": True, "norm_eps": 1e-6, "max_seq_len": 2048,
              "ffn": {"act": "swiglu", "hidden": 2048},
              "mamba": {"expand": 2, "head_dim": 64, "d_state": 64, "n_groups": 1, "d_conv": 4},
              "mla": {"n_heads": 12, "qk_nope_dim": 64, "qk_rope_dim": 32, "v_dim": 64, "kv_rank": 128,
                      "rope_theta": 100000}},
}


def main():
    ap = argparse.ArgumentParser(description="PyTorch forward+backward throughput of the NanoPrime reference")
    ap.add_argument("--preset", choices=sorted(PRESETS), default="nano")
    ap.add_argument("--config", help="a config.json instead of --preset")
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--seq", type=int, default=256)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--mode", choices=["ssd", "scan", "segment"], default="ssd")
    ap.add_argument("--chunk", type=int, default=64, help="SSD chunk length")
    ap.add_argument("--no-quant", action="store_true", help="plain fp32 linears instead of BitLinear")
    ap.add_argument("--doc-len", type=int, default=0,
                    help="mean document length inside a row (separators id 0); 0 = one document per row")
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()

    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(a.threads)
    import torch  # noqa: E402  (after the thread variables)
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "reference"))
    import nanoprime_ref as ref  # noqa: E402

    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    if a.config:
        with open(a.config) as f:
            cfg_json = json.load(f)
        name = a.config
    else:
        cfg_json, name = PRESETS[a.preset], a.preset
    cfg = ref.Config(cfg_json)
    ref.set_quantize(not a.no_quant)
    model = ref.NanoPrime(cfg)
    model.init_random(a.seed)
    for m in model.modules():
        if isinstance(m, ref.Mamba2):
            m.ssd_chunk = a.chunk
    n_params = sum(p.numel() for p in model.parameters())

    g = torch.Generator().manual_seed(a.seed + 1)
    tokens = torch.randint(1, cfg.vocab_size, (a.batch, a.seq), generator=g)
    if a.doc_len > 0:
        tokens[torch.rand(a.batch, a.seq, generator=g) < 1.0 / a.doc_len] = 0

    def step():
        model.zero_grad(set_to_none=True)
        loss, _ = model.loss(tokens, None, a.mode)
        loss.backward()
        return float(loss)

    for _ in range(a.warmup):
        step()
    times = []
    for _ in range(a.steps):
        t0 = time.perf_counter()
        loss = step()
        times.append(time.perf_counter() - t0)
    mean = sum(times) / len(times)
    print(json.dumps({
        "bench": "torch_train", "model": name, "params": n_params, "batch": a.batch, "seq": a.seq,
        "threads": a.threads, "mode": a.mode, "quant": not a.no_quant, "doc_len": a.doc_len,
        "steps": a.steps, "tokens_per_s": round(a.batch * a.seq / mean, 1),
        "step_ms_mean": round(1000 * mean, 2), "step_ms_min": round(1000 * min(times), 2),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "loss": round(loss, 4), "torch": torch.__version__, "blas": "OpenBLAS via libblas.so.3 (+oneDNN)"}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
