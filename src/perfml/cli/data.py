"""Data commands: simulate, validate, import."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from perfml.cli._app import HomeOption, app, console, handles_errors, home_of, progress_bar
from perfml.errors import DataValidationError


@app.command()
@handles_errors
def simulate(
    out: Annotated[Path, typer.Option("--out", help="Directory to write the dataset (and truth/) into.")],
    seed: Annotated[int, typer.Option(help="Random seed; same arguments give byte-identical files.")] = 0,
    teams: Annotated[int | None, typer.Option(min=1, help="Number of teams (default: from --scale).")] = None,
    months: Annotated[int | None, typer.Option(min=3, help="Months of history (default: from --scale).")] = None,
    scale: Annotated[
        str, typer.Option(help="Size preset: small, medium, large, or xlarge (16 x large, partitioned-parquet only).")
    ] = "medium",
    times: Annotated[
        int, typer.Option(min=1, help="Company of this many divisions of --scale (partitioned-parquet only).")
    ] = 1,
    format: Annotated[
        str,
        typer.Option(
            "--format",
            help="csv (in memory), or partitioned-parquet (one division at a time, the layout --engine dask reads).",
        ),
    ] = "csv",
    funnel: Annotated[
        bool,
        typer.Option(
            "--funnel",
            help="Add a qualifier -> closer funnel (SDR hands each promising lead to an AE before the close).",
        ),
    ] = False,
) -> None:
    """Write a realistic synthetic company (CRM + HR tables) with its ground truth."""
    from perfml.simulate import SCALES
    from perfml.simulate import simulate as run
    from perfml.simulate.partitioned import MULTIPLES, write_partitioned

    if format not in ("csv", "partitioned-parquet"):
        raise typer.BadParameter("must be csv or partitioned-parquet", param_hint="--format")
    if scale not in SCALES and scale not in MULTIPLES:
        raise typer.BadParameter(f"must be one of {', '.join([*SCALES, *MULTIPLES])}", param_hint="--scale")
    if format == "csv" and (times > 1 or scale in MULTIPLES):
        raise typer.BadParameter(
            "a company of several divisions needs --format partitioned-parquet", param_hint="--times"
        )
    if format == "partitioned-parquet" and funnel:
        raise typer.BadParameter("the funnel is written as CSV only", param_hint="--funnel")
    with progress_bar("simulate") as update:
        if format == "csv":
            summary = run(out, seed=seed, teams=teams, months=months, scale=scale, progress=update, funnel=funnel)
        else:
            summary = write_partitioned(
                out, seed=seed, scale=scale, times=times, teams=teams, months=months, progress=update
            )
    _print_rows(summary.get("rows", {}), f"wrote {out}")


@app.command()
@handles_errors
def validate(data: Annotated[Path, typer.Argument(help="Dataset directory of CSV/Parquet files.")]) -> None:
    """Check a dataset against the data contract; exit 1 listing every problem."""
    from perfml.dataset import Dataset

    dataset = Dataset.load(data)
    start, end = dataset.date_range()
    _print_rows(dataset.rows(), f"{data}: valid")
    console.print(f"date range: {start} .. {end}")
    _print_untracked(dataset.untracked)


@app.command("import")
@handles_errors
def import_(
    data: Annotated[Path, typer.Argument(help="Dataset directory of CSV/Parquet files.")],
    store_url: Annotated[str | None, typer.Option(help="SQLAlchemy URL (default: the configured store).")] = None,
    home: HomeOption = None,
) -> None:
    """Validate a dataset, then upsert it into the store in one transaction (all or nothing)."""
    from perfml.dataset import Dataset
    from perfml.home import Home
    from perfml.services.ingest import import_dataset

    try:
        dataset = Dataset.load(data)
    except DataValidationError as exc:
        raise DataValidationError(exc.problems, outcome="nothing imported, the store is unchanged") from None
    _print_untracked(dataset.untracked)
    with progress_bar("import") as update:
        where = home_of(home)
        if store_url is not None:
            where = Home(where.settings.model_copy(update={"store_url": store_url}))
        counts = import_dataset(home=where, dataset=dataset, progress=update)
    _print_rows(counts, f"imported {data}")


def _print_untracked(untracked: frozenset[str]) -> None:
    if untracked:
        console.print(f"untracked (declared in dataset.yaml): {', '.join(sorted(untracked))}")


def _print_rows(rows: dict[str, int], title: str) -> None:
    table = Table(title=title)
    table.add_column("table")
    table.add_column("rows", justify="right")
    for name, n in rows.items():
        table.add_row(name, f"{n:,}")
    console.print(table)
