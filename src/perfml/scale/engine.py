"""The Dask engine: the pandas nodes over buckets of a partitioned company, LightGBM's Dask estimators.

What runs where:
- decline, high-performer: one task per bucket (`layout.py`): a `Slice` holds the bucket's rows of
  the bucketed tables (whole teams), every other table whole, and the company's month spans, and
  the pipeline's own `build_features` runs on it; the buckets' frames are the Dask partitions. The
  high-performer slice holds every employee (its HR attribute levels are company-wide) and keeps the
  bucket's units.
- transfer-anomaly: one task on the whole company. A transfer reads the customer's orders, both
  employees' work across customers, the team's record and every earlier transfer to the receiver:
  no partitioning keeps those together, so it needs one worker that holds the tables.
- training: features are collected on the client (one row per unit, far smaller than the records);
  labels, split, baseline and gate are `perfml.pipelines.run`'s; each booster is boosted by
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
from perfml.metrics import ACTIVITY_TABLES, period_codes, period_index
from perfml.modeling.model import TrainedModel, to_matrix
from perfml.modeling.spec import PipelineSpec
from perfml.modeling.train import use_trainer
from perfml.pipelines.run import blind_baseline, score_frame
from perfml.scale.layout import employee_buckets, read_layout, read_table
from perfml.schema import TABLES

SPAN_COLUMNS: tuple[tuple[str, str], ...] = (
    *ACTIVITY_TABLES.items(),
    ("targets", "period"),
    ("metrics", "period"),
)  # the bucketed columns the metrics layer reads month spans of
BUCKET_LOCAL = ("decline", "high-performer")  # pipelines whose units need only their bucket (and whole tables)
ALL_EMPLOYEES = ("high-performer",)  # bucket slices that hold every employee (see the module doc)
# Each worker's share of a training side: LightGBM's data-parallel learner bins features and bags rows
# per worker, so a few hundred rows per worker give other trees than one process (a 44-unit
# high-performer side split in two learnt nothing); a smaller side boosts on one worker, as in pandas.
MIN_ROWS_PER_WORKER = 5000


class Slice(Dataset):
    """Some buckets' rows of the bucketed tables, every other table whole, and the company's month spans."""

    def __init__(self, tables, spans: dict[tuple[str, str], pd.Series], source: str, untracked=()):
        super().__init__(tables, source=source, untracked=untracked)
        self._spans = spans  # (table, column) -> month index -> earliest timestamp in that month

    def month_span(self, table: str, column: str) -> tuple[int, int] | None:
        months = self._spans.get((table, column))
        if months is None:
            return super().month_span(table, column)
        return None if months.empty else (int(months.index.min()), int(months.index.max()))

    def before(self, cutoff) -> Slice:
        cutoff = pd.Timestamp(cutoff)
        cut = super().before(cutoff)
        # Dataset.before drops records at/after the cut-off by the table's time column: a month stays
        # in the span exactly when its earliest record is before the cut-off.
        spans = {(t, c): (s[s < cutoff] if TABLES[t].time_column == c else s) for (t, c), s in self._spans.items()}
        return Slice(cut._tables, spans, source=cut.source, untracked=self.untracked)


def bucket_spans(root: Path, bucket: int) -> dict[tuple[str, str], pd.Series]:
    """Per span column, month index -> earliest timestamp of the bucket's records in that month."""
    out = {}
    for table, col in SPAN_COLUMNS:
        values = read_table(root, table, [bucket])[col].dropna()
        if pd.api.types.is_datetime64_any_dtype(values):
            out[(table, col)] = values.groupby(period_index(values).astype("int64").to_numpy()).min()
        else:
            months = np.unique(period_codes(values.astype("string")).to_numpy(dtype="int64"))
            out[(table, col)] = pd.Series(pd.NaT, index=months, dtype="datetime64[ns]")
    return out


def merge_spans(parts: list[dict[tuple[str, str], pd.Series]]) -> dict[tuple[str, str], pd.Series]:
    """The company's spans from the buckets' (earliest per month)."""
    return {
        key: pd.concat([p[key] for p in parts]).groupby(level=0).min().sort_index() if parts else pd.Series()
        for key in SPAN_COLUMNS
    }


