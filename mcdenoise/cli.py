"""The `mcdenoise` command line. User mistakes print one line and exit 2; --verbose adds details."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from mcdenoise import __version__
from mcdenoise.architecture import PRECISIONS, PRESETS
from mcdenoise.data import TARGETS
from mcdenoise.errors import McDenoiseError
from mcdenoise.tiling import DEFAULT_MAX_MEMORY_MB

EXIT_USER_ERROR = 2
log = logging.getLogger("mcdenoise")


class _Formatter(logging.Formatter):
    """'mcdenoise: message' for info, 'mcdenoise: warning: message' for the rest; tracebacks when attached."""

    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage()
        if record.levelno >= logging.WARNING:
            message = f"mcdenoise: {record.levelname.lower()}: {message}"
        elif record.levelno <= logging.DEBUG:
            message = f"mcdenoise: debug: {record.name}: {message}"
        else:
            message = f"mcdenoise: {message}"
        if record.exc_info:
            message += "\n" + self.formatException(record.exc_info)
        return message


def _setup_logging(verbose: bool) -> None:
    """Route library logging to stderr; --verbose shows debug details."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_Formatter())
    root = logging.getLogger("mcdenoise")
    root.handlers[:] = [handler]
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    root.propagate = False
    from mcdenoise import exr

    exr.CAPTURE_NATIVE_MESSAGES = True  # OpenEXR's own stderr lines go to the debug log, not the terminal


