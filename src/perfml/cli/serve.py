"""Service commands: `perfml serve`, `perfml keys create|list|revoke`, and `perfml demo` (the main job)."""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from perfml.cli._app import HomeOption, app, console, err_console, handles_errors, home_of, progress_bar
from perfml.errors import PerfmlError
from perfml.home import Home

keys_app = typer.Typer(help="API keys: create (printed once), list, revoke.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")


DEFAULT_POLL_SECONDS = "1"
"""Seconds between polls of the change feed by each of several workers (unless PERFML_SNAPSHOT_POLL_SECONDS says)."""


def _serve(home: Home, host: str, port: int, workers: int = 1) -> None:
    import uvicorn

    console.print(f"serving on http://{host}:{port}  (docs: http://{host}:{port}/docs, Ctrl+C to stop)")
    if workers == 1:
        # The one import of the HTTP layer from the command line, here and not at the top: serving
        # means starting the app, and every other command stays free of FastAPI's import cost.
        from api.main import create_app

        uvicorn.run(create_app(home), host=host, port=port, log_level="info")
        return
    # Each worker is a new process that builds its app from the environment (uvicorn calls the factory
    # there), so this home is handed over as PERFML_* variables: the one command that sets them.
    os.environ["PERFML_HOME"] = str(home.dir)
    os.environ["PERFML_STORE_URL"] = home.store_url
    os.environ["PERFML_MLFLOW_URI"] = home.mlflow_uri
    os.environ.setdefault("PERFML_SNAPSHOT_POLL_SECONDS", DEFAULT_POLL_SECONDS)
    console.print(f"{workers} workers, each following the store every {os.environ['PERFML_SNAPSHOT_POLL_SECONDS']} s")
    # What uvicorn.run does for several workers, with the listening socket marked as TCP (see tcp_listener).
    from uvicorn.supervisors import Multiprocess

    app_factory = "api.main:create_app"
    config = uvicorn.Config(app_factory, factory=True, workers=workers, host=host, port=port, log_level="info")
    Multiprocess(config, sockets=[tcp_listener(config.bind_socket())]).run()


def tcp_listener(bound: socket.socket) -> socket.socket:
    """The same listening socket, its protocol recorded as TCP, so each accepted connection gets TCP_NODELAY."""
    # uvicorn binds the workers' shared socket with protocol 0, and asyncio turns Nagle's algorithm off only
    # on connections whose protocol reads IPPROTO_TCP (as the one-worker path's own listener does). With
    # Nagle on, a response's body, written after its headers, waits for the client's delayed ACK: ~40 ms
    # on every keep-alive request but the first.
    return socket.socket(bound.family, bound.type, socket.IPPROTO_TCP, fileno=bound.detach())


def check_workers(home: Home, workers: int) -> None:
    """Several workers need a store every one of them writes and reads at once: PostgreSQL, not a SQLite file."""
    if workers > 1 and home.engine.dialect.name == "sqlite":
        raise PerfmlError(
            f"--workers {workers} needs a PostgreSQL store (PERFML_STORE_URL=postgresql+psycopg://...); "
            f"the store is the SQLite file {home.engine.url.database}: serve it with --workers 1, or copy it "
            "into PostgreSQL first (perfml.store.copy_store)"
        )


@app.command()
@handles_errors
def serve(
    host: Annotated[str, typer.Option(help="Interface to bind (127.0.0.1 keeps it on this machine).")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="TCP port.")] = 8000,
    workers: Annotated[
        int,
        typer.Option(
            min=1, help="Worker processes (more than 1 needs PostgreSQL; each holds its own snapshot and models)."
        ),
    ] = 1,
    home: HomeOption = None,
) -> None:
    """Serve the HTTP API over an existing home (models load in the background; see /readyz)."""
    where = home_of(home)
    check_workers(where, workers)
    if not (where.dir / "perfml.db").exists() and where.settings.store_url is None:
        err_console.print(
            f"[yellow]note:[/] no store in {where.dir} yet; run `perfml demo` or "
            f"`perfml import DIR` and `perfml train all --data DIR` first"
        )
    _serve(where, host, port, workers)


@keys_app.command("create")
@handles_errors
def keys_create(
    role: Annotated[str, typer.Option("--role", help="hr_admin, hr_system, manager or employee.")],
    team: Annotated[
        str | None, typer.Option("--team", help="Team a manager key may see (required for manager).")
    ] = None,
    employee: Annotated[
        str | None, typer.Option("--employee", help="Employee an employee key is (required for employee).")
    ] = None,
    label: Annotated[str | None, typer.Option(help="A note to recognise the key by (e.g. who holds it).")] = None,
    home: HomeOption = None,
) -> None:
    """Create an API key; the key is printed once and only its sha256 is stored.

    A team or employee the store does not know is refused; one without records yet gets a warning."""
    from perfml.keys import ROLE_HELP, check_scope, create_key

    engine = home_of(home).engine
    warning = check_scope(role, team, employee, engine=engine)
    if warning:
        err_console.print(f"[yellow]warning:[/] {warning}")
    created = create_key(role=role, team_id=team, employee_id=employee, label=label, created_by=_who(), engine=engine)
    p = created.principal
    console.print(f"created key {p.key_id} ({p.name}): {ROLE_HELP[p.role]}")
    console.print("store it now; it is not shown again:")
    typer.echo(created.key)


