"""Inference backends: the same exported pipeline run by PyTorch, ONNX Runtime or OpenVINO.

Both take raw linear (1, 3, H, W) float32 color/albedo/normal plus the frame's exposure and return
the denoised (1, 3, H, W) color; tiling and file handling live above them (`mcdenoise.infer`).
ONNX Runtime and OpenVINO are imported lazily and PyTorch only by `TorchBackend`, so a service with
only onnxruntime installed can use this module.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import threading
from abc import ABC, abstractmethod
from pathlib import Path

import numpy as np

from mcdenoise import onnx_contract
from mcdenoise.architecture import PRECISIONS, ModelConfig
from mcdenoise.errors import McDenoiseError, ModelError
from mcdenoise.shipped import SHIPPED, shipped_name, shipped_path

BACKENDS = ("auto", "onnx", "openvino", "torch")
log = logging.getLogger(__name__)


def check_precision(precision: str) -> None:
    """Raise McDenoiseError for a precision not in `PRECISIONS`."""
    if precision not in PRECISIONS:
        raise McDenoiseError(f"unknown precision {precision!r}; use one of {', '.join(PRECISIONS)}")


def cpu_threads() -> int:
    """Cores this process may run on (respects taskset/cgroup CPU sets, unlike os.cpu_count)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # macOS, Windows
        return max(1, os.cpu_count() or 1)


def onnxruntime_available() -> bool:
    """True when the onnxruntime (or onnxruntime-gpu) package can be imported."""
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        return False
    return True


def onnxruntime_has_cuda() -> bool:
    """True when ONNX Runtime is installed with its CUDA execution provider (onnxruntime-gpu)."""
    if not onnxruntime_available():
        return False
    import onnxruntime as ort

    return "CUDAExecutionProvider" in ort.get_available_providers()


@functools.cache
def openvino_native_bf16() -> bool:
    """True when OpenVINO is installed and this CPU computes bfloat16 natively (AMX, AVX-512 BF16): there
    OpenVINO in bfloat16 is the fastest CPU backend (BENCHMARKS.md, stop 45)."""
    try:
        import openvino as ov
    except ImportError:
        return False
    try:
        return "BF16" in ov.Core().get_property("CPU", "OPTIMIZATION_CAPABILITIES")
    except Exception:  # noqa: BLE001 - an OpenVINO without a usable CPU plugin: not the fast path
        log.debug("OpenVINO's CPU plugin did not answer; auto does not pick it", exc_info=True)
        return False


def is_onnx_model(model: str | os.PathLike | bytes | None) -> bool:
    """True for ONNX bytes or an `.onnx` path (not a shipped model's name, which has both files)."""
    return isinstance(model, bytes) or (shipped_name(model) is None and str(model).lower().endswith(".onnx"))


def auto_backend(model: str | os.PathLike | bytes | None, device: str = "auto", precision: str = "auto",
                 release_memory: bool = False) -> str:
    """The backend `auto` picks for a model: PyTorch for `.pt` checkpoints; for the shipped models and `.onnx`
    files, OpenVINO on CPUs that compute bfloat16 natively when it is installed (1.3-1.7x ONNX Runtime's
    speed on whole frames there, -0.01 dB; BENCHMARKS.md stop 45), else ONNX Runtime: always on a GPU, for
    float32 and for `release_memory` (only ONNX Runtime returns its working memory after each run)."""
    name = shipped_name(model)
    is_onnx = is_onnx_model(model)
    if not is_onnx and not (name and shipped_path(name, ".onnx").is_file()):
        return "torch"  # a checkpoint, or a shipped model without its ONNX file
    on_cpu = device == "cpu" or (device == "auto" and not onnxruntime_has_cuda())  # cuda, or a bad name: ONNX Runtime
    if on_cpu and precision != "fp32" and not release_memory and openvino_native_bf16():
        return "openvino"
    if is_onnx or onnxruntime_available():
        return "onnx"
    return "torch"


class Backend(ABC):
    """A loaded model that denoises (1, 3, H, W) buffers."""

    name: str  # one of BACKENDS but "auto"
    device: str  # where it runs, for logs and the service's /v1/model
    model_name: str  # file stem of the model
    model_version: str  # digest of the weights (`mcdenoise.checkpoint.weights_digest`)
    config: ModelConfig

    @abstractmethod
    def run(self, color: np.ndarray, albedo: np.ndarray | None, normal: np.ndarray | None, exposure: float) -> np.ndarray:
        """Denoised linear color (1, 3, H, W) float32 of one tile or frame, given the frame's exposure
        (albedo and normal may be None for a color-only model)."""

    def describe(self) -> dict[str, object]:
        """Name, version, backend and device, for logs, EXR headers and the service."""
        return {"model": self.model_name, "version": self.model_version, "backend": self.name, "device": self.device}


