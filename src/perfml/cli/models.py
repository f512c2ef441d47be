"""Model commands: train, score, models, audit, profile - generic over the pipeline registry."""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from perfml.cli._app import HomeOption, app, console, err_console, handles_errors, home_of, progress_bar

if TYPE_CHECKING:  # the command line imports the library lazily, to start fast
    from perfml.catalog import Lang

_NAMES_HELP = "transfer-anomaly, decline or high-performer"
EngineOption = Annotated[
    str,
    typer.Option(
        "--engine",
        help="pandas (in this process) or dask (features and boosting on a Dask cluster; --data may be a "
        "partitioned Parquet folder, anything else is converted once to one under the home).",
    ),
]
SchedulerOption = Annotated[
    str | None,
    typer.Option(
        "--scheduler",
        help="Dask scheduler address tcp://HOST:PORT (default: PERFML_DASK_SCHEDULER, else a local cluster).",
    ),
]


@contextmanager
def _engine(engine: str, scheduler: str | None, data: Path, home) -> Iterator[tuple[Any, Any]]:
    """(engine or None for pandas, dataset) of the --engine/--scheduler/--data options."""
    from perfml.dataset import Dataset

    if engine not in ("pandas", "dask"):
        raise typer.BadParameter(f"{engine!r} is not one of pandas, dask", param_hint="--engine")
    if engine == "pandas":
        if scheduler is not None:
            raise typer.BadParameter("needs --engine dask", param_hint="--scheduler")
        yield None, Dataset.load(data)
        return
    from perfml import scale

    with scale.session(data, home, scheduler) as pair:
        yield pair


_PROFILE_COLUMNS = ("shap_rank", "display_name", "shap_importance", "direction", "contrast")


def _check_name(name: str, allow_all: bool = False) -> str:
    from perfml.pipelines import PIPELINE_NAMES

    choices = (*PIPELINE_NAMES, "all") if allow_all else PIPELINE_NAMES
    if name not in choices:
        raise typer.BadParameter(f"{name!r} is not one of {', '.join(choices)}", param_hint="MODEL")
    return name


def _lang(value: str) -> Lang:
    """The --lang option as a language the reasons are written in."""
    if value == "en":
        return "en"
    if value == "zh":
        return "zh"
    raise typer.BadParameter("must be en or zh", param_hint="--lang")


def _fmt(value) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if isinstance(value, float):
        return f"{value:.3f}" if abs(value) < 1000 else f"{value:,.0f}"
    return str(value)


def _metrics_table(result) -> Table:
    m = result.metrics
    title = (
        f"{result.pipeline} ({result.kind}) - version {result.version or '-'}{' [champion]' if result.promoted else ''}"
    )
    table = Table(title=title)
    for col in ("metric (test side)", "model", "baseline"):
        table.add_column(col, justify="right" if col != "metric (test side)" else "left")
    keys = sorted(
        {k.split("_", 1)[1] for k in m if k.startswith(("model_", "baseline_"))} - {"n", "positives", "prevalence"}
    )
    for k in keys:
        table.add_row(k, _fmt(m.get(f"model_{k}")), _fmt(m.get(f"baseline_{k}")))
    for k in ("n_train", "n_test", "n_test_labelled"):
        if k in m:
            table.add_row(k, _fmt(int(m[k])), "")
    return table


@app.command()
@handles_errors
def train(
    model: Annotated[str, typer.Argument(help=f"Pipeline to train: {_NAMES_HELP}, or all.")],
    data: Annotated[Path, typer.Option("--data", help="Dataset directory of CSV/Parquet files.")],
    force: Annotated[
        bool,
        typer.Option(
            "--force",
            help="Make the new version champion even if it fails the evidence "
            "gates or is not better (recorded on the run).",
        ),
    ] = False,
    engine: EngineOption = "pandas",
    scheduler: SchedulerOption = None,
    home: HomeOption = None,
) -> None:
    """Train, evaluate on a time-based test split, log to MLflow and register a version."""
    from perfml.errors import PerfmlError
    from perfml.pipelines import PIPELINE_NAMES
    from perfml.services import models as service

    _check_name(model, allow_all=True)
    where = home_of(home)
    names = PIPELINE_NAMES if model == "all" else (model,)
    failed: list[str] = []
    with _engine(engine, scheduler, data, where) as (runner, dataset):
        for name in names:
            try:
                with progress_bar(f"train {name}") as update:
                    result = service.train(
                        home=where, name=name, dataset=dataset, force=force, progress=update, engine=runner
                    )
            except PerfmlError as exc:  # with `all`, a pipeline the data cannot feed must not stop the others
                if model != "all":
                    raise
                err_console.print(f"[bold red]not trained:[/] {exc}", soft_wrap=True)
                failed.append(name)
                continue
            console.print(_metrics_table(result))
            console.print(_verdict(result), soft_wrap=True)
    if failed:
        raise typer.Exit(code=1)


