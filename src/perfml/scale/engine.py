"""The Dask engine: the pandas nodes over buckets of a partitioned company, LightGBM's Dask estimators.

What runs where:
- decline, high-performer: one task per bucket (`layout.py`): a `Slice` holds the bucket's rows of
  the bucketed tables (whole teams), its share of the whole tables (employees, ownership changes,
  surveys...: cut for every bucket by one task, `shares.py`) and the company's month spans, and the
  pipeline's own `build_features` runs on it; the buckets' frames are the Dask partitions. The
  high-performer slice also holds an employee of each HR attribute level (its one-hot levels are
  company-wide) and keeps the bucket's units.
- transfer-anomaly: one task per group of transfers (those to some buckets' employees), fed the rows
  each group reads by one task per bucket (`transfers.py`); with declared hand-over flows (each
  transfer compared with all of its flow), one task on the whole company.
- training (`training_frame`): features are collected on the client (one row per unit, far smaller
  than the records) with their labels, computed in the same bucket tasks (high-performer: the
  attainment there, its company-wide rank within the role on the client; transfer-anomaly: from the
  audit labels, a small table). The client holds the company's `outline.Outline`, not its records;
  split, baseline and gate are `perfml.pipelines.run`'s; each booster is boosted by
  `lightgbm.DaskLGBMClassifier` (soft targets: `DaskLGBMRegressor`, cross-entropy) on the workers.
- scoring: `run.score_frame` on each partition of the scoring frame (the baseline rule, which ranks
  within a role company-wide, on the collected frame).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

import dask
import dask.dataframe as dd
import lightgbm as lgb
import numpy as np
import pandas as pd
from distributed import Client, LocalCluster

from perfml import catalog
from perfml.dataset import Dataset
from perfml.errors import PerfmlError
from perfml.metrics import ACTIVITY_TABLES
from perfml.modeling.model import TrainedModel, to_matrix
from perfml.modeling.spec import PipelineSpec
from perfml.modeling.train import use_trainer
from perfml.pipelines.high_performer.pipeline import HighPerformer
from perfml.pipelines.run import blind_baseline, score_frame
from perfml.pipelines.transfer_anomaly.pipeline import TransferAnomaly
from perfml.scale import shares, transfers
from perfml.scale.layout import employee_buckets, read_layout, read_table
from perfml.scale.outline import Outline, load_outline
from perfml.scale.slices import Slice, month_firsts
from perfml.schema import TABLES

SPAN_COLUMNS: tuple[tuple[str, str], ...] = (
    *ACTIVITY_TABLES.items(),
    ("targets", "period"),
    ("metrics", "period"),
)  # the bucketed columns the metrics layer reads month spans of
BUCKET_LOCAL = ("decline", "high-performer")  # pipelines whose units need only their bucket (and whole tables)
LEVELS = ("high-performer",)  # bucket slices that hold the company's attr_ levels (`shares.py`)
# Each worker's share of a training side: LightGBM's data-parallel learner bins features and bags rows
# per worker, so a few hundred rows per worker give other trees than one process (a 44-unit
# high-performer side split in two learnt nothing); a smaller side boosts on one worker, as in pandas.
MIN_ROWS_PER_WORKER = 5000
LABEL = "_label"  # the column of a bucket's frame carrying its labels (high-performer: the attainment)


def bucket_spans(root: Path, bucket: int) -> dict[tuple[str, str], pd.Series]:
    """Per span column, month index -> earliest timestamp of the bucket's records in that month."""
    return {
        (table, col): month_firsts(read_table(root, table, [bucket], columns=[col])[col]) for table, col in SPAN_COLUMNS
    }


def merge_spans(parts: list[dict[tuple[str, str], pd.Series]]) -> dict[tuple[str, str], pd.Series]:
    """The company's spans from the buckets' (earliest per month)."""
    return {
        key: pd.concat([p[key] for p in parts]).groupby(level=0).min().sort_index() if parts else pd.Series()
        for key in SPAN_COLUMNS
    }


def load_slice(root: Path, buckets: list[int] | None, spans, untracked, shared: dict | None = None) -> Slice:
    """The `Slice` of `buckets` (None: the whole company) of a partitioned folder: their rows of the
    bucketed tables, `shared` tables as given (a bucket's share, `shares.cut`) and every other table whole."""
    shared = shared or {}
    tables = {
        name: shared[name] if name in shared else read_table(root, name, buckets)
        for name in TABLES
        if (Path(root) / name).is_dir()
    }
    return Slice(tables, spans, source=f"{root}#{buckets}", untracked=untracked)


def load_dataset(root: Path) -> Dataset:
    """The whole company of a partitioned folder as one pandas `Dataset` (what the runner's labels and
    evidence gate read)."""
    layout = read_layout(root)
    tables = {name: read_table(root, name) for name in TABLES if (Path(root) / name).is_dir()}
    return Dataset(tables, source=str(root), untracked=layout.get("untracked", []))


