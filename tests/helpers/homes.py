"""Copying SQLite databases, the way tests give each writer its own home cheaply."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path


def copy_sqlite(source: Path | str, target: Path | str) -> Path:
    """A consistent copy of the SQLite database `source` at `target` (also of a live WAL database); `target`."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    with closing(sqlite3.connect(source)) as src, closing(sqlite3.connect(target)) as dst:
        src.backup(dst)
    return target