class TorchBackend(Backend):
    """The PyTorch model (checkpoint file) through `mcdenoise.pipeline.DenoisePipeline`. On the CPU the network
    runs channels_last, in bfloat16 where the CPU computes it natively (AMX, AVX-512 BF16): 2.6x float32's
    speed there, the same picture (BENCHMARKS.md stop 37); float32 elsewhere, or with `precision="fp32"`."""

    name = "torch"

    def __init__(self, model: str | os.PathLike | None = None, device: str = "auto", threads: int = 0,
                 precision: str = "auto") -> None:
        try:
            import torch
        except ImportError:
            raise McDenoiseError("--backend torch needs PyTorch: pip install 'mcdenoise[train]'") from None
        from mcdenoise.checkpoint import (cpu_has_native_bf16, load_checkpoint, model_from_checkpoint, pick_device,
                                          run_weights, weights_digest)
        from mcdenoise.pipeline import DenoisePipeline, InferenceNet

        check_precision(precision)

        if threads:
            torch.set_num_threads(threads)
        self._torch = torch
        self._device = pick_device(device)
        ckpt = load_checkpoint(model)
        net = model_from_checkpoint(ckpt)
        self.config = net.cfg
        self.model_name = Path(ckpt["path"]).stem
        self.model_version = weights_digest(run_weights(ckpt)[0])
        self.model_path = ckpt["path"]
        self.device = str(self._device)
        if self._device.type == "cpu":
            if precision == "bf16" and not cpu_has_native_bf16():
                raise McDenoiseError("this CPU has no native bfloat16 (AMX or AVX-512 BF16); use precision fp32 or auto")
            bf16 = precision == "bf16" or (precision == "auto" and cpu_has_native_bf16())
            net = InferenceNet(net.eval(), bf16)
            self.device = f"cpu ({'bf16' if bf16 else 'fp32'})"
        elif precision == "bf16":
            raise McDenoiseError("precision bf16 is for the CPU; CUDA runs the network in float32")
        self.pipeline = DenoisePipeline(net).to(self._device).eval()

    def run(self, color: np.ndarray, albedo: np.ndarray | None, normal: np.ndarray | None, exposure: float) -> np.ndarray:
        """Run the pipeline without autograd."""
        torch = self._torch
        with torch.inference_mode():
            to = lambda a: None if a is None else torch.from_numpy(a).to(self._device)  # noqa: E731
            e = torch.tensor([exposure], dtype=torch.float32, device=self._device)
            return self.pipeline(to(color), to(albedo), to(normal), e).float().cpu().numpy()


def _providers(device: str) -> list[str | tuple[str, dict[str, object]]]:
    """ONNX Runtime execution providers for "auto", "cpu", "cuda" or "cuda:N"."""
    if device == "cpu":
        return ["CPUExecutionProvider"]
    if device == "auto":
        return (["CUDAExecutionProvider"] if onnxruntime_has_cuda() else []) + ["CPUExecutionProvider"]
    if device.startswith("cuda"):
        if not onnxruntime_has_cuda():
            raise McDenoiseError(f"--device {device}: this onnxruntime has no CUDA provider (install onnxruntime-gpu)")
        index = int(device.partition(":")[2] or 0)
        return [("CUDAExecutionProvider", {"device_id": index}), "CPUExecutionProvider"]
    raise McDenoiseError(f"unknown device {device!r}; use auto, cpu, cuda or cuda:N")


def _onnx_file(model: str | os.PathLike | None) -> Path:
    """The .onnx file of a shipped model name or a path; ModelError when there is none."""
    name = shipped_name(model)
    path = shipped_path(name, ".onnx") if name else Path(model)  # type: ignore[arg-type]
    if not path.is_file():
        raise ModelError(f"{path}: no such ONNX model file (shipped models: {', '.join(SHIPPED)})")
    return path


def _read_metadata(backend: Backend, meta: dict[str, str]) -> None:
    """Config, name and version of an mcdenoise ONNX export from its metadata; ModelError for other files."""
    if "model.config" not in meta:
        raise ModelError(f"{backend.model_path}: not an mcdenoise ONNX export (no model.config metadata)")
    backend.config = ModelConfig.from_dict(json.loads(meta["model.config"]))
    backend.model_name = meta.get("model.name", Path(str(backend.model_path)).stem)
    backend.model_version = meta.get("model.version", "?")
    backend.metadata = dict(meta)