def _verdict(result) -> str:
    """What happened to the new version, in plain words (why it was not promoted; what was left out)."""
    lines = []
    if result.dropped_features:
        lines.append(f"left out (their tables are not tracked): {', '.join(result.dropped_features)}")
    if result.promoted:
        forced = (
            f" (forced over: {result.gate.reason})" if result.forced and result.gate and not result.gate.passed else ""
        )
        verdict = f"promoted to champion{forced}"
    else:
        stays = (
            f"champion stays version {result.previous_champion}"
            if result.previous_champion
            else "no champion: scoring uses the baseline rule"
        )
        verdict = f"NOT promoted - {result.not_promoted}; {stays} (--force overrides)"
    lines.append(f"{result.pipeline}: run {result.run_id}, version {result.version}, {verdict}")
    return "\n".join(lines)


@app.command()
@handles_errors
def score(
    model: Annotated[str, typer.Argument(help=f"Pipeline to score with: {_NAMES_HELP}.")],
    data: Annotated[Path, typer.Option("--data", help="Dataset directory of CSV/Parquet files.")],
    out: Annotated[Path, typer.Option("--out", help="CSV file to write the scores and reasons to.")],
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="Score as of this date (YYYY-MM-DD): records strictly before it.")
    ] = None,
    top_k: Annotated[int, typer.Option("--top-k", min=1, max=20, help="Reasons per row.")] = 3,
    lang: Annotated[str, typer.Option(help="Language of the reasons: en or zh.")] = "en",
    engine: EngineOption = "pandas",
    scheduler: SchedulerOption = None,
    home: HomeOption = None,
) -> None:
    """Score a dataset with the champion model; write one CSV row per unit with its top reasons."""
    import pandas as pd

    from perfml.services.scoring import score_dataset

    _check_name(model)
    language = _lang(lang)
    when = None
    if as_of is not None:
        try:
            when = pd.Timestamp(as_of)
        except ValueError:
            raise typer.BadParameter(f"not a date: {as_of!r}", param_hint="--as-of") from None
    where = home_of(home)
    with _engine(engine, scheduler, data, where) as (runner, dataset), progress_bar(f"score {model}") as update:
        update("features + explanations", 0.1)
        frame, no_champion = score_dataset(
            home=where, name=model, dataset=dataset, as_of=when, top_k=top_k, lang=language, engine=runner
        )
    out.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(out, index=False)
    console.print(f"wrote {len(frame):,} rows to {out}", soft_wrap=True)
    if no_champion is not None:
        err_console.print(
            f"[yellow]degraded:[/] {model} has no champion ({no_champion}); "
            "scores come from its baseline rule (column source = baseline)",
            soft_wrap=True,
        )
    states = frame.loc[frame["state"] != "scored", "state"].value_counts()
    if len(states):
        err_console.print(
            "not scored: "
            + ", ".join(f"{n} {str(s).replace('_', ' ')}" for s, n in states.items())
            + " (see columns state, state_reason)",
            soft_wrap=True,
        )


@app.command("models")
@handles_errors
def models_(home: HomeOption = None) -> None:
    """List registered model versions with their test metrics and the champion."""
    from perfml.services import models as service

    where = home_of(home)
    df = service.versions(home=where)
    if df.empty:
        console.print("no registered models yet (perfml train ...)")
        for line in _degraded(where, set()):
            console.print(line, soft_wrap=True)
        return
    metric_cols = {"model_pr_auc": "PR-AUC", "baseline_pr_auc": "base PR", "model_roc_auc": "ROC"}
    metric_cols = {k: v for k, v in metric_cols.items() if k in df.columns}
    table = Table(title="registered models (test-side metrics)")
    table.add_column("model", no_wrap=True)
    for col in ("v", "champ", "kind", "created", *metric_cols.values()):
        table.add_column(col, justify="right" if col not in ("kind",) else "left")
    for _, row in df.iterrows():
        table.add_row(
            row["model"],
            str(row["version"]),
            "*" if row["champion"] else "",
            row["kind"],
            str(row["created"])[:10],
            *[_fmt(row.get(c)) for c in metric_cols],
        )
    console.print(table)
    for line in _degraded(where, set(df.loc[df["champion"], "model"])):
        console.print(line, soft_wrap=True)


