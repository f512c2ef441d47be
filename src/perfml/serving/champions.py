"""The champions a service holds: loaded once, swapped when the `champion` alias moves, watched by a thread.

`ServingModels.load()` re-resolves the alias in the home's registry and swaps in a new version
only when the alias moved; a version that fails to load (a corrupted artifact: its checksum is
verified before LightGBM sees it) is reported with a clear message (no file paths), the previous
version (if any) keeps serving, and the same broken version is not retried until the alias moves
again or an explicit reload asks - never a crash loop. A model with no champion at all is
`degraded`: its pipeline's baseline rule answers (`ServingModels.scorer` returns None;
`perfml.services.scoring` does the rest) and the status says why.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime

from perfml.errors import PerfmlError
from perfml.home import Home
from perfml.modeling import registry
from perfml.modeling.model import TrainedModel
from perfml.pipelines import PIPELINE_NAMES, get_pipeline
from perfml.serving.fast import ServedModel, check_loadable, served_copy
from perfml.store import utcnow

log = logging.getLogger("perfml.serving")


class ModelUnavailable(PerfmlError):
    """A known model has no loaded champion (not trained yet, or its artifact failed to load)."""


class UnknownModel(PerfmlError):
    """A name that is not one of the served pipelines."""


@dataclass
class ModelState:
    """What the service knows about one model: the served version, the last load error, and - when
    there is no champion - why, while the pipeline's baseline rule answers instead (`degraded`)."""

    name: str
    served: ServedModel | None = None
    champion: str | None = None
    error: str | None = None
    failed_version: str | None = None
    checked_at: datetime | None = None
    degraded: str | None = None

    @property
    def source(self) -> str | None:
        """Who answers scoring requests: "model", "baseline" (no champion) or None (loading or broken)."""
        if self.served is not None:
            return "model"
        return "baseline" if self.degraded is not None else None

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "loaded": self.served is not None,
            "version": self.served.version if self.served else None,
            "champion": self.champion,
            "kind": self.served.kind if self.served else None,
            "threshold": self.served.threshold if self.served else None,
            "loaded_at": self.served.loaded_at.isoformat() if self.served else None,
            "error": self.error,
            "checked_at": self.checked_at.isoformat() if self.checked_at else None,
            "source": self.source,
            "degraded": self.degraded,
        }


_ABSOLUTE_PATH = re.compile(r"(?:[A-Za-z]:)?(?:/[^/\s'\"(),;]+){2,}/?")


def without_paths(text: str) -> str:
    """`text` with absolute file paths cut to their last component (a status must not reveal the layout)."""
    return _ABSOLUTE_PATH.sub(lambda m: ".../" + m.group(0).rstrip("/").rsplit("/", 1)[-1], text)


ChangeHook = Callable[[str, str | None, str, str], None]  # (name, old version, new version, by)