def load_slice(root: Path, buckets: list[int] | None, spans, untracked, *, all_employees: bool) -> Slice:
    """The `Slice` of `buckets` (None: the whole company) of a partitioned folder."""
    tables = {name: read_table(root, name, buckets) for name in TABLES if (Path(root) / name).is_dir()}
    if buckets is not None and not all_employees:
        emp = tables["employees"]
        of = employee_buckets(emp, read_layout(root)["buckets"])
        tables["employees"] = emp[of.isin(buckets).to_numpy()].reset_index(drop=True)
    return Slice(tables, spans, source=f"{root}#{buckets}", untracked=untracked)


def load_dataset(root: Path) -> Dataset:
    """The whole company of a partitioned folder as one pandas `Dataset` (what the runner's labels and
    evidence gate read)."""
    layout = read_layout(root)
    tables = {name: read_table(root, name) for name in TABLES if (Path(root) / name).is_dir()}
    return Dataset(tables, source=str(root), untracked=layout.get("untracked", []))


def _bucket_features(
    spec: PipelineSpec, root: Path, bucket: int, spans, untracked, as_of: pd.Timestamp | None
) -> pd.DataFrame:
    whole = spec.name in ALL_EMPLOYEES
    part = load_slice(root, [bucket], spans, untracked, all_employees=whole)
    mine = employee_buckets(part.employees, read_layout(root)["buckets"])
    if not (mine == bucket).any():
        return pd.DataFrame()
    frame = spec.build_features(part, as_of=as_of)
    if whole:  # keep the bucket's own units
        frame = frame[frame["employee_id"].astype("string").map(mine).eq(bucket).to_numpy(dtype=bool)]
    return frame.reset_index(drop=True)


def _score_part(
    spec: PipelineSpec, part: pd.DataFrame, model: TrainedModel, top_k: int, lang: catalog.Lang
) -> pd.DataFrame:
    return score_frame(spec, part.reset_index(drop=True), model, top_k=top_k, lang=lang)


class DaskEngine:
    """`perfml.pipelines.run.Engine` on a Dask cluster (`client`) over a partitioned folder (`root`)."""

    def __init__(self, client: Client, root: Path, *, min_rows_per_worker: int = MIN_ROWS_PER_WORKER):
        self.client = client
        self.min_rows_per_worker = min_rows_per_worker
        self.root = Path(root)
        self.layout = read_layout(self.root)
        self._spans: dict | None = None

    @property
    def spans(self) -> dict[tuple[str, str], pd.Series]:
        """The company's month spans (computed once, one task per bucket)."""
        if self._spans is None:
            parts = [dask.delayed(bucket_spans)(self.root, k) for k in range(self.layout["buckets"])]
            self._spans = merge_spans(list(self.client.gather(self.client.compute(parts))))
        return self._spans

    def features(self, spec: PipelineSpec, as_of: pd.Timestamp | None = None) -> dd.DataFrame:
        """The feature frame of `spec` as a Dask DataFrame (one partition per non-empty bucket)."""
        untracked = self.layout.get("untracked", [])
        if spec.name in BUCKET_LOCAL:
            spans = self.client.scatter(self.spans, broadcast=True)
            parts = [
                self.client.submit(_bucket_features, spec, self.root, k, spans, untracked, as_of, pure=False)
                for k in range(self.layout["buckets"])
            ]
        else:
            whole = dask.delayed(load_slice)(self.root, None, {}, untracked, all_employees=True)
            parts = [self.client.compute(dask.delayed(spec.build_features)(whole, as_of=as_of))]
        sizes = self.client.gather([self.client.submit(len, p) for p in parts])
        parts = [p for p, n in zip(parts, sizes, strict=True) if n] or parts[:1]
        meta = self.client.submit(lambda df: df.head(0), parts[0]).result()
        # the nodes' own dtypes, not Dask's pyarrow strings: the frame must equal the pandas path's
        with dask.config.set({"dataframe.convert-string": False}):
            return dd.from_delayed(parts, meta=meta, verify_meta=False)

    def build_features(self, spec: PipelineSpec, dataset: Dataset, as_of: pd.Timestamp | None = None) -> pd.DataFrame:
        """The feature frame collected, ordered by the pipeline's time and key (the runner's input)."""
        frame = self.features(spec, as_of).compute()
        return frame.sort_values([spec.time_column, *spec.key], kind="stable").reset_index(drop=True)

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