def _bucket_features(
    spec: PipelineSpec,
    root: Path,
    bucket: int,
    share: dict[str, pd.DataFrame],
    spans,
    untracked,
    as_of: pd.Timestamp | None,
    labels: bool = False,
) -> pd.DataFrame:
    part = load_slice(root, [bucket], spans, untracked, share)
    mine = employee_buckets(part.employees, read_layout(root)["buckets"])
    if not (mine == bucket).any():
        return pd.DataFrame()
    frame = spec.build_features(part, as_of=as_of)
    if labels:  # a unit's label reads its own team's records, all in this bucket
        local = spec.attainment(part, frame) if isinstance(spec, HighPerformer) else spec.build_labels(part, frame)
        frame[LABEL] = local.to_numpy(dtype="float64")
    if spec.name in LEVELS:  # keep the bucket's own units (not the level keepers')
        frame = frame[frame["employee_id"].astype("string").map(mine).eq(bucket).to_numpy(dtype=bool)]
    return frame.reset_index(drop=True)


def _pick(pieces: dict, group: int):
    return pieces[group]


def _score_part(
    spec: PipelineSpec, part: pd.DataFrame, model: TrainedModel, top_k: int, lang: catalog.Lang
) -> pd.DataFrame:
    return score_frame(spec, part.reset_index(drop=True), model, top_k=top_k, lang=lang)


