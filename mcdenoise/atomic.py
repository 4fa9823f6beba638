"""Write files atomically: into a temp file beside the target, then rename, so no reader or crash
ever sees half a file and an interrupted write leaves the previous version in place.

Temp files are named `.NAME.HOST-PID.XXXX.tmp`; a write that was killed leaves one behind, and the
next write of the same NAME on the same host removes those whose process is gone.
"""

from __future__ import annotations

import logging
import os
import socket
import tempfile
from collections.abc import Callable
from pathlib import Path

from mcdenoise.errors import McDenoiseError

log = logging.getLogger(__name__)


def check_output(path: str | os.PathLike) -> Path:
    """Raise a clear error, before any work, when `path` cannot be written (missing folder, a folder)."""
    target = Path(path)
    if target.is_dir():
        raise McDenoiseError(f"{target} is a folder; give a file name")
    if not target.parent.is_dir():
        raise McDenoiseError(f"{target}: output folder {target.parent} does not exist")
    return target


def _host() -> str:
    """This machine's name, safe inside a file name."""
    return "".join(c if c.isalnum() else "_" for c in socket.gethostname())[:32] or "host"


def _pid_alive(pid: int) -> bool:
    """True when a process with this id exists on this machine."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def clean_stale_temps(target: Path) -> list[Path]:
    """Remove temp files of `target` left by killed writers on this host; return what was removed."""
    prefix = f".{target.name}.{_host()}-"
    removed = []
    for tmp in target.parent.glob(f".{target.name}.*.tmp"):
        rest = tmp.name[len(prefix):] if tmp.name.startswith(prefix) else ""
        pid = rest.split(".", 1)[0]
        if pid.isdigit() and int(pid) != os.getpid() and not _pid_alive(int(pid)):
            tmp.unlink(missing_ok=True)
            removed.append(tmp)
    if removed:
        log.info("removed %d stale temp file(s) of %s", len(removed), target)
    return removed


def atomic_write(path: str | os.PathLike, write: Callable[[str], None]) -> Path:
    """Call `write(temp_path)`, then rename the temp file onto `path` (keeping its permissions)."""
    target = check_output(path)
    clean_stale_temps(target)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.{_host()}-{os.getpid()}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    try:
        write(tmp)
        os.chmod(tmp, (target.stat().st_mode & 0o777) if target.exists() else 0o644)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Atomically write `data` to `path`."""
    return atomic_write(path, lambda tmp: Path(tmp).write_bytes(data))
