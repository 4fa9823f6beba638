"""The light install: `pip install mcdenoise[serve]` (ONNX Runtime, no PyTorch) denoises and serves."""

from __future__ import annotations

import os
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from conftest import free_port, wait_ready

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "sample_scenes" / "cornell" / "cam0_box" / "render_000.exr"


@pytest.mark.skipif(os.environ.get("MCDENOISE_SKIP_VENV_TESTS") == "1", reason="MCDENOISE_SKIP_VENV_TESTS=1")
def test_serve_extra_alone_denoises_and_serves(tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    py = venv / "bin" / "python"
    # A wheel build of this checkout, as users get it; the registry (or pip's cache) serves the rest.
    r = subprocess.run([str(py), "-m", "pip", "install", "-q", f"{ROOT}[serve]"], capture_output=True, text=True,
                       timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    listed = subprocess.run([str(py), "-m", "pip", "list"], capture_output=True, text=True, check=True).stdout.lower()
    assert "torch" not in listed and "onnxruntime" in listed
    cli = venv / "bin" / "mcdenoise"
    out = tmp_path / "dn.exr"
    r = subprocess.run([str(cli), "denoise", str(SAMPLE), "-o", str(out)], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0 and out.stat().st_size > 10_000, r.stderr

    port = free_port()
    server = subprocess.Popen([str(cli), "serve", "--port", str(port)], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    try:
        wait_ready(port)
        req = urllib.request.Request(f"http://127.0.0.1:{port}/denoise", data=SAMPLE.read_bytes(),
                                     headers={"Content-Type": "image/x-exr"})
        with urllib.request.urlopen(req, timeout=120) as answer:
            assert answer.status == 200 and answer.read()[:4] == b"v/1\x01"
    finally:
        server.terminate()
        server.wait(timeout=20)
