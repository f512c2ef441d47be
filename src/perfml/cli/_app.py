"""The shared Typer app, console and error handling for all `perfml` commands."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from perfml.config import get_settings
from perfml.errors import PerfmlError
from perfml.home import Home

app = typer.Typer(
    name="perfml",
    help="Sales-team performance intelligence: data, models, alerts and bonuses.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console()
err_console = Console(stderr=True)

HomeOption = Annotated[
    Path | None, typer.Option("--home", help="perfml home (store, MLflow); default $PERFML_HOME or ./models.")
]


def home_of(folder: Path | None) -> Home:
    """The home a command works on: `--home`, else the one the `PERFML_*` environment describes.

    Built once per command and passed down; the process environment is never changed."""
    return Home.at(folder) if folder is not None else Home(get_settings())


def handles_errors(func: Callable) -> Callable:
    """Turn perfml's own errors into a readable message and exit code 1 (no traceback)."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except PerfmlError as exc:
            # escaped: messages quote user data (a value such as '[x]' is not markup)
            err_console.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False, markup=True, soft_wrap=True)
            raise typer.Exit(code=1) from None

    return wrapper


@contextmanager
def progress_bar(description: str) -> Iterator[Callable[[str, float], None]]:
    """A progress bar driven by `update(stage, fraction)` callbacks (fraction in 0..1)."""
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.percentage:>3.0f}%"),
        TimeElapsedColumn(),
        console=err_console,
        transient=False,
    ) as bar:
        task = bar.add_task(description, total=1.0)

        def update(stage: str, fraction: float) -> None:
            bar.update(task, completed=min(max(fraction, 0.0), 1.0), description=f"{description}: {stage}")

        yield update
        bar.update(task, completed=1.0, description=f"{description}: done")