def _degraded(home, champions: set[str]) -> list[str]:
    """One line per pipeline without a champion: it scores with its baseline rule, and why."""
    from perfml.services import models as service

    lines = []
    for name, (rule, why) in service.degraded(home=home, champions=champions).items():
        rule = f" ({rule})" if rule else ""
        lines.append(f"[yellow]degraded:[/] {name} scores with its baseline rule{rule} - {why}")
    return lines


@app.command()
@handles_errors
def audit(
    model: Annotated[str, typer.Argument(help=f"Pipeline whose champion to audit: {_NAMES_HELP}.")],
    data: Annotated[Path, typer.Option("--data", help="Dataset directory with a demographics table.")],
    threshold: Annotated[
        float | None, typer.Option(help="Alert threshold on the score (default: the model's).")
    ] = None,
    min_share: Annotated[float, typer.Option(help="Groups under this share of rows are reported but excluded.")] = 0.02,
    out: Annotated[Path | None, typer.Option("--out", help="Also write the audit table to this CSV.")] = None,
    home: HomeOption = None,
) -> None:
    """Bias audit: selection and scoring rates per demographic group, impact ratios under 0.8 flagged."""
    from perfml.dataset import Dataset
    from perfml.services.fairness import audit_champion

    _check_name(model)
    dataset = Dataset.load(data)
    with progress_bar(f"audit {model}") as update:
        update("scoring", 0.1)
        result, summary = audit_champion(
            home=home_of(home), name=model, dataset=dataset, threshold=threshold, min_share=min_share
        )
    console.print(
        f"bias audit: {summary['model']} v{summary['version']}, alert threshold {summary['threshold']:.3f}, "
        f"{summary['rows']:,} scored rows attributed by {summary['subject']}",
        soft_wrap=True,
    )
    for column, part in result.groupby("column", sort=False):
        table = Table(title=f"by {column}")
        for col in ("group", "n", "share", "alert rate", "impact", "above median", "impact ", "flag"):
            table.add_column(col, justify="left" if col in ("group", "flag") else "right")
        for _, r in part.iterrows():
            flag = "[bold red]FLAG[/]" if r["flagged"] else ("excluded" if not r["included"] else "")
            table.add_row(
                str(r["group"]),
                f"{r['n']:,}",
                f"{r['share']:.1%}",
                f"{r['selection_rate']:.3f}",
                _fmt(r["impact_ratio"]),
                f"{r['scoring_rate']:.3f}",
                _fmt(r["scoring_impact_ratio"]),
                flag,
            )
        console.print(table)
    if out is not None:
        result.to_csv(out, index=False)
    console.print(f"{summary['flagged']} group(s) flagged")


@app.command()
@handles_errors
def profile(
    data: Annotated[Path, typer.Option("--data", help="Dataset directory of CSV/Parquet files.")],
    top: Annotated[int, typer.Option(min=1, help="Traits to show.")] = 10,
    lang: Annotated[str, typer.Option(help="Language of the names and contrasts: en or zh.")] = "en",
    out: Annotated[Path | None, typer.Option("--out", help="Also write the profile to this CSV.")] = None,
    home: HomeOption = None,
) -> None:
    """The high-performer profile: which early behaviours mark the top quartile, in which direction."""
    from perfml.dataset import Dataset
    from perfml.services.models import profile as build_profile

    language = _lang(lang)
    dataset = Dataset.load(data)
    with progress_bar("profile") as update:
        update("explaining", 0.1)
        frame = build_profile(home=home_of(home), dataset=dataset, lang=language)
    if out is not None:
        frame.to_csv(out, index=False)
    shown = [c for c in _PROFILE_COLUMNS if c in frame.columns] or list(frame.columns)
    table = Table(title="high-performer profile (most important first)")
    for col in shown:
        table.add_column(str(col), overflow="fold")
    for _, row in frame.head(top).iterrows():
        table.add_row(*[_fmt(row[c]) for c in shown])
    console.print(table)
