#!/usr/bin/env bash
# Regenerate the gitignored data/ on a fresh machine, in two render streams at once (one per core).
#
#   bash benchmarks/make_data.sh eval    # the 20 held-out views with references (about 30 min on 2 cores)
#   bash benchmarks/make_data.sh train   # the shipped default's (v6) training set and its 4 validation scenes
#                                        # (data/heldout/proc_900[0-3]; about 30 min on 2 cores)
#   bash benchmarks/make_data.sh extra   # training sets tried since v6 (rooms, Cycles), fit_scene.py and n2n_vs_clean.py data
#   bash benchmarks/make_data.sh more    # stop 22: as much data again as v6's (train3, train3_2spp, train_lamps2; about 40 min)
#   bash benchmarks/make_data.sh targets # stop 30: data/train's 48 scenes, box, 12 renders a view (train12) and its first 4 (train4)
#   bash benchmarks/make_data.sh distill # stop 31: 32 more scenes, 2 renders a view, for `fit --target ensemble` (about 6 min)
#   bash benchmarks/make_data.sh all
#
# Needs `pip install -e ".[render]"` in .venv (Mitsuba 3) and, for the Cycles sets, .venv-blender (README).
# Seeds are fixed, so the renders are the ones every table in BENCHMARKS.md was measured on. Renders
# already on disk are kept (`mcdenoise render` adds the missing ones), so an interrupted run can be rerun.
set -euo pipefail
cd "$(dirname "$0")/.."
M=${MCDENOISE:-.venv/bin/mcdenoise}
B=${MCDENOISE_BLENDER:-.venv-blender/bin/mcdenoise}
R="--size 256 --spp 4"

stream() {  # run the commands of one stream on one core, in order
    local core=$1; shift
    for command in "$@"; do taskset -c "$core" bash -c "$command" || { echo "failed: $command" >&2; return 1; }; done
}

eval_mitsuba=(
    # held-out procedural scenes (seeds never used for training), 512-spp references
    "$M render --procedural 4 --first-seed 9000 -o data/heldout --views cam0 --filter both --count 2 $R --reference-spp 512"
    "$M render --procedural 2 --family lamp --first-seed 9000 -o data/heldout_lamps --views cam0 --filter box --count 2 $R --reference-spp 256"
    "$M render --procedural 2 --family room --first-seed 9000 -o data/heldout_rooms --views cam0 --filter both --count 2 $R --reference-spp 256"
)
eval_cycles=(
    "$B render --procedural 2 --family room --first-seed 9000 -o data/heldout_cycles --backend blender --views cam0 --filter box --count 2 $R --reference-spp 256"
    "$B render --procedural 2 --first-seed 9000 -o data/heldout_cycles --backend blender --views cam0 --filter box --count 2 $R --reference-spp 256"
)
train_a=(
    # 48 procedural scenes x 3 cameras x {box, gaussian}, 4 renders of 4 spp, no references
    "$M render --procedural 48 --first-seed 0 -o data/train --filter both --count 4 $R"
    # 24 more at 2 spp
    "$M render --procedural 24 --first-seed 88 -o data/train_2spp --filter both --count 4 --spp 2 --size 256"
    # 32 lamp-lit rooms (seeds 0-31; here 20-31), 12 renders per view (lamp_0: 16): the mean of the others
    # is a 44-spp noisy target
    "$M render --procedural 12 --family lamp --first-seed 20 -o data/train_lamps --filter box --count 12 $R"
    # the validation scenes every shipped run's checkpoint names (`fit --resume` needs them): eval's first line
    "$M render --procedural 2 --first-seed 9000 -o data/heldout --views cam0 --filter both --count 2 $R --reference-spp 512"
)
train_b=(
    # 40 more procedural scenes
    "$M render --procedural 40 --first-seed 48 -o data/train2 --filter both --count 4 $R"
    "$M render --procedural 20 --family lamp --first-seed 0 -o data/train_lamps --filter box --count 12 $R"
    "$M render --procedural 1 --family lamp --first-seed 0 -o data/train_lamps --filter box --count 16 $R"
    "$M render --procedural 2 --first-seed 9002 -o data/heldout --views cam0 --filter both --count 2 $R --reference-spp 512"
)
extra_a=(
    # interiors lit through a window: 24 rooms for training
    "$M render --procedural 24 --family room --first-seed 0 -o data/train_rooms --filter both --count 4 $R"
    # fit_scene.py: camera 0 to train on (noisy only), camera 1 held out with references
    "$M render glass -o data/fitscene_train --views cam0 --filter both --count 8 $R"
    "$M render glass -o data/fitscene_eval --views cam1 --filter both --count 2 $R --reference-spp 512"
    # n2n_vs_clean.py: 12 scenes x 3 cameras, box, 128 px, 256-spp references (the clean targets)
    "$M render --procedural 12 --first-seed 5000 -o data/n2nclean --filter box --count 4 --spp 4 --size 128 --reference-spp 256"
)
extra_b=(
    # Cycles: 12 rooms + 12 procedural scenes for training
    "$B render --procedural 12 --family room --first-seed 100 -o data/train_cycles --backend blender --filter box --count 4 $R"
    "$B render --procedural 12 --first-seed 100 -o data/train_cycles --backend blender --filter box --count 4 $R"
)