@keys_app.command("list")
@handles_errors
def keys_list(home: HomeOption = None) -> None:
    """List keys (id, role, scope, label, dates); never the keys themselves."""
    from perfml.keys import list_keys

    engine = home_of(home).engine
    table = Table(title="API keys")
    for col in ("id", "role", "team", "employee", "label", "created", "revoked"):
        table.add_column(col)
    for k in list_keys(engine):
        table.add_row(
            str(k["id"]),
            k["role"],
            k["team_id"] or "",
            k["employee_id"] or "",
            k["label"] or "",
            str(k["created_at"])[:19],
            str(k["revoked_at"] or "")[:19],
        )
    console.print(table)


@keys_app.command("revoke")
@handles_errors
def keys_revoke(
    key_id: Annotated[int, typer.Argument(help="Key id (see `perfml keys list`).")], home: HomeOption = None
) -> None:
    """Revoke a key (a running service stops accepting it within a few seconds)."""
    from perfml.keys import revoke_key

    if not revoke_key(key_id, engine=home_of(home).engine, revoked_by=_who()):
        raise PerfmlError(f"no active key with id {key_id}")
    console.print(f"revoked key {key_id}")


def _who() -> str:
    import getpass

    try:
        return f"cli:{getpass.getuser()}"
    except Exception:
        return "cli"


# -- the main job ------------------------------------------------------------------------------------
@app.command()
@handles_errors
def demo(
    home: HomeOption = None,
    data: Annotated[Path | None, typer.Option("--data", help="Use this dataset instead of simulating one.")] = None,
    scale: Annotated[str, typer.Option(help="Simulator size: small, medium or large.")] = "medium",
    seed: Annotated[int, typer.Option(help="Simulator seed (same seed, same company).")] = 1,
    host: Annotated[str, typer.Option(help="Interface to serve on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port to serve on.")] = 8000,
    no_serve: Annotated[bool, typer.Option("--no-serve", help="Stop after building everything (CI, tests).")] = False,
) -> None:
    """Simulate a company, import it, train the three models (MLflow), build alerts, create demo keys, serve."""
    from perfml.dataset import Dataset
    from perfml.pipelines import PIPELINE_NAMES
    from perfml.services import alerts as alert_service
    from perfml.services import models as model_service
    from perfml.services.ingest import import_dataset

    where = home_of(home)
    console.print(f"perfml demo in {where.dir}")
    if data is None:
        from perfml.simulate import SCALES
        from perfml.simulate import simulate as run_simulation

        if scale not in SCALES:
            raise typer.BadParameter(f"must be one of {', '.join(SCALES)}", param_hint="--scale")
        data = where.dir / f"demo-data-{scale}-{seed}"
        with progress_bar(f"1/5 simulate ({scale}, seed {seed})") as update:
            run_simulation(data, seed=seed, scale=scale, progress=update)
    dataset = Dataset.load(data)

    with progress_bar("2/5 import") as update:
        import_dataset(home=where, dataset=dataset, progress=update)

    failed: list[str] = []
    trained = {}
    for i, name in enumerate(PIPELINE_NAMES, 1):
        try:
            with progress_bar(f"3/5 train {name} ({i}/{len(PIPELINE_NAMES)})") as update:
                trained[name] = model_service.train(home=where, name=name, dataset=dataset, progress=update)
        except Exception as exc:  # one model failing must not hide the others; reported below
            failed.append(name)
            err_console.print(f"[bold red]training {name} failed:[/] {type(exc).__name__}: {exc}")
    _print_models(trained)

    with progress_bar("4/5 alerts") as update:
        summary = alert_service.refresh_alerts(home=where, dataset=dataset, principal=_who(), progress=update)
    console.print("alerts: " + ", ".join(f"{k} {v}" for k, v in summary.alerts.items()))
    for note in summary.skipped:
        err_console.print(f"[yellow]skipped:[/] {note}")

    keys, alert_id = _demo_keys(where, dataset)
    _print_keys(keys, alert_id, host, port, dataset, where)
    if failed:
        err_console.print(f"[bold red]not trained:[/] {', '.join(failed)} - /readyz stays false until they are")
    if no_serve:
        if failed:
            raise typer.Exit(code=1)
        return
    console.print("5/5 serve")
    _serve(where, host, port)