def _nonnegative(text: str) -> int:
    """argparse type: an integer >= 0."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, not {value}")
    return value


def _model_options(p: argparse.ArgumentParser, *, backend: bool = True, device: bool = True, threads: bool = False,
                   device_default: str | None = "auto") -> None:
    """--model (+ --backend, --device, --threads): the model options every inference command shares."""
    from mcdenoise.backends import BACKENDS
    from mcdenoise.shipped import SHIPPED

    names = ", ".join(f"'{n}'" for n in SHIPPED)
    p.add_argument("--model", help=f"a shipped model ({names}; default: 'default') or a model file, .pt or .onnx")
    if backend:
        p.add_argument("--backend", choices=BACKENDS, default="auto",
                       help="auto (default): ONNX Runtime for .onnx and the shipped models, PyTorch for .pt")
    if device:
        p.add_argument("--device", default=device_default,
                       help="auto (CUDA when available; the default), cpu, cuda or cuda:N")
    if threads:
        p.add_argument("--threads", type=_nonnegative, default=0,
                       help="CPU threads (default 0: all cores this process may use)")


# ---------------------------------------------------------------------------------------------- info

def _info_report(path: str, layer: str | None, decode: bool) -> dict[str, Any]:
    """Everything `info` says about one file, as a JSON-ready dict."""
    from mcdenoise.channels import detect
    from mcdenoise.exr import probe, read_frame

    info = probe(path)
    x0, y0, x1, y1 = info.display_window
    report: dict[str, Any] = {
        "file": path,
        "width": info.width,
        "height": info.height,
        "display_window": [x0, y0, x1, y1],
        "parts": [
            {
                "index": part.index,
                "name": part.name,
                "storage": part.storage,
                "compression": part.compression,
                "data_window": list(part.data_window),
                "channels": [{"name": ch.name, "type": ch.pixel_type} for ch in part.channels],
            }
            for part in info.parts
        ],
    }
    try:
        detection = detect(info.channels, info.name, layer)
    except McDenoiseError as exc:
        report["error"] = str(exc)
        return report
    report["layer"] = detection.layer
    report["layers"] = list(detection.layers)
    report["detected"] = {role: src.describe() for role, src in detection.sources.items()}
    report["alpha"] = detection.alpha.name if detection.alpha else None
    report["notes"] = list(detection.notes)
    if decode:  # headers can be fine while the pixel data is truncated: decode to be sure
        try:
            frame = read_frame(path, layer=detection.layer, info=info)
        except McDenoiseError as exc:
            report["error"] = str(exc)
            return report
        report["pixels"] = {
            "color_mean": float(frame.color.mean()),
            "color_max": float(frame.color.max()),
            "replaced": frame.sanitized,
        }
    return report


def _print_report(report: dict[str, Any]) -> None:
    """Human-readable form of `_info_report`."""
    w, h = report["width"], report["height"]
    print(f"{report['file']}")
    print(f"  resolution   {w}x{h}   display window {tuple(report['display_window'])}")
    print(f"  parts        {len(report['parts'])}")
    for part in report["parts"]:
        name = f" {part['name']!r}" if part["name"] else ""
        dw = "" if part["data_window"] == report["display_window"] else f", data window {tuple(part['data_window'])}"
        print(f"  part {part['index']}{name}: {part['storage']}, {part['compression']} compression{dw}")
        for ch in part["channels"]:
            print(f"      {ch['name']:<36} {ch['type']}")
    if "error" in report and "detected" not in report:
        print(f"  detected     NO COLOR: {report['error']}")
        return
    layers = report["layers"]
    layer_note = f" (of {len(layers)}: {', '.join(layers)}; choose with --layer)" if len(layers) > 1 else ""
    print(f"  view layer   {report['layer']!r}{layer_note}" if report["layer"] else "  view layer   (none)")
    for role in ("color", "albedo", "normal"):
        print(f"  {role:<12} {report['detected'].get(role, 'not found')}")
    if report["alpha"]:
        print(f"  {'alpha':<12} {report['alpha']}")
    for note in report["notes"]:
        print(f"  note         {note}")
    if "error" in report:
        print(f"  pixels       UNREADABLE: {report['error']}")
    elif "pixels" in report:
        px = report["pixels"]
        replaced = ", ".join(f"{n} {what}" for what, n in px["replaced"].items()) or "no NaN/Inf/negative"
        print(f"  pixels       ok; color mean {px['color_mean']:.4g}, max {px['color_max']:.4g}; {replaced}")


def cmd_info(args: argparse.Namespace) -> int:
    """Print resolution, parts, channels and detected AOVs of each file."""
    failures = 0
    reports = []
    for path in args.files:
        try:
            report = _info_report(path, args.layer, decode=not args.headers_only)
        except McDenoiseError as exc:
            report = {"file": path, "error": str(exc), "unreadable": True}
        failures += "error" in report
        reports.append(report)
        if args.json:
            continue
        if report.get("unreadable"):
            print(f"{path}\n  error        {report['error']}")
        else:
            _print_report(report)
    if args.json:
        print(json.dumps(reports if len(reports) > 1 else reports[0], indent=2))
    if failures:
        log.error("%d of %d file(s) cannot be denoised as they are (see above)", failures, len(reports))
        return EXIT_USER_ERROR
    return 0


# -------------------------------------------------------------------------------------------- render

def _size(text: str) -> tuple[int, int]:
    """'256' or '320x240' -> (width, height)."""
    try:
        if "x" in text:
            w, h = text.lower().split("x")
            return int(w), int(h)
        return int(text), int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"bad size {text!r}; use N or WIDTHxHEIGHT") from None


def cmd_render(args: argparse.Namespace) -> int:
    """Render named and/or procedural scenes into the scene layout."""
    from mcdenoise.render import RenderSettings, render_scene
    from mcdenoise.scenes import SCENES, get_scene, procedural_scene

    if args.list:
        for spec in SCENES.values():
            views = ", ".join(v.name for v in spec.views)
            print(f"{spec.name:<10} {spec.description}  [{'; '.join(spec.stresses)}]  views: {views}")
        print("proc_<seed> procedural random scene (see --procedural)")
        return 0
    specs = [get_scene(name) for name in args.scenes]
    specs += [procedural_scene(args.first_seed + i) for i in range(args.procedural)]
    if not specs:
        raise McDenoiseError("nothing to render: name scenes (see --list) or use --procedural N")
    if args.output is None:
        raise McDenoiseError("give an output folder with -o/--output")
    width, height = args.size
    filters = ("box", "gaussian") if args.filter == "both" else (args.filter,)
    settings = RenderSettings(
        spp=args.spp, count=args.count, reference_spp=args.reference_spp, width=width, height=height,
        filters=filters, seed=args.seed, pixel_type=args.pixel_type, force=args.force,
    )
    views = args.views.split(",") if args.views else None
    from tqdm import tqdm

    for spec in tqdm(specs, desc="scenes", unit="scene", disable=len(specs) < 2):
        scene_dir = render_scene(spec, args.output, settings, views=views)
        print(f"{scene_dir}")
    return 0


# ----------------------------------------------------------------------------------------------- fit

def _require_torch() -> None:
    """Fail with an install hint when PyTorch is missing."""
    try:
        import torch  # noqa: F401
    except ImportError:
        raise McDenoiseError("PyTorch is not installed; install it with: pip install 'mcdenoise[train]'") from None


def cmd_fit(args: argparse.Namespace) -> int:
    """Train or fine-tune a model on scene directories of noisy render pairs."""
    _require_torch()
    from dataclasses import replace

    from mcdenoise.checkpoint import load_checkpoint
    from mcdenoise.train import TrainConfig, fit

    if args.resume:
        ckpt = load_checkpoint(args.output)
        cfg = TrainConfig.from_dict(ckpt.get("train_config", {}))
        cfg = replace(cfg, output=args.output)
        if args.scenes:
            log.warning("--resume trains on the scene directories stored in %s; ignoring the ones given", args.output)
        if args.steps is not None:  # extending a finished run changes its lr schedule, on purpose
            cfg = replace(cfg, steps=args.steps)
        if args.minutes is not None:
            cfg = replace(cfg, minutes=args.minutes)
    else:
        if not args.scenes:
            raise McDenoiseError("give at least one scene directory to train on")
        from mcdenoise.checkpoint import resolve_model_path

        if args.init != "scratch" and os.path.abspath(args.output) == os.path.abspath(resolve_model_path(args.init)):
            raise McDenoiseError(f"-o {args.output} is the model training starts from; write to another file")
        if os.path.exists(args.output) and not args.force:
            raise McDenoiseError(f"{args.output} already exists; --resume to continue it, --force to start over")
        cfg = TrainConfig(
            scenes=list(args.scenes), output=args.output, init=args.init, size=args.size,
            steps=args.steps or 0, minutes=args.minutes or 0.0, batch=args.batch, crop=args.crop, lr=args.lr,
            rampdown=args.rampdown, seed=args.seed, aux=not args.no_aux, target=args.target, val_views=args.val_views,
            val_scenes=list(args.val or []), val_every=args.val_every, checkpoint_minutes=args.checkpoint_minutes,
            cache_mb=args.cache_mb, device=args.device, precision=args.precision,
        )
    try:
        summary = fit(cfg, resume=args.resume)
    except KeyboardInterrupt:
        if os.path.exists(cfg.output):
            print(f"mcdenoise: interrupted; checkpoint saved in {cfg.output} (continue with: "
                  f"mcdenoise fit --resume -o {cfg.output})", file=sys.stderr)
        raise
    if int(os.environ.get("RANK", "0")) == 0:
        metrics = ", ".join(f"{k} {v:.4g}" for k, v in summary.get("metrics", {}).items())
        print(f"{cfg.output}: {summary['steps']} steps in {summary['elapsed'] / 60:.1f} min" + (f"; {metrics}" if metrics else ""))
    return 0


# ------------------------------------------------------------------------------------------- denoise

def _output_is_current(path: str) -> bool:
    """True when `path` is an EXR whose header reads (an earlier run's finished output)."""
    from mcdenoise.exr import probe

    try:
        probe(path)
    except McDenoiseError:
        return False
    return True


def _open_denoiser(args: argparse.Namespace):  # noqa: ANN202 - Denoiser, imported lazily
    """The Denoiser for --model/--backend/--device; exports a .pt in memory for --backend onnx."""
    from mcdenoise.infer import Denoiser

    from mcdenoise.shipped import shipped_name

    model: str | bytes | None = args.model
    if args.backend == "onnx" and not shipped_name(model) and not str(model).lower().endswith(".onnx"):
        _require_torch()
        from mcdenoise.export import export_bytes

        log.info("exporting %s to ONNX in memory (save time next run: mcdenoise export %s -o MODEL.onnx)", model, model)
        model = export_bytes(model)
    return Denoiser(model, backend=args.backend, device=args.device, max_memory_mb=args.max_memory_mb,
                    threads=args.threads)


def _tile_bar() -> Callable[[int, int], None]:
    """A `progress(done, total)` callback that shows a tile progress bar for frames split into tiles."""
    from tqdm import tqdm

    bar = None

    def update(done: int, total: int) -> None:
        nonlocal bar
        if total < 2:
            return
        if bar is None:
            bar = tqdm(total=total, desc="tiles", unit="tile", leave=False)
        bar.update(1)
        if done == total:
            bar.close()

    return update


def _each_frame(todo: list[tuple[Path, Path]], denoise_one: Callable[[Path, Path], Path]) -> int:
    """Run `denoise_one(input, output)` on every frame with a progress bar; a failing frame is reported
    on one line and the others go on (a single frame's error is raised as usual). Exit code."""
    from tqdm import tqdm

    failed = []
    for src, out in tqdm(todo, desc="denoise", unit="frame", disable=len(todo) < 2):
        try:
            tqdm.write(str(denoise_one(src, out)))
        except McDenoiseError as exc:
            if len(todo) == 1:
                raise
            tqdm.write(f"mcdenoise: error: {exc}", file=sys.stderr)
            failed.append(src)
    if failed:
        print(f"mcdenoise: error: {len(failed)} of {len(todo)} frame(s) failed: {', '.join(map(str, failed[:5]))}"
              f"{' ...' if len(failed) > 5 else ''}", file=sys.stderr)
        return EXIT_USER_ERROR
    return 0


def cmd_denoise(args: argparse.Namespace) -> int:
    """Denoise EXR files, folders, globs and frame patterns with the shipped or a given model."""
    from mcdenoise.sequence import expand_inputs, plan_outputs

    inputs = expand_inputs(args.inputs)
    if len(inputs) > 1 and (args.albedo or args.normal):
        raise McDenoiseError("--albedo/--normal side files go with a single input file")
    outputs = plan_outputs(inputs, args.output, protect=(args.albedo, args.normal))
    todo = [(i, o) for i, o in zip(inputs, outputs) if not (args.skip_existing and _output_is_current(str(o)))]
    if len(todo) < len(inputs):
        log.info("skipping %d frame(s) already denoised (--skip-existing)", len(inputs) - len(todo))
    if not todo:
        return 0
    if args.server:
        from mcdenoise.atomic import atomic_write_bytes
        from mcdenoise.client import denoise_remote

        def remote(src: Path, out: Path) -> Path:
            data = denoise_remote(args.server, src, albedo=args.albedo, normal=args.normal, layer=args.layer)
            if not out.parent.is_dir():
                raise McDenoiseError(f"{out}: output folder {out.parent} does not exist")
            return atomic_write_bytes(out, data)

        return _each_frame(todo, remote)

    from mcdenoise.infer import denoise_file

    denoiser = _open_denoiser(args)
    return _each_frame(todo, lambda src, out: denoise_file(
        denoiser, src, out, albedo=args.albedo, normal=args.normal, layer=args.layer, keep_aovs=args.keep_aovs,
        progress=_tile_bar() if len(todo) == 1 else None))


# ---------------------------------------------------------------------------------------------- eval

def _print_eval(rows: list[dict[str, Any]]) -> None:
    """The metrics table: one line per (view, method), then the mean of each method over views."""
    import numpy as np

    from mcdenoise.evaluate import METRICS

    names = [m for m in METRICS if any(m in r["metrics"] for r in rows)]
    views = sorted({r["view"] for r in rows}, key=[r["view"] for r in rows].index)
    head = f"{'view':<28} {'method':<12} " + " ".join(f"{m:>8}" for m in names)
    print(head)
    print("-" * len(head))
    for r in rows:
        print(f"{r['view'][:28]:<28} {r['method']:<12} " + " ".join(
            f"{r['metrics'][m]:>8.3f}" if m in ("psnr", "ssim", "lum") else f"{r['metrics'][m]:>8.4f}" for m in names))
    if len(views) > 1:
        print("-" * len(head))
        for method in dict.fromkeys(r["method"] for r in rows):
            mine = [r["metrics"] for r in rows if r["method"] == method]
            print(f"{'mean of ' + str(len(mine)) + ' views':<28} {method:<12} " + " ".join(
                f"{np.mean([m[k] for m in mine]):>8.3f}" if k in ("psnr", "ssim", "lum") else f"{np.mean([m[k] for m in mine]):>8.4f}"
                for k in names))
    print("psnr, ssim: higher is better; relmse, smape, flip: lower is better; lum: mean luminance / the "
          "reference's, 1 is best (see `mcdenoise eval --help`)")


def cmd_eval(args: argparse.Namespace) -> int:
    """Metrics (and comparison images) of denoised frames against references."""
    from mcdenoise.comparison import comparison_png
    from mcdenoise.evaluate import ViewResult, compare, evaluate_scene, oidn_method, read_reference
    from mcdenoise.exr import read_frame

    single = not all(Path(p).is_dir() for p in args.inputs)  # one denoised file: --png is a file
    if args.png and single and not (Path(args.png).is_dir() or args.png.endswith(("/", os.sep))):
        from mcdenoise.atomic import check_output

        check_output(args.png)  # before the metrics are computed
    paths = [Path(p) for p in args.inputs]
    results: list[ViewResult] = []
    if all(p.is_dir() for p in paths):
        if args.reference or args.noisy:
            raise McDenoiseError("--reference/--noisy go with a single denoised file, not scene directories")
        from mcdenoise.infer import Denoiser

        denoiser = Denoiser(args.model, backend=args.backend)
        methods = {"mcdenoise": denoiser.denoise}
        oidn = oidn_method("high") if not args.no_oidn else None
        if oidn is not None:
            methods["oidn-high"] = oidn
        for p in paths:
            results += evaluate_scene(p, methods, render=args.render, flip=not args.no_flip)
        focus = "mcdenoise"
    else:
        if len(paths) != 1 or paths[0].is_dir():
            raise McDenoiseError("give one denoised EXR with --reference, or scene directories")
        if not args.reference:
            raise McDenoiseError("--reference REF.exr is needed to evaluate a single file")
        ref = read_reference(args.reference)
        result = ViewResult(paths[0].name, ref)
        if args.noisy:
            noisy = read_frame(args.noisy)
            result.images["noisy"] = noisy.color
        result.images["mcdenoise"] = read_frame(paths[0]).color
        oidn = oidn_method("high") if args.noisy and not args.no_oidn else None
        if oidn is not None:
            result.images["oidn-high"] = oidn(noisy)
        for name, img in result.images.items():
            try:
                result.metrics[name] = compare(img, ref, flip=not args.no_flip)
            except McDenoiseError as exc:
                raise McDenoiseError(f"{args.noisy if name == 'noisy' else paths[0]} vs {args.reference}: {exc}") from None
        results.append(result)
        focus = "mcdenoise"
    rows = [{"view": r.label, "method": m, "metrics": v} for r in results for m, v in r.metrics.items()]
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        _print_eval(rows)
    if args.png:
        out = Path(args.png)
        many = len(results) > 1 or out.is_dir() or args.png.endswith(("/", os.sep))
        if many:
            out.mkdir(parents=True, exist_ok=True)
        for r in results:
            target = out / (r.label.replace("/", "_") + ".png") if many else out
            comparison_png(target, r.images, r.reference, r.metrics, focus=focus, title=r.label)
            print(f"{target}", file=sys.stderr)
    return 0


# --------------------------------------------------------------------------------------------- serve

def _check_port_free(host: str, port: int, source: str) -> None:
    """Raise a one-line error when (host, port) cannot be listened on, before any model is loaded."""
    import socket

    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise McDenoiseError(f"cannot listen on {host}: {exc.strerror}") from None
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn does
        try:
            sock.bind(address)
        except OSError as exc:
            raise McDenoiseError(f"cannot listen on {host}:{port} ({exc.strerror}); another process may be using "
                                 f"it: pick another port with {source}") from None


def cmd_serve(args: argparse.Namespace) -> int:
    """Run the HTTP service with uvicorn (settings: MCDENOISE_* environment, overridden by options)."""
    try:
        import uvicorn
        from pydantic import ValidationError

        from mcdenoise.server.settings import Settings
    except ImportError as exc:
        raise McDenoiseError(f"serve needs the serve extra ({exc.name} is missing): pip install 'mcdenoise[serve]'") from None
    options = {"model": args.model, "host": args.host, "port": args.port, "workers": args.workers, "device": args.device}
    given = {name for name, value in options.items() if value is not None}
    for name in given:  # the environment carries them to every uvicorn worker process
        os.environ[f"MCDENOISE_{name.upper()}"] = str(options[name])
    try:
        settings = Settings()
    except ValidationError as exc:
        def source(loc: tuple) -> str:
            """Name the flag when the bad value came from the command line, else the variable."""
            name = "_".join(map(str, loc))
            return f"--{name.replace('_', '-')}" if name in given else f"MCDENOISE_{name.upper()}"

        problems = "; ".join(f"{source(e['loc'])}: {e['msg']}" for e in exc.errors())
        raise McDenoiseError(f"bad service settings: {problems}") from None
    from mcdenoise.shipped import SHIPPED, shipped_name

    if not shipped_name(settings.model) and not os.path.isfile(settings.model):
        raise McDenoiseError(f"{settings.model}: no such model file (or shipped model: {', '.join(SHIPPED)})")
    _check_port_free(settings.host, settings.port, "--port" if "port" in given else "MCDENOISE_PORT")
    import copy

    log_config = copy.deepcopy(uvicorn.config.LOGGING_CONFIG)  # uvicorn's, plus our access/info lines
    log_config["loggers"]["mcdenoise"] = {"handlers": ["default"], "level": "INFO", "propagate": False}
    uvicorn.run("mcdenoise.server.app:create_app", factory=True, host=settings.host, port=settings.port,
                workers=settings.workers, log_level="info", log_config=log_config)
    return 0


# -------------------------------------------------------------------------------------------- export

def cmd_export(args: argparse.Namespace) -> int:
    """Export a model to a self-contained ONNX file."""
    _require_torch()
    try:
        from mcdenoise.export import export_onnx
    except ImportError as exc:
        raise McDenoiseError(f"export needs the onnx package ({exc}); pip install 'mcdenoise[export]'") from None
    out = export_onnx(args.model, args.output, half=args.half, opset=args.opset)
    print(out)
    return 0


# --------------------------------------------------------------------------------------------- model

def cmd_model(args: argparse.Namespace) -> int:
    """Describe a model file; optionally write an inference-only copy."""
    if args.model and args.model.lower().endswith(".onnx"):
        from mcdenoise.backends import OnnxBackend

        if args.release:
            raise McDenoiseError("--release works on PyTorch checkpoints (.pt), not on ONNX files")
        backend = OnnxBackend(args.model, device="cpu")
        print(backend.model_path)
        for key, value in sorted(backend.metadata.items()):
            print(f"  {key:<18} {value if len(value) < 300 else value[:300] + ' ...'}")
        return 0
    _require_torch()
    from mcdenoise.checkpoint import load_checkpoint, model_from_checkpoint, release_copy

    ckpt = load_checkpoint(args.model)
    net = model_from_checkpoint(ckpt)
    cfg = net.cfg
    train = ckpt.get("train_config", {})
    print(ckpt["path"])
    print(f"  network      U-Net enc {cfg.enc}, dec {cfg.dec}, head {cfg.head}, {cfg.pools} pools; "
          f"{sum(p.numel() for p in net.parameters()):,} parameters; pad to multiples of {cfg.alignment}")
    print(f"  written by   mcdenoise {ckpt.get('mcdenoise_version', '?')}")
    if "step" in ckpt:
        print(f"  trained      {ckpt['step']} steps, {float(ckpt.get('elapsed', 0)) / 60:.1f} min, "
              f"target {train.get('target', '?')}, init {train.get('init', '?')}")
    if train.get("scenes"):
        scenes = train["scenes"]
        print(f"  data         {len(scenes)} scene dir(s): {', '.join(scenes[:4])}{' ...' if len(scenes) > 4 else ''}")
    if ckpt.get("metrics"):
        print("  validation   " + ", ".join(f"{k} {v:.4g}" for k, v in ckpt["metrics"].items()))
    print(f"  resumable    {'yes' if 'optimizer' in ckpt else 'no (inference only)'}")
    if args.release:
        out = release_copy(ckpt["path"], args.release)
        print(f"{out}: inference-only copy (float16 weights)")
    return 0


# ---------------------------------------------------------------------------------------------- main

EPILOG_INFO = """examples:
  mcdenoise info render.exr                 what a renderer wrote, and what mcdenoise will use
  mcdenoise info shot.exr --layer FG        a Blender file with several view layers
  mcdenoise info frames/*.exr --json        machine-readable, one entry per file
"""

EPILOG_RENDER = """examples:
  mcdenoise render --list
  mcdenoise render cornell glass -o data/ --spp 4 --count 4 --reference-spp 1024
  mcdenoise render --procedural 50 --first-seed 1000 -o data/train --filter both
  mcdenoise render cornell -o data/ --views cam0 --size 320x240

layout written: OUT/<scene>/<view>_<filter>/render_000.exr ... [reference.exr], OUT/<scene>/scene.json
Existing files are kept (an interrupted run resumes); --force re-renders them.
"""

EPILOG_FIT = """examples:
  mcdenoise fit shots/sq010 -o sq010.pt --minutes 15          fine-tune the shipped model on a scene
  mcdenoise fit data/train/* -o big.pt --init scratch --size paper --steps 20000
  mcdenoise fit --resume -o big.pt                             continue an interrupted run exactly
  torchrun --nproc_per_node 4 -m mcdenoise.cli fit data/train/* -o big.pt --steps 20000

Each SCENE_DIR holds one folder per view with >= 2 noisy renders (different seeds) of that view;
reference.exr, when present, is only used for validation metrics (or --target clean).
Writes OUT, OUT's .log.jsonl (training log) and .curve.png; checkpoints every few minutes and on Ctrl-C.
"""

EPILOG_DENOISE = """examples:
  mcdenoise denoise shot.exr -o shot_dn.exr
  mcdenoise denoise beauty.exr --albedo beauty.albedo.exr --normal beauty.normal.exr -o out.exr
  mcdenoise denoise 'frames/*.exr' -o denoised/ --skip-existing      a sequence; re-runs skip finished frames
  mcdenoise denoise frames/shot.%04d.exr -o denoised/                   also shot.####.exr, or a folder
  mcdenoise denoise big_4k.exr --max-memory-mb 1024                     smaller tiles, less memory
  mcdenoise denoise shot.exr --model sq010.pt --backend torch

Frames are independent: a farm can split a sequence across machines. A frame that fails is
reported and the rest go on; the exit code is 2 if any failed. Outputs keep each input's name,
header and pixel type, and are written atomically (never over an input).
"""

EPILOG_EVAL = """examples:
  mcdenoise eval shot_dn.exr --reference shot_ref.exr
  mcdenoise eval shot_dn.exr --reference shot_ref.exr --noisy shot.exr --png cmp.png
  mcdenoise eval data/heldout/proc_9000 --model sq010.pt --json
  mcdenoise eval sample_scenes/cornell --png cmp/

metrics (all against the reference; images are linear HDR):
  psnr    PSNR in dB after the (v/(1+v))^(1/2.2) tonemap, peak 1        higher is better
  relmse  mean (x - ref)^2 / (ref^2 + 0.01)                            lower is better
  smape   mean |x - ref| / (|x| + |ref| + 0.01)                         lower is better
  ssim    SSIM (Gaussian window, sigma 1.5) of the tonemapped images    higher is better
  flip    mean HDR-FLIP (NVIDIA flip-evaluator)                         lower is better
  lum     mean linear luminance / the reference's (energy kept)          1 is best
With scene directories, each view's render_000 (--render N) is denoised and compared with its
reference.exr, beside the noisy input and OIDN (when pyoidn is installed).
"""

EPILOG_SERVE = """examples:
  mcdenoise serve                                   http://127.0.0.1:8000, docs at /docs
  MCDENOISE_API_KEY=... mcdenoise serve --host 0.0.0.0 --workers 2
  curl -f --data-binary @shot.exr -H 'Content-Type: image/x-exr' http://127.0.0.1:8000/denoise -o shot_dn.exr

Every setting is an environment variable MCDENOISE_<NAME> (see README): MAX_UPLOAD_MB, MAX_PIXELS,
MAX_CONCURRENCY, MAX_QUEUE, API_KEY, NAN_POLICY, MAX_MEMORY_MB, THREADS, BACKEND, ...
"""

EPILOG_MODEL = """examples:
  mcdenoise model                               the shipped default model: network, training, steps
  mcdenoise model lean                          another shipped model by name
  mcdenoise model sq010.pt                      a checkpoint from `mcdenoise fit`
  mcdenoise model sq010.onnx                    an exported model: its metadata
  mcdenoise model sq010.pt --release sq010_r.pt an inference-only float16 copy (no optimizer state)
"""

EPILOG_EXPORT = """examples:
  mcdenoise export -o n2n.onnx                     the shipped model
  mcdenoise export sq010.pt -o sq010.onnx
  mcdenoise export sq010.pt -o sq010_fp16.onnx --half

The ONNX file takes raw linear color, albedo, normal (float32, 1x3xHxW, any H and W) and returns
the denoised linear color; exposure, tonemapping and padding happen inside. See README.
"""


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every subcommand."""
    parser = argparse.ArgumentParser(
        prog="mcdenoise",
        description="Noise2Noise Monte Carlo render denoiser: denoise EXRs, fit models on noisy renders, render training scenes.",
        epilog="Run 'mcdenoise COMMAND --help' for examples.",
    )
    parser.add_argument("--version", action="version", version=f"mcdenoise {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="show details and tracebacks")
    # -v also after the command (`mcdenoise denoise -v ...`); SUPPRESS keeps a leading -v from being reset.
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("-v", "--verbose", action="store_true", default=argparse.SUPPRESS,
                        help="show details and tracebacks")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    _add_parser = sub.add_parser
    sub.add_parser = lambda *a, **k: _add_parser(*a, parents=[common], **k)  # type: ignore[method-assign]

    info = sub.add_parser("info", help="show an EXR's parts, channels and detected color/albedo/normal",
                          epilog=EPILOG_INFO, formatter_class=argparse.RawDescriptionHelpFormatter)
    info.add_argument("files", nargs="+", metavar="FILE.exr")
    info.add_argument("--layer", help="view layer to use (default: the first one with color)")
    info.add_argument("--json", action="store_true", help="print JSON instead of text")
    info.add_argument("--headers-only", action="store_true",
                      help="read headers only (fast); by default pixels are decoded to catch truncated files")
    info.set_defaults(func=cmd_info)

    render = sub.add_parser("render", help="render sample or procedural scenes with Mitsuba 3 into the scene layout",
                            epilog=EPILOG_RENDER, formatter_class=argparse.RawDescriptionHelpFormatter)
    render.add_argument("scenes", nargs="*", metavar="SCENE", help="named scene (see --list) or proc_<seed>")
    render.add_argument("-o", "--output", help="output folder (scene folders are created inside)")
    render.add_argument("--list", action="store_true", help="list the named scenes and exit")
    render.add_argument("--procedural", type=int, default=0, metavar="N", help="also render N procedural scenes")
    render.add_argument("--first-seed", type=int, default=0, metavar="S", help="seed of the first procedural scene")
    render.add_argument("--views", help="comma-separated camera views (default: all)")
    render.add_argument("--spp", type=int, default=4, help="samples per pixel of each noisy render (default 4)")
    render.add_argument("--count", type=int, default=4, help="noisy renders per view, different seeds (default 4)")
    render.add_argument("--reference-spp", type=int, default=0, metavar="SPP",
                        help="also render reference.exr with this many spp (for metrics only; default none)")
    render.add_argument("--size", type=_size, default=(256, 256), metavar="N|WxH", help="image size (default 256)")
    render.add_argument("--filter", choices=("box", "gaussian", "both"), default="box",
                        help="pixel filter; gaussian (Mitsuba's default) splats and correlates noise (default box)")
    render.add_argument("--seed", type=int, default=0, help="offset for every render's seed (default 0)")
    render.add_argument("--pixel-type", choices=("half", "float"), default="half", help="EXR pixel type (default half)")
    render.add_argument("--force", action="store_true", help="re-render files that already exist")
    render.set_defaults(func=cmd_render)

    fitp = sub.add_parser("fit", help="train or fine-tune a Noise2Noise model on pairs of noisy renders",
                          epilog=EPILOG_FIT, formatter_class=argparse.RawDescriptionHelpFormatter)
    fitp.add_argument("scenes", nargs="*", metavar="SCENE_DIR", help="scene directories (see layout below)")
    fitp.add_argument("-o", "--output", required=True, help="model checkpoint to write (and --resume from)")
    fitp.add_argument("--init", default="default",
                      help="'default' or 'lean' (fine-tune a shipped model), 'scratch', or a model file (default: default)")
    fitp.add_argument("--size", default="fast", choices=sorted(PRESETS),
                      help="network size with --init scratch: fast (default), lean (faster inference), paper, "
                           "tiny (smoke tests); *-kpn: the same trunk predicting per-pixel kernels")
    fitp.add_argument("--no-aux", action="store_true",
                      help="train a color-only model (renders need no albedo/normal; lower quality)")
    fitp.add_argument("--steps", type=int, help="optimizer steps")
    fitp.add_argument("--minutes", type=float, help="wall-clock budget in minutes (with or instead of --steps)")
    fitp.add_argument("--batch", type=int, default=4, help="crops per step (default 4, as in the paper)")
    fitp.add_argument("--crop", type=int, default=64, help="crop side in pixels (default 64)")
    fitp.add_argument("--lr", type=float, default=0.0,
                      help="Adam learning rate (default 3e-4 from scratch, 1e-4 when fine-tuning)")
    fitp.add_argument("--rampdown", type=float, default=0.3, help="fraction of the run the lr ramps down over")
    fitp.add_argument("--seed", type=int, default=0, help="seed of the model init and the batch sampling")
    fitp.add_argument("--target", choices=TARGETS, default="noisy",
                      help="noisy: Noise2Noise (default); mean: the mean of the view's other renders (unbiased, "
                           "less noisy with >= 3 renders); clean: train against reference.exr (experiments)")
    fitp.add_argument("--precision", choices=PRECISIONS, default="auto",
                      help="auto (default): bf16 autocast on CUDA, fp32 on CPU; bf16 also pays on CPUs with AMX")
    fitp.add_argument("--val-views", type=int, default=-1,
                      help="views held out for validation (default 1 when there are several)")
    fitp.add_argument("--val", nargs="+", metavar="SCENE_DIR", help="extra scene directories to validate on")
    fitp.add_argument("--val-every", type=int, default=250, help="steps between validations (default 250)")
    fitp.add_argument("--checkpoint-minutes", type=float, default=5.0, help="minutes between checkpoints")
    fitp.add_argument("--cache-mb", type=int, default=4096, help="memory for decoded frames (default 4096)")
    fitp.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    fitp.add_argument("--resume", action="store_true", help="continue the run saved in -o exactly")
    fitp.add_argument("--force", action="store_true", help="start over even if -o exists")
    fitp.set_defaults(func=cmd_fit)

    den = sub.add_parser("denoise", help="denoise EXR renders (color + albedo + normal)",
                         epilog=EPILOG_DENOISE, formatter_class=argparse.RawDescriptionHelpFormatter)
    den.add_argument("inputs", nargs="+", metavar="INPUT",
                     help="EXR files, folders, quoted globs ('f/*.exr') or frame patterns (f.%%04d.exr, f.####.exr)")
    den.add_argument("-o", "--output", help="output file, or folder for several inputs (default: NAME.denoised.exr)")
    _model_options(den, threads=True)
    den.add_argument("--max-memory-mb", type=float, default=DEFAULT_MAX_MEMORY_MB, metavar="MB",
                     help=f"working memory cap; larger frames run in overlapping tiles (default {DEFAULT_MAX_MEMORY_MB})")
    den.add_argument("--skip-existing", action="store_true", help="skip frames whose output already exists")
    den.add_argument("--server", metavar="URL", help="send frames to a running `mcdenoise serve` instead "
                     "(API key from MCDENOISE_API_KEY)")
    den.add_argument("--albedo", help="albedo side file for a single input")
    den.add_argument("--normal", help="normal side file for a single input")
    den.add_argument("--layer", help="view layer to denoise (default: the first one with color)")
    den.add_argument("--keep-aovs", action="store_true", help="also write the albedo and normal used")
    den.set_defaults(func=cmd_denoise)

    exp = sub.add_parser("export", help="export a model to a self-contained ONNX file for render farms",
                         epilog=EPILOG_EXPORT, formatter_class=argparse.RawDescriptionHelpFormatter)
    exp.add_argument("model", nargs="?", help="model checkpoint (default: the shipped model)")
    exp.add_argument("-o", "--output", required=True, help="ONNX file to write")
    exp.add_argument("--half", action="store_true", help="float16 weights and math inside (for GPUs); I/O stays float32")
    exp.add_argument("--opset", type=int, default=18, help="ONNX opset (default 18)")
    exp.set_defaults(func=cmd_export)

    ev = sub.add_parser("eval", help="metrics and comparison images against reference renders",
                        epilog=EPILOG_EVAL, formatter_class=argparse.RawDescriptionHelpFormatter)
    ev.add_argument("inputs", nargs="+", metavar="DENOISED.exr|SCENE_DIR")
    ev.add_argument("--reference", help="reference EXR (with a single denoised file)")
    ev.add_argument("--noisy", help="the noisy input EXR: also scored, and denoised by OIDN for comparison")
    _model_options(ev, device=False)  # used with scene directories
    ev.add_argument("--render", type=int, default=0, help="which noisy render of each view to denoise (default 0)")
    ev.add_argument("--png", metavar="OUT", help="comparison image (a folder for several views)")
    ev.add_argument("--json", action="store_true", help="print JSON instead of the table")
    ev.add_argument("--no-flip", action="store_true", help="skip HDR-FLIP (the slowest metric)")
    ev.add_argument("--no-oidn", action="store_true", help="do not run OIDN alongside even when pyoidn is installed")
    ev.set_defaults(func=cmd_eval)

    srv = sub.add_parser("serve", help="run the HTTP denoising service (POST /denoise)",
                         epilog=EPILOG_SERVE, formatter_class=argparse.RawDescriptionHelpFormatter)
    _model_options(srv, backend=False, device=False)
    srv.add_argument("--host", help="interface (default 127.0.0.1; 0.0.0.0 in containers)")
    srv.add_argument("--port", type=int, help="port (default 8000)")
    srv.add_argument("--workers", type=int, help="worker processes, each with its own model (default 1)")
    srv.add_argument("--device", help="auto (CUDA when available; the default), cpu, cuda or cuda:N")
    srv.set_defaults(func=cmd_serve)

    mod = sub.add_parser("model", help="describe a model file (default: the shipped one)", epilog=EPILOG_MODEL,
                         formatter_class=argparse.RawDescriptionHelpFormatter)
    mod.add_argument("model", nargs="?", help="model file, .pt or .onnx, or a shipped name (default: default)")
    mod.add_argument("--release", metavar="OUT", help="write an inference-only float16 copy to OUT")
    mod.set_defaults(func=cmd_model)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `mcdenoise` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    _setup_logging(args.verbose)
    if args.command is None:
        parser.print_help()
        return EXIT_USER_ERROR
    try:
        return int(args.func(args) or 0)
    except McDenoiseError as exc:
        if args.verbose:
            log.exception("details")
        print(f"mcdenoise: error: {exc}", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        print("mcdenoise: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # output piped into `head` and closed: not an error worth a message
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except OSError as exc:  # disk full, permissions: the user's environment, not a bug
        if args.verbose:
            log.exception("details")
        print(f"mcdenoise: error: {exc}", file=sys.stderr)
        return EXIT_USER_ERROR


if __name__ == "__main__":
    sys.exit(main())
