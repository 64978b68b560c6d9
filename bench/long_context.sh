#!/usr/bin/env bash
# Decode speed and memory against context length (issue: long context): a model's generation
# tokens/s after 0 .. 32k tokens of context, the latent cache bytes and the process RSS. The only
# memory that grows with context is the MLA latent cache (int8 c + scale + k_rope per token per
# attention layer); the Mamba state is constant.
# Usage: bench/long_context.sh MODEL(.gguf or checkpoint dir) [THREADS] [DEPTHS]
set -euo pipefail
MODEL=${1:?usage: bench/long_context.sh MODEL [THREADS] [DEPTHS]}
THREADS=${2:-2}
DEPTHS=${3:-0,1024,4096,8192,16384,32768}
NP=${NP:-build/nanoprime}
OMP_WAIT_POLICY=passive "$NP" bench -m "$MODEL" -p 0 -n 32 -t "$THREADS" -d "$DEPTHS" -r 1 --no-bandwidth