def _feeds(config: ModelConfig, color: np.ndarray, albedo: np.ndarray | None, normal: np.ndarray | None,
           exposure: float) -> dict[str, np.ndarray]:
    """The ONNX graph's inputs by name (`onnx_contract`), the frame's exposure overriding the automatic one."""
    feeds = dict(zip(onnx_contract.input_names(config.aux), (color, albedo, normal)))
    feeds[onnx_contract.EXPOSURE] = np.array([exposure], np.float32)
    return feeds


class OnnxBackend(Backend):
    """An exported `.onnx` file (or its bytes) run by ONNX Runtime: CUDA when available, else CPU."""

    name = "onnx"

    def __init__(self, model: str | os.PathLike | bytes | None = None, device: str = "auto", threads: int = 0,
                 release_memory: bool = False) -> None:
        try:
            import onnxruntime as ort
        except ImportError:
            raise McDenoiseError("--backend onnx needs ONNX Runtime: pip install onnxruntime (or onnxruntime-gpu)") from None
        source: str | bytes
        if isinstance(model, bytes):
            source, self.model_path = model, "<exported in memory>"
        else:
            source = self.model_path = str(_onnx_file(model))
        opts = ort.SessionOptions()
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        opts.intra_op_num_threads = threads or cpu_threads()  # one frame at a time: all cores on each op
        opts.inter_op_num_threads = 1
        opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        opts.log_severity_level = 3  # errors only: "initializer exposure appears in graph inputs" is on purpose
        try:
            self.session = ort.InferenceSession(source, sess_options=opts, providers=_providers(device))
        except McDenoiseError:
            raise
        except Exception as exc:  # noqa: BLE001 - ORT raises its own types for unreadable/invalid models
            raise ModelError(f"{self.model_path}: not a loadable ONNX model ({str(exc).splitlines()[0][:200]})") from exc
        _read_metadata(self, self.session.get_modelmeta().custom_metadata_map)
        self.device = self.session.get_providers()[0]
        # release_memory: give the memory arena's growth back after every run, so a service returns to
        # its baseline instead of keeping the peak of its largest frame (issue 13: 1.8 GB after one 4K
        # request). It costs 15-40% per run (re-allocation), so the CLI leaves it off.
        self._run_options: ort.RunOptions | None = None
        if release_memory:
            self._run_options = ort.RunOptions()
            shrink = "cpu:0;gpu:0" if self.device == "CUDAExecutionProvider" else "cpu:0"
            self._run_options.add_run_config_entry("memory.enable_memory_arena_shrinkage", shrink)

    def run(self, color: np.ndarray, albedo: np.ndarray | None, normal: np.ndarray | None, exposure: float) -> np.ndarray:
        """One session run; the frame's exposure overrides the graph's automatic one."""
        feeds = _feeds(self.config, color, albedo, normal, exposure)
        return self.session.run([onnx_contract.OUTPUT], feeds, self._run_options)[0]