class DaskEngine:
    """`perfml.pipelines.run.Engine` on a Dask cluster (`client`) over a partitioned folder (`root`)."""

    def __init__(
        self,
        client: Client,
        root: Path,
        *,
        min_rows_per_worker: int = MIN_ROWS_PER_WORKER,
        transfer_groups: int | None = None,
    ):
        """`transfer_groups`: groups the transfer features are built in (default `transfers.group_count`)."""
        self.client = client
        self.min_rows_per_worker = min_rows_per_worker
        self.root = Path(root)
        self.layout = read_layout(self.root)
        self.transfer_groups = transfer_groups or transfers.group_count(self.layout["buckets"])
        self._spans: dict | None = None
        self._outline: Outline | None = None

    @property
    def spans(self) -> dict[tuple[str, str], pd.Series]:
        """The company's month spans (computed once, one task per bucket and one for the cut whole tables)."""
        if self._spans is None:
            parts = [dask.delayed(bucket_spans)(self.root, k) for k in range(self.layout["buckets"])]
            whole = self.client.submit(shares.whole_spans, self.root, pure=False)
            self._spans = {**merge_spans(list(self.client.gather(self.client.compute(parts)))), **whole.result()}
        return self._spans

    def features(self, spec: PipelineSpec, as_of: pd.Timestamp | None = None) -> dd.DataFrame:
        """The feature frame of `spec` as a Dask DataFrame (one partition per bucket or group with units)."""
        return self._frame(self._parts(spec, as_of))

    def _parts(self, spec: PipelineSpec, as_of: pd.Timestamp | None, labels: bool = False) -> list:
        """Futures of the feature frames' pieces (see the module doc); with `labels`, bucket pieces carry LABEL."""
        untracked = self.layout.get("untracked", [])
        if spec.name in BUCKET_LOCAL:
            spans = self.client.scatter(self.spans, broadcast=True)
            n = self.layout["buckets"]
            cut = self.client.submit(shares.cut, self.root, n, levels=spec.name in LEVELS, pure=False)
            return [
                self.client.submit(
                    _bucket_features,
                    spec,
                    self.root,
                    k,
                    self.client.submit(_pick, cut, k, pure=False),
                    spans,
                    untracked,
                    as_of,
                    labels,
                    pure=False,
                )
                for k in range(n)
            ]
        if isinstance(spec, TransferAnomaly) and not spec.policy.flows:
            return self._transfer_parts(spec, as_of)
        whole = dask.delayed(load_slice)(self.root, None, {}, untracked)
        return [self.client.compute(dask.delayed(spec.build_features)(whole, as_of=as_of))]

    def _transfer_parts(self, spec: TransferAnomaly, as_of: pd.Timestamp | None) -> list:
        """One future per group of transfers (`transfers.py`)."""
        the_plan = transfers.plan(self.root, spec.p.max_window_days, self.transfer_groups)
        groups = sorted(the_plan.units)
        shared = self.client.scatter(the_plan, broadcast=True)
        per_bucket = [
            self.client.submit(transfers.bucket_pieces, self.root, k, shared, groups, pure=False)
            for k in range(self.layout["buckets"])
        ]
        dates = self.outline().date_range()
        return [
            self.client.submit(
                transfers.group_features,
                spec,
                self.root,
                g,
                the_plan.groups,
                the_plan.units[g],
                [self.client.submit(_pick, p, g, pure=False) for p in per_bucket],
                dates,
                as_of,
                pure=False,
            )
            for g in groups
        ]

    def _frame(self, parts: list) -> dd.DataFrame:
        sizes = self.client.gather([self.client.submit(len, p) for p in parts])
        parts = [p for p, n in zip(parts, sizes, strict=True) if n] or parts[:1]
        meta = self.client.submit(lambda df: df.head(0), parts[0]).result()
        # the nodes' own dtypes, not Dask's pyarrow strings: the frame must equal the pandas path's
        with dask.config.set({"dataframe.convert-string": False}):
            return dd.from_delayed(parts, meta=meta, verify_meta=False)

    def outline(self) -> Outline:
        """The company's `Outline` (read once): what the client holds of it."""
        if self._outline is None:
            self._outline = load_outline(self.client, self.root)
        return self._outline

    def build_features(self, spec: PipelineSpec, dataset: Dataset, as_of: pd.Timestamp | None = None) -> pd.DataFrame:
        """The feature frame collected, ordered by the pipeline's time and key (the runner's input)."""
        return self._sorted(spec, self.features(spec, as_of).compute())

    @staticmethod
    def _sorted(spec: PipelineSpec, frame: pd.DataFrame) -> pd.DataFrame:
        return frame.sort_values([spec.time_column, *spec.key], kind="stable").reset_index(drop=True)

    def training_frame(self, spec: PipelineSpec, dataset: Dataset) -> tuple[pd.DataFrame, pd.Series, pd.Series | None]:
        """(features, labels, when each label became known) of the training frame, as the pandas path's."""
        if spec.name not in BUCKET_LOCAL:  # transfer-anomaly: labels from the audit labels, a small table
            features = self.build_features(spec, dataset)
            return features, spec.build_labels(dataset, features), spec.label_known_at(dataset, features)
        features = self._sorted(spec, self._frame(self._parts(spec, None, labels=True)).compute())
        values = features.pop(LABEL)
        labels = spec.labels_from(values, features) if isinstance(spec, HighPerformer) else values.rename("label")
        return features, labels, spec.label_known_at(dataset, features)

    def fitting(self) -> AbstractContextManager[None]:
        """Within the block, boosters are boosted by LightGBM's Dask estimators on the workers."""
        return use_trainer(self.boost)

    def boost(self, X: pd.DataFrame, y: np.ndarray, params: dict, num_rounds: int, weight=None) -> lgb.Booster:
        """The `perfml.modeling.train.Trainer` on the cluster: X and y split over the workers."""
        workers = max(1, len(self.client.scheduler_info()["workers"]))
        frame = pd.DataFrame(to_matrix(X), columns=[str(c) for c in X.columns])
        n = max(1, min(workers, len(frame) // self.min_rows_per_worker))
        dX = dd.from_pandas(frame, npartitions=n, sort=False)
        dy = dd.from_pandas(pd.Series(np.asarray(y, dtype="float64")), npartitions=n, sort=False)
        dw = None if weight is None else dd.from_pandas(pd.Series(np.asarray(weight, "float64")), npartitions=n)
        dX, dy = self.client.persist(dX), self.client.persist(dy)
        kind = lgb.DaskLGBMClassifier if params.get("objective", "binary") == "binary" else lgb.DaskLGBMRegressor
        # threads are the workers' (one each): LightGBM's Dask estimators ignore num_threads and say so
        lgb_params = {k: v for k, v in params.items() if k != "num_threads"}
        model = kind(client=self.client, n_estimators=num_rounds, **lgb_params)
        model.fit(dX, dy, sample_weight=dw)
        return model.booster_

    def score(
        self,
        spec: PipelineSpec,
        dataset: Dataset,
        *,
        model: TrainedModel | None,
        as_of: pd.Timestamp | None,
        top_k: int = 3,
        lang: catalog.Lang = "en",
    ) -> pd.DataFrame:
        """`run.score_pipeline` on the cluster: `run.score_frame` on each partition with a model."""
        feats = self.features(spec, as_of)
        if model is None or as_of is None:
            # the baseline ranks company-wide, and without as_of a pipeline may keep company-wide rows
            # (decline: the latest snapshot): both read the collected frame
            frame = spec.scoring_rows(self.build_features(spec, dataset, as_of), as_of).reset_index(drop=True)
            if model is None:
                return score_frame(spec, blind_baseline(spec, frame, dataset), None, top_k=top_k, lang=lang)
            feats = dd.from_pandas(frame, npartitions=max(1, feats.npartitions), sort=False)
        parts = [dask.delayed(_score_part)(spec, part, model, top_k, lang) for part in feats.to_delayed()]
        frames = [f for f in self.client.gather(self.client.compute(parts)) if len(f)]
        if not frames:
            raise PerfmlError(f"{spec.name}: nothing to score")
        out = pd.concat(frames, ignore_index=True)
        return out.sort_values(list(spec.key), kind="stable").reset_index(drop=True)


@contextmanager
def cluster(scheduler: str | None = None, *, workers: int = 2, memory_limit: str = "4GB") -> Iterator[Client]:
    """A client of the cluster at `scheduler` (tcp://HOST:PORT), else of a local cluster of `workers`
    processes (one thread each, `memory_limit` each) started here and closed on exit."""
    if scheduler:
        with Client(scheduler) as client:
            yield client
        return
    with (
        LocalCluster(
            n_workers=workers, threads_per_worker=1, processes=True, memory_limit=memory_limit, dashboard_address=None
        ) as local,
        Client(local) as client,
    ):
        yield client