more_a=(
    # stop 22: v6's training set again as large (seeds 112-247 never overlap it or the held-out 9000s)
    "$M render --procedural 48 --first-seed 112 -o data/train3 --filter both --count 4 $R"
    "$M render --procedural 40 --first-seed 184 -o data/train3 --filter both --count 4 $R"
    "$M render --procedural 24 --first-seed 224 -o data/train3_2spp --filter both --count 4 --spp 2 --size 256"
)
more_b=(
    "$M render --procedural 16 --family lamp --first-seed 32 -o data/train_lamps2 --filter box --count 12 $R"
    "$M render --procedural 24 --first-seed 160 -o data/train3 --filter both --count 4 $R"
    "$M render --procedural 16 --family lamp --first-seed 48 -o data/train_lamps2 --filter box --count 12 $R"
)

targets_a=(
    # stop 30: 12-spp against 44-spp targets at v6's scale: data/train's box views with 8 more renders each
    # (renders 0-3 are data/train's own: the same seeds)
    "$M render --procedural 24 --first-seed 0 -o data/train12 --filter box --count 12 $R"
)
targets_b=(
    "$M render --procedural 24 --first-seed 24 -o data/train12 --filter box --count 12 $R"
)

distill_a=(
    # stop 31: self-distillation needs no second render, but `render` writes pairs; seeds 48-71 are the first 24 of
    # data/train2's scenes (never the held-out 9000s), lamps 20-27 data/train_lamps' (box only)
    "$M render --procedural 24 --first-seed 48 -o data/distill2 --filter both --count 2 $R"
)
distill_b=(
    "$M render --procedural 8 --family lamp --first-seed 20 -o data/distill_lamps --filter box --count 2 $R"
)

train4() {  # data/train4: train12's first 4 renders of each view (hard links)
    for view in data/train12/proc_*/*_box; do
        local scene; scene=$(basename "$(dirname "$view")")
        mkdir -p "data/train4/$scene/$(basename "$view")"
        ln -f "$view"/render_00[0-3].exr "data/train4/$scene/$(basename "$view")/"
        cp "data/train12/$scene/scene.json" "data/train4/$scene/"
    done
}

val_mix() {  # mixed validation set (names unique across folders): 2 Mitsuba procedural, 1 Mitsuba room, 2 Cycles scenes
    mkdir -p data/val_mix
    for d in heldout/proc_9000 heldout/proc_9001 heldout_rooms/room_9000; do ln -sfn "../$d" "data/val_mix/$(basename $d)"; done
    ln -sfn ../heldout_cycles/room_9000 data/val_mix/cycles_room_9000
    ln -sfn ../heldout_cycles/proc_9000 data/val_mix/cycles_proc_9000
}

run() {  # two streams at once; fail if either fails
    local -n first=$1 second=$2
    stream 0 "${first[@]}" & local a=$!
    stream 1 "${second[@]}" & local b=$!
    local ra=0 rb=0
    wait $a || ra=$?
    wait $b || rb=$?
    return $((ra || rb))
}

case "${1:-}" in
    eval) run eval_mitsuba eval_cycles; val_mix ;;
    train) run train_a train_b ;;
    extra) run extra_a extra_b ;;
    more) run more_a more_b ;;
    targets) run targets_a targets_b; train4 ;;
    distill) run distill_a distill_b ;;
    all) run eval_mitsuba eval_cycles; val_mix; run train_a train_b; run extra_a extra_b; run more_a more_b; run targets_a targets_b; train4; run distill_a distill_b ;;
    *) echo "usage: bash benchmarks/make_data.sh eval|train|extra|more|targets|distill|all" >&2; exit 2 ;;
esac
