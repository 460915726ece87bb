#!/usr/bin/env bash
# One short GPU session for issue 4's GPU targets, in two steps.
#
#   bash benchmarks/gpu_session.sh prepare   # here, with the package index: .gpu_carry/ (mnist1d's wheel, the data)
#   bash benchmarks/gpu_session.sh run       # on the GPU machine (no network), carrying .gpu_carry; writes $OUT
#
# The GPU machine has JAX with CUDA but not mnist1d, and cannot download: `prepare` fetches the wheel and
# generates the data set into .gpu_carry (a few MB, ignored by git). `run` times the targets (gd.sweep with the fused kernel at 16384 configs, then benchmarks.gpu_bound:
# gd.sweep of the MNIST-1D MLP at 16384 configs and the wide MLP at 512 with XLA's step, TF32 and bfloat16, and
# torch.func; gd.sweep runs 50 epochs, issue 4's workload), then runs the fused kernel's tests, each under its own time limit (at most 530 s in all, inside the device's 600 s per command; the
# kernel's tile table is `python -m benchmarks.gpu_fused --parts micro bounds`, about 80 s) so that one slow step leaves the others' numbers.
# Every line goes to $OUT/gpu.log too. Device call: carry [".gpu_carry"], timeout_s 600,
# command "bash benchmarks/gpu_session.sh run".
set -uo pipefail
cd "$(dirname "$0")/.."
CARRY=.gpu_carry

prepare() {
    set -e
    grep -qx "/$CARRY/" .git/info/exclude 2>/dev/null || echo "/$CARRY/" >> .git/info/exclude
    mkdir -p "$CARRY/whl"
    python3 -m pip download -q --no-deps -d "$CARRY/whl" "mnist1d==0.0.2.post1"
    GDLAB_CACHE_DIR="$PWD/$CARRY/cache" PYTHONPATH=src python3 -c "import gdlab as gd; gd.datasets.load('mnist1d')"
    du -sh "$CARRY"
}

run() {
    local out="${OUT:-/tmp/gpu-out}" log
    mkdir -p "$out"
    log="$out/gpu.log"
    python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site "$CARRY"/whl/*.whl
    export PYTHONPATH="/tmp/site:$PWD/src:$PWD" GDLAB_CACHE_DIR="$PWD/$CARRY/cache" PYTHONUNBUFFERED=1
    {
        nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
        python3 -c "import jax; print('jax', jax.__version__, jax.devices())"
        # torch.func too where torch is there
        local peers="gd.sweep"
        python3 -c "import torch" 2>/dev/null && peers="gd.sweep torch.func"
        # the targets first: the fused gd.sweep (the test pass every epoch, and at the end only: the TFLOP/s count
        # training FLOPs), then gd.sweep with XLA's step, the wide MLP and torch.func; then the kernel's test file
        # (the seventeenth session ran only its first 9 cases on a card: about 15 s each, compiling)
        timeout 140 python3 -m benchmarks.gpu_fused --parts sweeps --counts 16384 --kernels fused --test-every 1 50 \
            --json "$out/fused_sweeps.json"
        timeout 200 python3 -m benchmarks.gpu_bound --peers $peers --json "$out/bound.json"
        timeout 190 python3 -m pytest -q -p no:cacheprovider --tb=short tests/test_fused_mlp.py 2>&1 | tail -40
    } 2>&1 | tee "$log"
}

case "${1:-}" in
    prepare) prepare ;;
    run) run ;;
    *) echo "usage: bash benchmarks/gpu_session.sh prepare|run" >&2; exit 2 ;;
esac