def _print_models(trained: dict) -> None:
    table = Table(title="models (test-side metrics)")
    for col in ("model", "kind", "version", "champion", "ROC-AUC", "PR-AUC", "baseline PR-AUC"):
        table.add_column(col)

    def f(x):
        return "-" if x is None or x != x else f"{x:.3f}"

    for name, r in trained.items():
        m = r.metrics
        table.add_row(
            name,
            r.kind,
            str(r.version),
            "yes" if r.promoted else "no",
            f(m.get("model_roc_auc")),
            f(m.get("model_pr_auc")),
            f(m.get("baseline_pr_auc")),
        )
    console.print(table)


def _demo_keys(home: Home, dataset) -> tuple[list[tuple[str, str, str]], int]:
    """(role, scope, key) for an admin, an HR system, the manager of the team with most alerts and one of
    its reps; and one of that team's alerts (a transfer alert if any) for the examples."""
    import pandas as pd
    import sqlalchemy as sa

    from perfml.keys import create_key
    from perfml.store import alerts

    employees = dataset.employees
    with home.engine.connect() as conn:
        counts = conn.execute(
            sa.select(alerts.c.team_id, sa.func.count())
            .where(alerts.c.team_id.is_not(None))
            .group_by(alerts.c.team_id)
            .order_by(sa.func.count().desc())
        ).all()
    team = counts[0][0] if counts else str(employees["team_id"].dropna().sort_values().iloc[0])
    with home.engine.connect() as conn:
        alert_id = conn.execute(
            sa.select(alerts.c.id)
            .where(alerts.c.team_id == team)
            .order_by((alerts.c.type != "transfer_anomaly"), alerts.c.id)
            .limit(1)
        ).scalar()
    _, end = dataset.date_range()
    active = employees["termination_date"].isna() | (employees["termination_date"] > end)
    reps = employees[
        (employees["team_id"] == team)
        & (employees["role"] == "sales")
        & active
        & (employees["hire_date"] < end - pd.Timedelta(days=120))
    ]["employee_id"].astype(str)
    rep = sorted(reps)[0] if len(reps) else str(employees["employee_id"].iloc[0])
    out = []
    for role, kw, scope in (
        ("hr_admin", {}, "all"),
        ("hr_system", {}, "ingest, score"),
        ("manager", {"team_id": team}, f"team {team}"),
        ("employee", {"employee_id": rep}, f"employee {rep}"),
    ):
        created = create_key(role=role, label="demo", created_by="demo", engine=home.engine, **kw)
        out.append((role, scope, created.key))
    return out, int(alert_id or 1)


def _print_keys(keys: list[tuple[str, str, str]], alert_id: int, host: str, port: int, dataset, home: Home) -> None:
    table = Table(title="demo API keys (shown once; only their sha256 is stored)")
    for col in ("role", "scope", "key"):
        table.add_column(col)
    for role, scope, key in keys:
        table.add_row(role, scope, key)
    console.print(table)
    by = {role: key for role, _, key in keys}
    rep = next(scope.split()[-1] for role, scope, _ in keys if role == "employee")
    base = f"http://{host}:{port}"
    period = str(dataset.date_range()[1])[:7]
    lines = [
        f"export ADMIN={by['hr_admin']} SYSTEM={by['hr_system']} MANAGER={by['manager']} EMPLOYEE={by['employee']}",
        f"curl -s {base}/readyz",
        f'curl -s -H "Authorization: Bearer $ADMIN" {base}/v1/models',
        f'curl -s -H "Authorization: Bearer $MANAGER" "{base}/v1/alerts?type=transfer_anomaly&limit=5"',
        f'curl -s -H "Authorization: Bearer $MANAGER" "{base}/v1/alerts/{alert_id}?lang=zh"',
        f"curl -s -X POST -H \"Authorization: Bearer $SYSTEM\" -H 'Content-Type: application/json' "
        f'-d \'{{"ids": ["{rep}"]}}\' {base}/v1/scores/decline/by-id',
        f"curl -s -X POST -H \"Authorization: Bearer $EMPLOYEE\" -H 'Content-Type: application/json' "
        f'-d \'{{"period": "{period}"}}\' {base}/v1/kpi/evaluate',
        f"mlflow ui --backend-store-uri {_shown_uri(home.mlflow_uri)}   # the MLflow UI on the same store",
    ]
    typer.echo(f"pages: {base}/ui/ (sign in with a key above: MANAGER for alerts and the team, EMPLOYEE for a payout)")
    console.print("try:")
    for line in lines:
        typer.echo("  " + line)


def _shown_uri(uri: str) -> str:
    """A SQLite URI relative to the working folder when the file is under it (the README's command for the
    default home, `sqlite:///models/mlflow.db`); any other URI as it is."""
    prefix = "sqlite:///"
    if not uri.startswith(prefix):
        return uri
    path = Path(uri.removeprefix(prefix))
    try:
        return prefix + path.relative_to(Path.cwd()).as_posix()
    except ValueError:
        return uri
