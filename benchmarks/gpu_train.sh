#!/usr/bin/env bash
# One call on a lent GPU machine (the `device` tool): render v6's training recipe there, then fine-tune
# the shipped networks on it on the GPU, three runs side by side (the networks are too narrow to fill
# the GPU alone; each run's batch thread on the CPU is its limit).
#
# The training set (1.35 GB of EXRs) cannot travel (64 MiB), so it is rendered there on the machine's
# CPU cores, one scene per process, until RENDER_SECONDS; training uses the scenes finished by then.
# Stop 27's call (BENCHMARKS.md): 180 s of rendering, 16 scenes at a time, finished 48 of the 146 scenes
# (as much as 8 of the development machine's cores), each run trained at 7-8 M px/s (its batch thread the
# limit), and the fine-tunings lost to the shipped models. (Its log's "cores: 4" was `nproc` honouring
# OMP_NUM_THREADS; it now prints the cores before setting it.)
# Prepared here (the GPU machine reaches no registry; Python 3.12 there):
#   echo /.whl/ >> .git/info/exclude   # and, for the call only, /benchmarks/results/ (156 MB; see below)
#   pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
#       --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 -d /tmp/whl \
#       mitsuba==3.9.1 drjit==1.5.0 openexr==3.5.3
#   Mitsuba is trimmed to scalar_rgb and the plugins the scenes use, packed with drjit as
#   .whl/mitsuba_py312.tar.xz (24 MB); openexr's wheel goes to .whl/ as it is:
#     mkdir mi && (cd mi && unzip -q /tmp/whl/mitsuba-*.whl && unzip -q -o /tmp/whl/drjit-*.whl)
#     keep=" aov area bitmap box checkerboard conductor constant cube cylinder d65 dielectric diffuse disk envmap
#       gaussian hdrfilm independent merge path perspective plastic rectangle regular roughconductor
#       roughdielectric roughplastic sphere srgb thinlens twosided uniform blendbsdf tent "
#     for f in mi/mitsuba/plugins/*.so; do echo $keep | grep -qw "$(basename $f .so)" || rm $f; done
#     rm -rf mi/mitsuba/{cuda_,llvm_,scalar_spectral}* mi/mitsuba/*.pyi mi/mitsuba/{include,cmake,mitsuba_stubs}
#     tar -cJf .whl/mitsuba_py312.tar.xz -C mi .
#   (the plugins every procedural and lamp-room seed loads; all 112 + 36 seeds render with them)
#   benchmarks/results/ is taken out of the index for the call (git rm -r -q --cached benchmarks/results;
#   git reset -q afterwards) so that the working tree that travels stays under 64 MiB.
# Run there (carry .whl): bash benchmarks/gpu_train.sh
# Local smoke test on the CPU: SMOKE=1 DEVICE=cpu SITE=<unpacked cp311 mitsuba> bash benchmarks/gpu_train.sh
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-/tmp/gpu_train_out}
WORK=${WORK:-/tmp/gpu_train}
RENDER_SECONDS=${RENDER_SECONDS:-190}   # rendering stops this long after the start
TRAIN_MINUTES=${TRAIN_MINUTES:-5.2}      # each run's wall-clock budget (its lr ramps down over the last 30%)
DEVICE=${DEVICE:-cuda}
JOBS=${JOBS:-$(nproc)}
SMOKE=${SMOKE:-0}
mkdir -p "$OUT" "$WORK/runs"
START=$(date +%s)
log() { echo "== $(( $(date +%s) - START ))s $*"; }

