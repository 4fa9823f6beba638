"""Write files atomically: into a temp file beside the target, then rename, so no reader or crash
ever sees half a file and an interrupted write leaves the previous version in place."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path


def atomic_write(path: str | os.PathLike, write: Callable[[str], None]) -> Path:
    """Call `write(temp_path)`, then rename the temp file onto `path` (keeping its permissions)."""
    target = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
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
