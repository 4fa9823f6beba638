"""Denoising speed and memory against OIDN, on the same machine and inputs, in one run.

    python benchmarks/speed.py                      # 1 MP and 4K, every method, then quality on the sample
    python benchmarks/speed.py --profile            # also: where ONNX Runtime spends its time, by op type
    python benchmarks/speed.py --sizes 1mp --methods ours-onnx ours-openvino oidn-fast   # the ONNX file on both runtimes

Inputs: the bundled Cornell sample (color + albedo + normal, 4 spp) scaled up (nearest) to 1280x800
(1 MP) and 3840x2160 (4K). Each method runs in its own fresh process (so peak RSS is its own), once
to warm up, then --repeat times; the table gives the median. Quality: tonemapped PSNR / relMSE of
each method on the sample at its native size against its 4096-spp reference.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from mcdenoise.architecture import conv_level, layer_table
from mcdenoise.exr import read_frame
from mcdenoise.frame import Frame
from mcdenoise.metrics import psnr_tonemapped, relmse

SAMPLE = Path(__file__).resolve().parents[1] / "sample_scenes" / "cornell" / "cam0_box"
SIZES = {"1mp": (800, 1280), "4k": (2160, 3840)}
METHODS = ("ours-onnx", "ours-openvino", "ours-torch", "oidn-fast", "oidn-balanced", "oidn-high")


def scaled_frame(size: str) -> Frame:
    """The sample render scaled (nearest) to one of SIZES, or at its own size for "sample"."""
    frame = read_frame(SAMPLE / "render_000.exr")
    if size == "sample":
        return frame
    h, w = SIZES[size]
    ys, xs = np.arange(h) * frame.color.shape[0] // h, np.arange(w) * frame.color.shape[1] // w
    up = lambda a: np.ascontiguousarray(a[ys][:, xs])  # noqa: E731
    frame.color, frame.albedo, frame.normal = up(frame.color), up(frame.albedo), up(frame.normal)
    return frame


def make_method(name: str, model: str | None):  # noqa: ANN201 - Frame -> array
    """A callable that denoises a Frame with one method."""
    if name.startswith("oidn-"):
        import pyoidn

        quality = name.split("-", 1)[1]
        return lambda f: np.asarray(pyoidn.denoise(f.color, f.albedo, f.normal, hdr=True, quality=quality))
    from mcdenoise.infer import Denoiser

    backend = name.split("-", 1)[1]
    return Denoiser(model, backend=backend, device="cpu").denoise


def worker(name: str, size: str, repeat: int, model: str | None) -> dict:
    """Run one method on one size in this process; median seconds, peak RSS and (sample) quality."""
    frame = scaled_frame(size)
    run = make_method(name, model)
    out = run(frame)  # warm-up: allocations, kernel selection
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        out = run(frame)
        times.append(time.perf_counter() - t)
    result = {"method": name, "size": size, "median_s": float(np.median(times)), "times": times,
              "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
              "megapixels": frame.color.shape[0] * frame.color.shape[1] / 1e6}
    if size == "sample":
        ref = read_frame(SAMPLE / "reference.exr").color
        result.update(psnr=psnr_tonemapped(out, ref), relmse=relmse(out, ref))
    return result


def spawn(name: str, size: str, repeat: int, model: str | None) -> dict:
    """`worker` in a fresh Python process (its own peak memory)."""
    cmd = [sys.executable, __file__, "--worker", name, size, "--repeat", str(repeat)] + (["--model", model] if model else [])
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"{name} {size} failed:\n{proc.stderr[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def macs_per_pixel(model: str | None) -> float:
    """Multiply-adds per input pixel of the U-Net (3x3 convs at their pooling level)."""
    from mcdenoise.backends import open_backend

    cfg = open_backend(model, "auto", "cpu").config
    return sum(9 * cin * cout / 4 ** conv_level(name) for name, cin, cout in layer_table(cfg))


def sgemm_gflops() -> float:
    """Achievable float32 GFLOP/s of this machine (numpy's BLAS on all cores, large SGEMM)."""
    a = np.random.rand(2048, 2048).astype(np.float32)
    a @ a
    t = time.perf_counter()
    for _ in range(5):
        a @ a
    return 5 * 2 * 2048**3 / (time.perf_counter() - t) / 1e9


def profile_onnx(model: str | None) -> None:
    """Print ONNX Runtime's time per op type for the shipped (or given) ONNX model on the 1 MP frame."""
    import onnxruntime as ort

    from mcdenoise.backends import OnnxBackend, cpu_threads

    backend = OnnxBackend(model, device="cpu")
    opts = ort.SessionOptions()
    opts.enable_profiling, opts.log_severity_level, opts.intra_op_num_threads = True, 3, cpu_threads()
    opts.profile_file_prefix = str(Path(tempfile.mkdtemp(prefix="mcdenoise-profile-")) / "ort")
    sess = ort.InferenceSession(backend.model_path, opts, providers=["CPUExecutionProvider"])
    f = scaled_frame("1mp")
    feeds = {k: np.ascontiguousarray(v.transpose(2, 0, 1)[None]) for k, v in
             (("color", f.color), ("albedo", f.albedo), ("normal", f.normal))}
    for _ in range(3):
        sess.run(None, feeds)
    trace = Path(sess.end_profiling())
    events = json.loads(trace.read_text())
    shutil.rmtree(trace.parent, ignore_errors=True)
    by_op: dict[str, float] = {}
    for e in events:
        if e.get("cat") == "Node" and e["name"].endswith("_kernel_time"):
            op = e["args"].get("op_name", "?")
            by_op[op] = by_op.get(op, 0.0) + e["dur"] / 3 / 1e3  # ms per run
    total = sum(by_op.values())
    print(f"\nONNX Runtime profile, 1 MP, per run: {total:.0f} ms in kernels")
    for op, ms in sorted(by_op.items(), key=lambda kv: -kv[1])[:10]:
        print(f"  {op:<22} {ms:8.1f} ms  {100 * ms / total:5.1f}%")


def main() -> None:
    """Every method at every size, in fresh processes; print the table with ratios to OIDN-fast."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--worker", nargs=2, metavar=("METHOD", "SIZE"), help=argparse.SUPPRESS)
    parser.add_argument("--repeat", type=int, default=3, help="timed runs per method and size (default 3)")
    parser.add_argument("--sizes", nargs="+", default=list(SIZES), choices=list(SIZES))
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=list(METHODS))
    parser.add_argument("--model", help="our model: a shipped name (default, lean) or a file (.onnx for ours-onnx "
                                        "and ours-openvino, .pt for ours-torch); default: default")
    parser.add_argument("--profile", action="store_true", help="also print ONNX Runtime's time per op type")
    parser.add_argument("--json", help="also write the results here")
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(*args.worker, args.repeat, args.model)))
        return

    results = []
    for size in [*args.sizes, "sample"]:
        for name in args.methods:
            r = spawn(name, size, args.repeat if size != "sample" else 1, args.model)
            results.append(r)
            print(f"  {name:<14} {size:<6} {r['median_s']:7.3f} s  peak {r['peak_rss_mb']:6.0f} MB", file=sys.stderr)

    def get(name: str, size: str) -> dict:
        return next(r for r in results if r["method"] == name and r["size"] == size)

    print("\nSpeed (median of", args.repeat, "runs after a warm-up; each method in a fresh process)")
    head = "| method | " + " | ".join(f"{s} s | {s} MP/s | {s} / OIDN-fast | {s} peak RSS MB" for s in args.sizes)
    print(head + " | sample PSNR dB | sample relMSE |")
    print("|---" * (1 + 4 * len(args.sizes) + 2) + "|")
    for name in args.methods:
        cells = []
        for size in args.sizes:
            r, base = get(name, size), get("oidn-fast", size) if "oidn-fast" in args.methods else None
            ratio = f"{r['median_s'] / base['median_s']:.2f}x" if base else "-"
            cells += [f"{r['median_s']:.3f}", f"{r['megapixels'] / r['median_s']:.2f}", ratio, f"{r['peak_rss_mb']:.0f}"]
        q = get(name, "sample")
        print(f"| {name} | " + " | ".join(cells) + f" | {q['psnr']:.2f} | {q['relmse']:.4f} |")
    noisy = read_frame(SAMPLE / "render_000.exr").color
    ref = read_frame(SAMPLE / "reference.exr").color
    print(f"(noisy input on the sample: {psnr_tonemapped(noisy, ref):.2f} dB, relMSE {relmse(noisy, ref):.4f})")

    macs, peak = macs_per_pixel(args.model), sgemm_gflops()
    print(f"\nFLOP bound: our model does {macs / 1e3:.1f}k multiply-adds per pixel = {2 * macs / 1e3:.1f} GFLOP per MP;"
          f" this machine's SGEMM reaches {peak:.0f} GFLOP/s, so >= {2 * macs / 1e3 / peak:.3f} s/MP if convs ran at"
          f" SGEMM speed.")
    for name in ("ours-onnx", "ours-openvino", "ours-torch"):  # ours-openvino: bfloat16 where the CPU has it
        if name in args.methods and "1mp" in args.sizes:
            r = get(name, "1mp")
            achieved = 2 * macs * r["megapixels"] * 1e6 / r["median_s"] / 1e9
            print(f"  {name}: {achieved:.0f} GFLOP/s at 1 MP = {100 * achieved / peak:.0f}% of SGEMM")
    if args.profile:
        from mcdenoise.shipped import shipped_name

        onnx_model = args.model if shipped_name(args.model) or str(args.model).endswith(".onnx") else None
        profile_onnx(onnx_model)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
