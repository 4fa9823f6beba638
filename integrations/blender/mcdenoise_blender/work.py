"""Work that must not run on Blender's UI thread: denoising a saved EXR, `mcdenoise fit` processes.

No `bpy` here. Operators and render handlers hand jobs to these classes and poll them from the main
thread (modal timers); in background mode (`blender -b`, tests) they simply wait.
"""

from __future__ import annotations

import os
import queue
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .client import Service, ServiceError

_LOCAL_MODELS: dict[str, object] = {}  # model -> loaded mcdenoise Denoiser (local mode keeps them loaded)


@dataclass(frozen=True)
class Settings:
    """What a denoise needs from the preferences and the scene, copied so worker threads never read bpy."""

    mode: str  # "SERVICE" or "LOCAL"
    url: str
    api_key: str
    timeout: float
    model: str  # a service model name, or in local mode "default"/"lean"/a path to .onnx; "" = default
    passes: int = 1  # oriented denoises averaged (mcdenoise's --passes): 8 for final frames


def write_atomic(path: Path, data: bytes) -> None:
    """Write `data` to `path` through a temp file and a rename: readers never see half a file."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def denoise_exr(settings: Settings, source: Path, output: Path) -> None:
    """Denoise the multilayer EXR `source` into `output`, through the service or mcdenoise in this Python."""
    if settings.mode == "LOCAL":
        _denoise_local(settings.model, source, output, settings.passes)
        return
    service = Service(settings.url, settings.api_key, settings.timeout)
    write_atomic(output, service.denoise(source.read_bytes(), settings.model, settings.passes))


def _denoise_local(model: str, source: Path, output: Path, passes: int = 1) -> None:
    """mcdenoise's own inference path (the same one as the CLI and the service)."""
    try:
        from mcdenoise.infer import Denoiser, denoise_file
        from mcdenoise.errors import McDenoiseError
    except ImportError:
        raise ServiceError("local mode needs mcdenoise in Blender's Python (pip install mcdenoise[serve] into it), "
                           "or switch the add-on preferences to a service") from None
    key = model.strip() or "default"
    try:
        if key not in _LOCAL_MODELS:
            _LOCAL_MODELS.clear()  # one loaded model at a time
            _LOCAL_MODELS[key] = Denoiser(key)
        denoise_file(_LOCAL_MODELS[key], source, output, passes=passes)
    except McDenoiseError as exc:
        raise ServiceError(str(exc)) from None


class Job:
    """One call on a daemon thread; `done`, `error` (a message) and `result` are read by the main thread."""

    def __init__(self, target: Callable[[], object]) -> None:
        self.done = False
        self.error = ""
        self.result: object = None
        self._target = target
        self._thread = threading.Thread(target=self._run, daemon=True, name="mcdenoise-job")
        self._thread.start()

    def _run(self) -> None:
        try:
            self.result = self._target()
        except ServiceError as exc:
            self.error = str(exc)
        except Exception as exc:  # noqa: BLE001 - shown to the artist, never lost on a thread
            self.error = f"{type(exc).__name__}: {exc}"
        finally:
            self.done = True

    def wait(self, timeout: float | None = None) -> bool:
        """Block until done (background mode); True when it finished."""
        self._thread.join(timeout)
        return self.done


class FrameQueue:
    """Denoises frames written during an animation render, one at a time, in submission order."""

    def __init__(self) -> None:
        self._queue: queue.Queue[tuple[Settings, Path, Path, bool] | None] = queue.Queue()
        self.messages: list[str] = []  # finished frames and errors, newest last
        self.pending = 0
        self._thread = threading.Thread(target=self._run, daemon=True, name="mcdenoise-frames")
        self._thread.start()

    def submit(self, settings: Settings, source: Path, output: Path, remove_source: bool) -> None:
        """Queue one frame; `remove_source` deletes a temporary input afterwards."""
        self.pending += 1
        self._queue.put((settings, source, output, remove_source))

    def _run(self) -> None:
        while (item := self._queue.get()) is not None:
            settings, source, output, remove_source = item
            try:
                denoise_exr(settings, source, output)
                self.messages.append(f"denoised {output}")
            except ServiceError as exc:
                self.messages.append(f"ERROR {output.name}: {exc}")
            except Exception as exc:  # noqa: BLE001 - a bad frame must not stop the queue
                self.messages.append(f"ERROR {output.name}: {type(exc).__name__}: {exc}")
            finally:
                if remove_source:
                    source.unlink(missing_ok=True)
                self.pending -= 1
                self._queue.task_done()

    def join(self) -> None:
        """Wait until every queued frame is done."""
        self._queue.join()

    def stop(self) -> None:
        """End the worker thread (after the frames already queued)."""
        self._queue.put(None)


class FitProcess:
    """`mcdenoise fit` then `mcdenoise export` as child processes; `status` is the last line they printed."""

    def __init__(self, command: str, scene_dir: Path, checkpoint: Path, minutes: float,
                 after: Callable[[Path], None] | None = None) -> None:
        exe = shutil.which(command) or (command if Path(command).is_file() else None)
        if exe is None:
            raise ServiceError(f"cannot find the mcdenoise command {command!r}; install mcdenoise[train] or set its "
                               "path in the add-on preferences")
        self.onnx = checkpoint.with_suffix(".onnx")
        self.status = "starting"
        self.error = ""
        self.done = False
        self._steps = [[exe, "fit", str(scene_dir), "-o", str(checkpoint), "--minutes", f"{minutes:g}", "--force"],
                       [exe, "export", str(checkpoint), "-o", str(self.onnx)]]
        self._thread = threading.Thread(target=self._run, daemon=True, name="mcdenoise-fit")
        self._process: subprocess.Popen[str] | None = None
        self._cancelled = False
        self._after = after  # e.g. upload the exported model to the service
        self._thread.start()

    def _run(self) -> None:
        try:
            for step in self._steps:
                self._process = subprocess.Popen(step, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                                 errors="replace")
                lines: list[str] = []
                assert self._process.stdout is not None
                for chunk in iter(lambda: self._process.stdout.readline(), ""):  # type: ignore[union-attr]
                    for line in chunk.replace("\r", "\n").splitlines():
                        if line.strip():
                            lines = (lines + [line.strip()])[-20:]
                            self.status = line.strip()[-120:]
                if self._process.wait() != 0:
                    error = next((ln for ln in reversed(lines) if "error" in ln.lower()), lines[-1] if lines else "")
                    self.error = "cancelled" if self._cancelled else f"{step[1]} failed: {error}"
                    return
            self.status = f"exported {self.onnx.name}"
            if self._after:
                self._after(self.onnx)
        except ServiceError as exc:
            self.error = f"the model is in {self.onnx}, but: {exc}"
        except OSError as exc:
            self.error = f"could not run mcdenoise: {exc}"
        finally:
            self.done = True

    def cancel(self) -> None:
        """Stop the child (fit checkpoints on SIGTERM)."""
        self._cancelled = True
        if self._process and self._process.poll() is None:
            self._process.terminate()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until done (background mode)."""
        self._thread.join(timeout)
        return self.done
