#!/usr/bin/env bash
# Stop 31 probe (run: bash benchmarks/fit_one_render.sh ensemble1; ... n2n4; then python benchmarks/fit_one_render_eval.py): per-scene fit on ONE render per view with --target ensemble (v6 x8 teacher), 3 minutes,
# evaluated on the scene's cam0 (never trained on) against v6.  Then the N2N fit on 4 renders, 3 minutes.
# Data: data/quality10 (benchmarks/quality.py's spp4 views) and its fit views, rendered with
#   mcdenoise render cornell metals glass textures fireflies dof interior -o data/quality10/fit --views cam1 \
#       --size 256 --spp 4 --count 4 --filter both
#   mcdenoise render --procedural 4 --first-seed 9000 -o data/quality10/fit --views cam1,cam2 --size 256 --spp 4 \
#       --count 4 --filter both
# Outputs: runs/s31/fit_<mode>/<scene>.pt and .log.
set -euo pipefail
cd "$(dirname "$0")/.."
M=.venv/bin/mcdenoise
MIN=${MIN:-3}
mode=$1   # ensemble1 | n2n4
for scene in data/quality10/fit/*; do
    s=$(basename "$scene")
    out=runs/s31/fit_$mode/$s.pt
    [ -f "$out" ] && continue
    mkdir -p runs/s31/fit_$mode
    if [ "$mode" = ensemble1 ]; then
        src=data/quality10/fit1/$s
        for view in "$scene"/cam*_*; do
            mkdir -p "$src/$(basename "$view")"; ln -f "$view/render_000.exr" "$src/$(basename "$view")/"
        done
        cp "$scene/scene.json" "$src/" 2>/dev/null || true
        $M fit "$src" -o "$out" --init default --target ensemble --teacher default --minutes "$MIN" --val-views 0 \
            --patience 0 > "runs/s31/fit_$mode/$s.log" 2>&1
    else
        $M fit "$scene" -o "$out" --init default --minutes "$MIN" > "runs/s31/fit_$mode/$s.log" 2>&1
    fi
    echo "$s done $(date +%T)"
done
