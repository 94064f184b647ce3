#!/usr/bin/env bash
# The GPU checks of the per-layer path, in one run on a machine with a CUDA GPU:
#   1. tests/extraction/test_cuda.py (maps equal eager output_attentions on the GPU, pinned copies,
#      one wait per kept layer, GPU memory of one layer below the bare forward);
#   2. benchmarks/bench_long_context.py --device cuda (torch.cuda.max_memory_allocated against the
#      bare forward, and time);
#   3. benchmarks/bench_peers.py --device cuda (attnviz, bare transformers, TransformerLens, nnsight
#      on GPT-2-small and Llama-3.2-1B shapes).
# Python packages missing there can travel as wheels in .whl/ (installed into /tmp/site first).
# Everything printed is also written to $OUT/gpu_check.txt (or ./gpu_check.txt).
#
#   bash benchmarks/gpu_check.sh [bench_peers options; default: both shapes, 512 and 2,048 tokens, best of 3]
set -uo pipefail
cd "$(dirname "$0")/.."
out="${OUT:-.}/gpu_check.txt"
exec > >(tee "$out") 2>&1
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TOKENIZERS_PARALLELISM=false MPLBACKEND=Agg
PY=${PYTHON:-python3}
if compgen -G ".whl/*.whl" >/dev/null; then
  $PY -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
    || exit 1
  export PYTHONPATH=/tmp/site:$PWD
else
  export PYTHONPATH=$PWD
fi
step() { echo; echo "== $* ($(date +%T))"; }

step environment
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
$PY -c "import torch, transformers; print('torch', torch.__version__, 'transformers', transformers.__version__, \
torch.cuda.get_device_name())"

step tests on the GPU
timeout 120 $PY -m pytest -q -p no:randomly tests/extraction/test_cuda.py

step long context on the GPU
timeout 150 $PY benchmarks/bench_long_context.py --device cuda --lengths 2048 4096 --long 16384 --rounds 3

step peers on the GPU
timeout 270 $PY benchmarks/bench_peers.py --device cuda --shapes llama gpt2 --tokens 512 2048 --repeats 3 "$@"
step done
