"""Files written whole or not at all, readable by their owner only (payouts and statements are personal data)."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def staged_file(path: str | Path) -> Iterator[Path]:
    """A temporary file beside `path` to write into: renamed onto `path` when the block ends, removed when it
    fails, so a reader never sees half a file. It is 0600 whatever the umask, and the rename keeps that mode
    even over an existing, more open file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    os.fchmod(fd, 0o600)  # mkstemp's documented mode, stated here so no later change loosens it
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
