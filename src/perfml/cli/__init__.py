"""The `perfml` command line: a thin shell over the Python API.

Each command group lives in its own module and registers itself on `app`; exit codes are
0 ok, 1 data/plan/model error (a PerfmlError), 2 usage error (Typer/Click's own).

Commands import the services and the domain inside their functions, on purpose: every invocation
imports every command module, and with the services at module top `perfml --help` or `perfml
validate` would load LightGBM, scikit-learn, MLflow and FastAPI first (measured here: 0.9 s to import
`perfml.cli` as it is, 2.1 s with the services and the app imported at the top).
"""

from __future__ import annotations

import importlib
import pkgutil

from perfml.cli._app import app

# Every sibling module registers its commands on import.
for _mod in pkgutil.iter_modules(__path__):
    if not _mod.name.startswith("_"):
        importlib.import_module(f"{__name__}.{_mod.name}")

__all__ = ["app"]