class OpenVinoBackend(Backend):
    """An exported `.onnx` file run by OpenVINO on the CPU: the same graph as `OnnxBackend`, in bfloat16
    where the CPU computes it natively (AMX, AVX-512 BF16), which is about 1.7x faster there; float32
    elsewhere, or with `precision="fp32"`."""

    name = "openvino"

    def __init__(self, model: str | os.PathLike | bytes | None = None, device: str = "auto", threads: int = 0,
                 precision: str = "auto") -> None:
        try:
            import openvino as ov
            import openvino.opset13 as ops
        except ImportError:
            raise McDenoiseError("--backend openvino needs OpenVINO: pip install 'mcdenoise[openvino]'") from None
        if device not in ("auto", "cpu"):
            raise McDenoiseError(f"--backend openvino runs on the CPU; --device {device} is for --backend onnx")
        check_precision(precision)
        core = ov.Core()
        self.model_path = "<exported in memory>" if isinstance(model, bytes) else str(_onnx_file(model))
        try:
            graph = core.read_model(model if isinstance(model, bytes) else self.model_path)
        except Exception as exc:  # noqa: BLE001 - OpenVINO raises RuntimeError for unreadable models
            raise ModelError(f"{self.model_path}: not a loadable ONNX model ({str(exc).splitlines()[0][:200]})") from exc
        framework = graph.get_rt_info()["framework"] if graph.has_rt_info("framework") else {}  # the ONNX metadata
        _read_metadata(self, {k: v.astype(str) for k, v in framework.items()})
        # OpenVINO folds the overridable `exposure` initializer into a constant; make it an input again,
        # so that the tiles of one frame share the frame's exposure as with ONNX Runtime.
        for op in graph.get_ops():
            if op.get_type_name() == "Constant" and op.get_friendly_name() == onnx_contract.EXPOSURE:
                param = ops.parameter([1], ov.Type.f32, name=onnx_contract.EXPOSURE)
                param.output(0).get_tensor().set_names({onnx_contract.EXPOSURE})
                for target in list(op.output(0).get_target_inputs()):
                    target.replace_source_output(param.output(0))
                graph.add_parameters([param])
                graph.validate_nodes_and_infer_types()
                break
        else:
            raise ModelError(f"{self.model_path}: no {onnx_contract.EXPOSURE} initializer; re-export it with mcdenoise export")
        native_bf16 = openvino_native_bf16()
        if precision == "bf16" and not native_bf16:
            raise McDenoiseError("this CPU has no native bfloat16 (AMX or AVX-512 BF16); use precision fp32 or auto")
        bf16 = precision == "bf16" or (precision == "auto" and native_bf16)
        config = {"INFERENCE_PRECISION_HINT": "bf16" if bf16 else "f32",
                  "INFERENCE_NUM_THREADS": threads or cpu_threads(), "PERFORMANCE_HINT": "LATENCY"}
        try:
            self.compiled = core.compile_model(graph, "CPU", config)
        except Exception as exc:  # noqa: BLE001 - OpenVINO raises RuntimeError for graphs it cannot compile
            raise ModelError(f"{self.model_path}: OpenVINO cannot compile it ({str(exc).splitlines()[0][:200]})") from exc
        # An infer request is not thread-safe and keeps its last input size's buffers: a pool that holds as many
        # as have run at once (the service's max_concurrency), not one per worker thread (anyio has up to 40).
        self._idle_requests: list = []
        self._pool_lock = threading.Lock()
        self.requests_made = 0
        self.device = f"CPU ({'bf16' if bf16 else 'fp32'})"

    def run(self, color: np.ndarray, albedo: np.ndarray | None, normal: np.ndarray | None, exposure: float) -> np.ndarray:
        """One inference request; the frame's exposure overrides the graph's automatic one."""
        feeds = _feeds(self.config, color, albedo, normal, exposure)
        with self._pool_lock:
            request = self._idle_requests.pop() if self._idle_requests else None
            if request is None:
                request = self.compiled.create_infer_request()
                self.requests_made += 1
        try:
            result = request.infer(feeds)
            return np.array(result[self.compiled.output(onnx_contract.OUTPUT)], dtype=np.float32)  # a copy: the request reuses its buffer
        finally:
            with self._pool_lock:
                self._idle_requests.append(request)


def open_backend(model: str | os.PathLike | bytes | None = None, backend: str = "auto", device: str = "auto",
                 threads: int = 0, release_memory: bool = False, precision: str = "auto") -> Backend:
    """Load a model with the right backend.

    auto: as `auto_backend` (OpenVINO on CPUs with native bfloat16 when installed, else ONNX Runtime for the
    shipped models and `.onnx` files; PyTorch for `.pt` checkpoints). onnx/openvino/torch force one
    (an `.pt` for onnx or openvino must be exported first).
    """
    if backend not in BACKENDS:
        raise McDenoiseError(f"unknown backend {backend!r}; use one of {', '.join(BACKENDS)}")
    check_precision(precision)
    name = shipped_name(model)  # the shipped models come as both .pt and .onnx
    is_onnx = is_onnx_model(model)
    if backend == "auto":
        backend = auto_backend(model, device, precision, release_memory)
    if backend == "torch":
        if is_onnx:
            raise McDenoiseError("--backend torch needs a PyTorch checkpoint (.pt), not an ONNX file")
        return TorchBackend(model, device=device, threads=threads, precision=precision)  # type: ignore[arg-type]
    if not is_onnx and not name:
        raise McDenoiseError(f"{model}: --backend {backend} needs an .onnx file; make one with: mcdenoise export {model} -o MODEL.onnx")
    if backend == "openvino":
        return OpenVinoBackend(model, device=device, threads=threads, precision=precision)
    if precision == "bf16":  # ONNX Runtime's CPU and CUDA providers run the graph in float32
        raise McDenoiseError("precision bf16 is for the openvino and torch backends; ONNX Runtime runs fp32")
    return OnnxBackend(model, device=device, threads=threads, release_memory=release_memory)
