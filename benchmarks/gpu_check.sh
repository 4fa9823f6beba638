#!/usr/bin/env bash
# One short run on a lent GPU machine (the `device` tool): the CUDA paths' tests, training and inference
# throughput on the GPU, and `fit` on two quality-set scenes (Cornell, interior) fitted on the GPU.
#
# Prepared on the development machine (the GPU machine reaches no registry, and the working tree that
# travels is limited to 64 MiB, so benchmarks/results/ is left behind for the call):
#   pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
#       --platform manylinux_2_28_x86_64 -d .whl openexr==3.5.3          # .whl/ in .git/info/exclude
#   python benchmarks/quality.py ... (renders data/quality10; see BENCHMARKS.md)
# Run there, carrying .whl data/quality10/fit/cornell data/quality10/fit/interior:
#   bash benchmarks/gpu_check.sh
# Then here, on the CPU, with OIDN in the same run:
#   mcdenoise eval data/quality10/spp4/cornell --model <fetched .pt> --no-flip
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-/tmp/gpu_check}
FIT_MINUTES=${FIT_MINUTES:-1.5}
mkdir -p "$OUT" /tmp/fits
export PYTHONUNBUFFERED=1 PYTHONPATH="/tmp/site:$PWD"
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site .whl/*.whl || exit 1
log() { echo "== $(date +%T) $*"; }

log "machine"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
python3 -c "import torch, numpy, OpenEXR; print('python', __import__('sys').version.split()[0], 'torch', torch.__version__, 'cuda', torch.version.cuda, torch.cuda.get_device_name(), 'numpy', numpy.__version__)"
nproc

log "tests: CUDA paths (tests/test_cuda.py) and training with CUDA as the auto device (tests/test_train.py)"
timeout 150 python3 -m pytest -q -p no:cacheprovider tests/test_cuda.py 2>&1 | tail -15
timeout 80 python3 -m pytest -q -p no:cacheprovider -x tests/test_train.py 2>&1 | tail -15

log "throughput on the GPU (the shipped models' networks)"
(cd benchmarks && timeout 90 python3 throughput.py --device cuda --presets wide-mix slim-mix --batch 4 --crop 64 --steps 30 --size 1024 --repeats 5)
(cd benchmarks && timeout 60 python3 throughput.py --device cuda --presets wide-mix slim-mix --batch 32 --crop 128 --steps 30 --size 2048 --repeats 3)

fit() {  # NAME SCENE ARGS...: fit the default model on a scene's other views on the GPU
    local name=$1 scene=$2; shift 2
    log "fit $name ($*)"
    timeout $(( ${FIT_MINUTES%.*} * 60 + 90 )) python3 -m mcdenoise.cli fit "data/quality10/fit/$scene" -o "/tmp/fits/$name.pt" \
        --minutes "$FIT_MINUTES" --device cuda --force "$@" 2>&1 | tr '\r' '\n' > "/tmp/fits/$name.out"
    grep "^fit:" "/tmp/fits/$name.out" | tail -1   # the last progress line: steps/s and training px/s
    grep -v "^fit:" "/tmp/fits/$name.out" | tail -6
    cp "/tmp/fits/$name.pt" "$OUT/" 2>/dev/null
}
fit cornell_default cornell
fit cornell_big cornell --batch 32 --crop 128 --patience 0
fit interior_big interior --batch 32 --crop 128 --patience 0
log "done"
