"""Every code block of README.md runs, in order, in a sandbox holding small stand-ins for its files.

Each shell command runs as written except for the substitutions in SUBSTITUTE (budgets cut to a few
steps, the service on a free port); the only commands not run are in SKIP, each with its reason. A
command the README gains later fails this test until it runs here or is listed in SKIP.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import clean_image, free_port, make_scene, wait_ready, write_render
from mcdenoise.exr import encode_exr, frame_channels

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
HAS_BLENDER = (ROOT / ".venv-blender" / "bin" / "mcdenoise").is_file()  # made by .ci/run

# Commands not run here, by prefix, and why.
SKIP = {
    "python3 -m venv .venv && . .venv/bin/activate && pip install torch==2.13.0 && pip install -e \".[all]\" && "
    "python -m pytest -q": "the test run itself (.ci/run runs exactly this)",
    "pip install": "installs; tests/test_light_install.py installs the serve extra alone, .ci/run installs .[all]",
    "docker ": "no Docker engine on the CI machine",
    "python3 -m venv .venv-blender": ".ci/run makes .venv-blender exactly so",
}
# (old, new) text substitutions, applied in order to every command.
SUBSTITUTE = [
    # The quick start's venv and installs are .ci/run's; what remains is the command itself.
    ('python3 -m venv .venv && . .venv/bin/activate && pip install torch==2.13.0 && pip install -e ".[all]" && ', ""),
    ("/tmp/cornell_denoised.exr", "cornell_denoised.exr"),
    ("--minutes 15", "--steps 2 --force"),  # fine-tuning budget; -o exists from the denoise examples
    ("minutes=15", "steps=2"),
    ("--steps 20000", "--steps 2"),
    ("--steps 40000", "--steps 4"),
    ("--nproc_per_node 4", "--nproc_per_node 2"),
    ("-m mcdenoise.cli fit data/train/* -o big.pt", "-m mcdenoise.cli fit data/train/* -o big_ddp.pt"),
    ("http://render-denoise:8000", "http://127.0.0.1:{port}"),
    ("127.0.0.1:8000", "127.0.0.1:{port}"),
    ("--port 8000", "--port {port}"),
    (".venv-blender/bin/mcdenoise", f"{ROOT}/.venv-blender/bin/mcdenoise"),
    ("--size 256 --spp 4 --count 4", "--size 16 --spp 1 --count 2"),
]


def blocks(text: str) -> list[tuple[str, str]]:
    """(language, code) of every fenced block, in order."""
    return [(m.group(1), m.group(2)) for m in re.finditer(r"```(\w*)\n(.*?)```", text, re.S)]


def commands(lang: str, code: str) -> list[str]:
    """Shell commands of a bash block (continuation lines joined) or of a console block ($ lines)."""
    code = code.replace("\\\n", " ")
    if lang == "console":
        return [line[2:] for line in code.splitlines() if line.startswith("$ ")]
    return [line for line in code.splitlines() if line.strip() and not line.lstrip().startswith("#")]


def sandbox(root: Path) -> None:
    """The files README's examples name, small."""
    color, albedo, normal = clean_image(64, 64, 0)
    rng = np.random.default_rng(0)
    noisy = color * rng.gamma(2.0, 0.5, size=color.shape).astype(np.float32)
    write_render(root / "shot.exr", noisy, albedo, normal)
    write_render(root / "shot_ref.exr", color, None, None, pixel_type="float")
    (root / "beauty.exr").write_bytes(encode_exr(frame_channels(noisy)))
    (root / "beauty.albedo.exr").write_bytes(encode_exr(frame_channels(albedo)))
    (root / "beauty.normal.exr").write_bytes(encode_exr(frame_channels(normal)))
    (root / "frames").mkdir()
    for i in range(1, 4):
        write_render(root / "frames" / f"shot.{i:04d}.exr", noisy * (0.5 + 0.25 * i), albedo, normal)
    big_color, big_albedo, big_normal = clean_image(300, 260, 1)  # stands in for an 8K frame
    write_render(root / "big_8k.exr", big_color, big_albedo, big_normal)
    make_scene(root / "shots", "sq010", size=(64, 64))
    make_scene(root / "data" / "heldout", "proc_9000", size=(64, 64))
    for seed in range(2):
        make_scene(root / "data" / "train", f"proc_{seed}", size=(64, 64), seed=seed, reference=False)
    (root / "sample_scenes").symlink_to(ROOT / "sample_scenes")
    (root / "integrations").symlink_to(ROOT / "integrations")
    subprocess.run([sys.executable, "-m", "mcdenoise.cli", "fit", "shots/sq010", "-o", "sq010.pt", "--steps", "1"],
                   cwd=root, check=True, capture_output=True, timeout=300)  # the model the examples call sq010.pt


def test_every_readme_code_block_runs(tmp_path: Path) -> None:
    sandbox(tmp_path)
    port = free_port()
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
           "MCDENOISE_MODELS_DIR": str(tmp_path / "models")}  # the named-models example uploads there
    server: subprocess.Popen | None = None
    ran, skipped = [], []
    try:
        for lang, code in blocks(README.read_text()):
            if lang == "python":
                for old, new in SUBSTITUTE:
                    code = code.replace(old, new)
                cwd = os.getcwd()
                os.chdir(tmp_path)
                try:
                    exec(compile(code, "README.md", "exec"), {})  # noqa: S102 - the documented code itself
                finally:
                    os.chdir(cwd)
                ran.append(code.splitlines()[0])
                continue
            if lang not in ("bash", "console"):
                continue  # text: layouts and sample output, not code
            for command in commands(lang, code):
                if "data/cycles" in command and not (HAS_BLENDER or os.environ.get("MCDENOISE_REQUIRE_BLENDER") == "1"):
                    skipped.append(command)  # no .venv-blender here (tests/test_blender.py says so too)
                    continue
                if any(command.startswith(prefix) for prefix in SKIP):
                    skipped.append(command)
                    continue
                for old, new in SUBSTITUTE:
                    command = command.replace(old, new.format(port=port))
                if command.startswith("mcdenoise serve"):
                    server = subprocess.Popen(command.split("#")[0].split(), cwd=tmp_path, env=env,
                                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                    wait_ready(port)
                    ran.append(command)
                    continue
                r = subprocess.run(["bash", "-c", command], cwd=tmp_path, env=env, capture_output=True, text=True,
                                   timeout=600)
                assert r.returncode == 0, f"README command failed: {command}\n{r.stdout[-1500:]}\n{r.stderr[-1500:]}"
                ran.append(command)
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=20)
    assert len(ran) >= 23 + 2 * HAS_BLENDER and len(skipped) <= 8 + 2 * (not HAS_BLENDER), (ran, skipped)
    for out in ("shot_dn.exr", "out.exr", "denoised/shot.0002.exr", "big_8k.denoised.exr", "cmp.png", "n2n.onnx",
                "sq010.onnx", "beauty_dn.exr", "big.pt", "big_ddp.pt", "sq010_lib.pt", "cornell_denoised.exr",
                "models/sq010.onnx", "dist/mcdenoise_blender-0.1.0.zip", *(["interior.pt"] if HAS_BLENDER else [])):
        assert (tmp_path / out).is_file(), out


@pytest.mark.parametrize("prefix", sorted(SKIP))
def test_skipped_commands_are_still_in_the_readme(prefix: str) -> None:
    """A SKIP entry whose command left the README is stale."""
    assert prefix in README.read_text().replace("\\\n", " ")