class ServingModels:
    """The champions of `names` in the registry of `home`, loaded once, swapped when the alias moves (thread-safe)."""

    def __init__(
        self,
        names: Iterable[str] | None = None,
        *,
        home: Home,
        on_change: ChangeHook | None = None,
        loader: Callable[[str, str], TrainedModel] | None = None,
    ):
        self.names: tuple[str, ...] = tuple(names or PIPELINE_NAMES)
        self.on_change = on_change
        self.home = home
        self._loader = loader
        self._states = {n: ModelState(n) for n in self.names}
        self._load_lock = threading.Lock()
        self._attempted = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- loading ---------------------------------------------------------------------------------
    def _load_one(self, name: str, version: str) -> TrainedModel:
        if self._loader is not None:
            return self._loader(name, version)
        return registry.load_model(name, version, home=self.home)

    def load(self, *, by: str = "system", force: bool = False, retry_failed: bool = False) -> dict[str, dict]:
        """Resolve every champion and load the versions that moved; return the status.

        `retry_failed` also retries a version that failed before; `force` reloads every version.
        """
        with self._load_lock:
            for name in self.names:
                self._refresh(name, by=by, force=force, retry_failed=retry_failed or force)
            self._attempted.set()
        return self.status()

    def _refresh(self, name: str, *, by: str, force: bool, retry_failed: bool = False) -> None:
        state = self._states[name]
        state.checked_at = utcnow()
        try:
            version = registry.champion_version(name, home=self.home)
        except Exception as exc:  # registry unreachable: keep serving what we have
            state.error = without_paths(f"model {name!r}: the registry cannot be read ({type(exc).__name__}: {exc})")
            log.error(state.error)
            return
        state.champion = version
        if version is None:
            if state.served is None:  # nothing earned champion: the baseline rule answers, and we say why
                state.error = None
                state.degraded = self._why_no_champion(name)
            return
        state.degraded = None
        if state.served is not None and state.served.version == version and not force:
            state.error = None
            return
        if version == state.failed_version and not retry_failed:
            return  # already reported; retried when the alias moves or on an explicit reload
        try:
            model = self._load_one(name, version)
            check_loadable(model)
        except Exception as exc:
            detail = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else type(exc).__name__
            state.failed_version = version
            keep = f"; still serving version {state.served.version}" if state.served else ""
            state.error = without_paths(
                f"model {name!r} version {version} failed to load ({type(exc).__name__}: {detail}); "
                f"its artifact may be corrupted - restore it and reload, retrain, or move the champion alias{keep}"
            )
            log.error(state.error)
            return
        old = state.served.version if state.served else None
        state.served = served_copy(model, name)
        state.error, state.failed_version = None, None
        if old != version and self.on_change is not None:
            try:
                self.on_change(name, old, version, by)
            except Exception:  # an audit hiccup must not unload a model
                log.exception("model change hook failed")

    def _why_no_champion(self, name: str) -> str:
        try:
            why = registry.why_no_champion(name, home=self.home)
        except Exception as exc:  # the reason is a courtesy; the registry answered the alias already
            why = f"no champion ({type(exc).__name__})"
        try:
            rule = get_pipeline(name, self.home.settings).baseline_description
        except Exception:
            rule = ""
        return without_paths(f"no champion ({why}); scores come from the baseline rule" + (f": {rule}" if rule else ""))

    # -- background start and watching -------------------------------------------------------
    def start(self, *, background: bool = True, watch_interval: float | None = 30.0) -> ServingModels:
        """Load now (or in a thread) and, with `watch_interval`, re-check the alias periodically."""
        if not background:
            self.load()
        if self._thread is None and (background or watch_interval):
            self._stop.clear()
            self._thread = threading.Thread(
                target=self._run, args=(background, watch_interval), name="perfml-models", daemon=True
            )
            self._thread.start()
        return self

    def _run(self, load_first: bool, interval: float | None) -> None:
        if load_first:
            try:
                self.load()
            except Exception:
                log.exception("loading models failed")
                self._attempted.set()
        while interval and not self._stop.wait(interval):
            try:
                self.load()
            except Exception:
                log.exception("checking the champion aliases failed")

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the first load attempt finished; return whether every model is loaded."""
        self._attempted.wait(timeout)
        return self.ready

    # -- reading ---------------------------------------------------------------------------------
    @property
    def ready(self) -> bool:
        """Every model answers: its champion is loaded, or it has none and its baseline rule serves.
        A champion that fails to load (or models still loading) is not ready."""
        return self._attempted.is_set() and all(s.source is not None for s in self._states.values())

    @property
    def degraded(self) -> dict[str, str]:
        """name -> why, for every model served by its baseline rule."""
        return {n: s.degraded for n, s in self._states.items() if s.served is None and s.degraded is not None}

    def status(self) -> dict[str, dict]:
        return {n: s.to_dict() for n, s in self._states.items()}

    def get(self, name: str) -> ServedModel:
        """The served champion; `UnknownModel` for a name not served, `ModelUnavailable` if not loaded."""
        state = self._states.get(name)
        if state is None:
            raise UnknownModel(f"unknown model {name!r}; served models: {', '.join(self.names)}")
        if state.served is None:
            why = state.error or "models are still loading"
            raise ModelUnavailable(f"model {name!r} is not available: {why}")
        return state.served

    def scorer(self, name: str) -> ServedModel | None:
        """The served champion, or None when the model has none and its baseline rule answers;
        `UnknownModel` / `ModelUnavailable` (loading, or a champion that failed to load) otherwise."""
        state = self._states.get(name)
        if state is not None and state.served is None and state.degraded is not None:
            return None
        return self.get(name)

    def loaded(self) -> dict[str, TrainedModel]:
        """name -> TrainedModel of every loaded champion."""
        return {n: s.served.model for n, s in self._states.items() if s.served is not None}


__all__ = ["ChangeHook", "ModelState", "ModelUnavailable", "ServingModels", "UnknownModel", "without_paths"]
