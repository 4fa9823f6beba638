"""Keep what native libraries (OpenEXR's C code, Blender) print on fds 1/2 out of the CLI's output."""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import tempfile
from collections.abc import Iterator

# When True (the CLI sets it), lines that native code prints while we call it are captured and
# logged at debug level instead of reaching the terminal between our own lines. Off by default:
# it redirects the process-wide stdout/stderr descriptors for the duration of the call.
CAPTURE = False


@contextlib.contextmanager
def output_captured(what: str, log: logging.Logger) -> Iterator[None]:
    """Redirect fds 1 and 2 into a temp file for the duration (when CAPTURE), then log it on `log`."""
    if not CAPTURE:
        yield
        return
    sys.stdout.flush()
    sys.stderr.flush()
    saved = [os.dup(1), os.dup(2)]
    with tempfile.TemporaryFile() as sink:
        os.dup2(sink.fileno(), 1)
        os.dup2(sink.fileno(), 2)
        try:
            yield
        finally:
            for fd, copy in zip((1, 2), saved):
                os.dup2(copy, fd)
                os.close(copy)
            sink.seek(0)
            text = sink.read().decode(errors="replace").strip()
            if text:
                log.debug("%s said:\n%s", what, text)