if [ -z "${SITE:-}" ]; then  # unpack Mitsuba + drjit, install OpenEXR, all into /tmp/site
    SITE=/tmp/site
    mkdir -p $SITE && tar -xJf .whl/mitsuba_py312.tar.xz -C $SITE || exit 1
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target $SITE .whl/*.whl || exit 1
fi
echo "cores: $(nproc)"   # before OMP_NUM_THREADS, which nproc honours
export PYTHONUNBUFFERED=1 PYTHONPATH="$SITE:$PWD" OMP_NUM_THREADS=4
PY=${PY:-python3}

log "machine"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null
$PY -c "import sys, torch, numpy, OpenEXR, mitsuba as mi; mi.set_variant('scalar_rgb'); print('python', sys.version.split()[0], 'torch', torch.__version__, 'cuda', torch.cuda.is_available(), 'mitsuba', mi.__version__)" || exit 1

# --- render: one scene per job, v6's recipe (validation scenes first) -------------------------------------------
D=$WORK/data
R="--size 256 --spp 4"
{
    for s in 9100 9101; do echo "val $s --procedural 1 --first-seed $s -o $D/val --views cam0 --filter both --count 4 $R"; done
    # 4-spp scenes, 2-spp scenes and lamp rooms interleaved in v6's proportions, so that a deadline cuts
    # all alike (stop 27's call put the 16 lamp rooms first and got 16 of its 48 scenes as lamp rooms)
    for i in $(seq 0 87); do
        echo "train $i --procedural 1 --first-seed $i -o $D/train --filter both --count 4 $R"
        [ $((i % 4)) = 3 ] && echo "train2 $((88 + i / 4)) --procedural 1 --first-seed $((88 + i / 4)) -o $D/train_2spp --filter both --count 4 --size 256 --spp 2"
        [ $((i % 5)) = 4 ] && [ $i -lt 80 ] && echo "lamps $((20 + i / 5)) --procedural 1 --family lamp --first-seed $((20 + i / 5)) -o $D/lamps --filter box --count 12 $R"
    done
} > $WORK/jobs.txt
[ "$SMOKE" = 1 ] && { grep -E "^(val|lamps 20|train 0|train 1|train2 88) " $WORK/jobs.txt | sed 's/--count 12/--count 3/' > $WORK/jobs_smoke.txt; mv $WORK/jobs_smoke.txt $WORK/jobs.txt; }
DEADLINE=$(( START + RENDER_SECONDS ))
render_job() {  # KIND SEED ARGS...: render one scene unless the deadline is near; record it when finished
    local kind=$1 seed=$2; shift 2
    local left=$(( DEADLINE - $(date +%s) ))
    [ $left -gt 15 ] || return 0
    timeout $left $PY -m mcdenoise.cli render "$@" > /dev/null 2>&1 && echo "$kind $seed" >> $WORK/done.txt
}
export -f render_job; export DEADLINE WORK PY
log "render $(wc -l < $WORK/jobs.txt) scenes, $JOBS at a time, until ${RENDER_SECONDS}s"
xargs -P "$JOBS" -L 1 bash -c 'render_job "$@"' _ < $WORK/jobs.txt
log "rendered: $(cut -d' ' -f1 $WORK/done.txt | sort | uniq -c | tr '\n' ' ')"
scenes() {  # KIND DIR PREFIX: the finished scenes of one kind
    grep "^$1 " $WORK/done.txt | while read -r _ s; do echo "$D/$2/$3_$s"; done
}
TRAIN="$(scenes train train proc) $(scenes train2 train_2spp proc) $(scenes lamps lamps lamp)"
VAL="$(scenes val val proc)"
[ -n "$VAL" ] && [ -n "$(scenes train train proc)" ] || { log "too little rendered"; exit 1; }

# --- train: three fine-tunings side by side ------------------------------------------------------------------
COMMON="--device $DEVICE --minutes $TRAIN_MINUTES --target mean --clip-grad 4 --ema 0.999 --val-views 0 --val $VAL
    --val-every 500 --patience 0 --checkpoint-minutes 1 --cache-mb 10000 --force"
[ "$SMOKE" = 1 ] && COMMON="$COMMON --batch 2 --crop 64 --val-every 20 --cache-mb 2000"
fit() {  # NAME ARGS...: one run in the background
    local name=$1; shift
    log "fit $name: $*"
    timeout $(( ${TRAIN_MINUTES%.*} * 60 + 150 )) $PY -m mcdenoise.cli fit $TRAIN -o "$WORK/runs/$name.pt" $COMMON "$@" \
        > "$WORK/runs/$name.out" 2>&1 &
}
fit wide_lr2 --init mcdenoise/weights/n2n_default.pt --lr 2e-4
fit slim_lr1 --init mcdenoise/weights/n2n_slim.pt --lr 1e-4
fit slim_lr3 --init mcdenoise/weights/n2n_slim.pt --lr 3e-4
wait
for name in wide_lr2 slim_lr1 slim_lr3; do
    log "$name"
    tr '\r' '\n' < "$WORK/runs/$name.out" | grep "^fit:" | tail -1   # the last progress line: steps/s, px/s
    tr '\r' '\n' < "$WORK/runs/$name.out" | grep -v "^fit:" | tail -8
    cp "$WORK/runs/$name.pt" "$WORK/runs/$name.log.jsonl" "$OUT/" 2>/dev/null
done
cp $WORK/done.txt "$OUT/rendered.txt"
nvidia-smi --query-gpu=memory.used --format=csv,noheader 2>/dev/null
log "done"
