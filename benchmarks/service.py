"""The HTTP service under load: requests/s and latency at 1, 2, 4, 8 concurrent clients, HTTP
overhead against in-process denoising of the same frame, and behaviour past saturation.

    python benchmarks/service.py                   # 1 MP half EXR with albedo + normal
    python benchmarks/service.py --requests 24     # more requests per concurrency level

The server is `mcdenoise serve` in its own process on a loopback port (defaults: one inference at a
time, a queue of 8); clients are threads posting raw EXR bodies. The saturation phase starts a
second server with --queue 2 and sends 8 at once: the extra requests must get 503 quickly.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np

from mcdenoise.exr import encode_exr, frame_channels, read_frame

SAMPLE = Path(__file__).resolve().parents[1] / "sample_scenes" / "cornell" / "cam0_box" / "render_000.exr"


def frame_bytes(height: int = 800, width: int = 1280) -> bytes:
    """The sample render scaled (nearest) to 1 MP, as a half EXR with albedo and normal."""
    f = read_frame(SAMPLE)
    ys, xs = np.arange(height) * f.height // height, np.arange(width) * f.width // width
    up = lambda a: np.ascontiguousarray(a[ys][:, xs])  # noqa: E731
    return encode_exr(frame_channels(up(f.color), albedo=up(f.albedo), normal=up(f.normal)), pixel_type="half")


def in_process_seconds(data: bytes, repeat: int) -> tuple[float, float]:
    """Median (decode + denoise + encode, denoise only) seconds of the service's own code path, no HTTP."""
    from mcdenoise.infer import Denoiser
    from mcdenoise.server.app import DenoiseParams, run_denoise
    from mcdenoise.server.settings import Settings

    denoiser, settings, params = Denoiser(None), Settings(), DenoiseParams()
    run_denoise(denoiser, data, None, None, params, settings)  # warm-up
    total, core = [], []
    for _ in range(repeat):
        t = time.perf_counter()
        _, timings, _ = run_denoise(denoiser, data, None, None, params, settings)
        total.append(time.perf_counter() - t)
        core.append(timings["denoise"])
    return statistics.median(total), statistics.median(core)


class Server:
    """`mcdenoise serve` in a child process on a free loopback port."""

    def __init__(self, **env: str) -> None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        full_env = {**os.environ, **{f"MCDENOISE_{k.upper()}": v for k, v in env.items()}}
        self.proc = subprocess.Popen([sys.executable, "-m", "mcdenoise.cli", "serve", "--port", str(self.port)],
                                     env=full_env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(600):
            try:
                with urllib.request.urlopen(self.url + "/readyz", timeout=1):
                    return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("server did not start")

    def rss_mb(self) -> tuple[float, float]:
        """(current, peak) resident memory of the server process in MB."""
        fields = dict(line.split(":", 1) for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines())
        return int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024

    def stop(self) -> None:
        """Terminate and wait."""
        self.proc.terminate()
        self.proc.wait(timeout=30)


def post(url: str, data: bytes) -> tuple[int, float]:
    """(status, seconds) of one raw-EXR POST /denoise."""
    req = urllib.request.Request(url + "/denoise", data=data, headers={"Content-Type": "image/x-exr"})
    t = time.perf_counter()
    try:
        with urllib.request.urlopen(req, timeout=600) as r:
            r.read()
            status = r.status
    except urllib.error.HTTPError as exc:
        exc.read()
        status = exc.code
    return status, time.perf_counter() - t


def load(url: str, data: bytes, clients: int, requests: int) -> tuple[list[tuple[int, float]], float]:
    """`requests` POSTs spread over `clients` threads; (status, seconds) of each and the wall time."""
    results: list[tuple[int, float]] = []
    lock = threading.Lock()
    left = [requests]

    def client() -> None:
        while True:
            with lock:
                if left[0] == 0:
                    return
                left[0] -= 1
            r = post(url, data)
            with lock:
                results.append(r)

    threads = [threading.Thread(target=client) for _ in range(clients)]
    t = time.perf_counter()
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    return results, time.perf_counter() - t


def pct(values: list[float], q: float) -> float:
    """The q-th percentile (nearest rank)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered) + 0.5) - 1))]


def main() -> None:
    """Run the load levels and the saturation phase; print the tables."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=16, help="requests per concurrency level (default 16)")
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 2, 4, 8])
    args = parser.parse_args()
    data = frame_bytes()
    print(f"frame: 1280x800 half EXR with albedo + normal, {len(data) / 2**20:.1f} MB", file=sys.stderr)
    total_s, denoise_s = in_process_seconds(data, 5)

    server = Server()
    try:
        post(server.url, data)  # warm-up
        print("\n| clients | requests | errors | req/s | p50 s | p95 s | p99 s | p50 / in-process | server RSS peak MB |")
        print("|---|---|---|---|---|---|---|---|---|")
        single_p50 = None
        for clients in args.clients:
            results, wall = load(server.url, data, clients, args.requests)
            ok = [s for code, s in results if code == 200]
            errors = len(results) - len(ok)
            p50 = pct(ok, 50)
            single_p50 = p50 if clients == 1 else single_p50
            print(f"| {clients} | {len(results)} | {errors} | {len(ok) / wall:.2f} | {p50:.3f} | {pct(ok, 95):.3f} | "
                  f"{pct(ok, 99):.3f} | {p50 / total_s:.2f}x | {server.rss_mb()[1]:.0f} |")
    finally:
        server.stop()
    print(f"\nin-process (same code path, no HTTP): decode + denoise + encode {total_s:.3f} s, denoise alone {denoise_s:.3f} s")
    if single_p50:
        print(f"HTTP overhead, 1 client: p50 end-to-end {single_p50:.3f} s = {single_p50 / total_s:.3f}x the in-process "
              f"time ({single_p50 / denoise_s:.3f}x the denoise step alone)")

    server = Server(max_queue="2")
    try:
        post(server.url, data)
        results, wall = load(server.url, data, 8, 8)
        busy = [s for code, s in results if code == 503]
        ok = [s for code, s in results if code == 200]
        print("\nSaturation: 8 simultaneous requests, max_concurrency 1 + max_queue 2")
        print(f"  200: {len(ok)} (slowest {max(ok):.2f} s), 503: {len(busy)} (slowest {max(busy) if busy else 0:.3f} s),"
              f" other: {len(results) - len(ok) - len(busy)}; server RSS now {server.rss_mb()[0]:.0f} MB, "
              f"peak {server.rss_mb()[1]:.0f} MB")
    finally:
        server.stop()


if __name__ == "__main__":
    main()
