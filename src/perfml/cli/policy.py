"""Policy commands: `perfml policy check` validates a hand-over policy against a dataset."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from perfml.cli._app import app, console, err_console, handles_errors, home_of

policy_app = typer.Typer(help="The company's hand-over policy (designed hand-over flows).", no_args_is_help=True)
app.add_typer(policy_app, name="policy")


@policy_app.command("check")
@handles_errors
def check(
    data: Annotated[Path, typer.Option("--data", help="Dataset directory of CSV/Parquet files.")],
    policy: Annotated[
        Path | None, typer.Option("--policy", help="Policy YAML (default: PERFML_HANDOVER_POLICY, else none declared).")
    ] = None,
) -> None:
    """Validate the policy file, then against the data: unknown job functions, flows never seen, the share
    of hand-overs each flow covers. Exit 1 on an invalid file or a job function no employee has."""
    from perfml.dataset import Dataset
    from perfml.pipelines.transfer_anomaly.flows import PolicyError, load_policy
    from perfml.pipelines.transfer_anomaly.nodes import policy_coverage
    from perfml.pipelines.transfer_anomaly.reasons import load_reason_keywords

    settings = home_of(None).settings
    path = policy or settings.handover_policy
    handover = load_policy(path)
    report = policy_coverage(Dataset.load(data), handover, load_reason_keywords(settings.reason_keywords))
    table = Table(title=f"{path or 'default policy (no declared flows)'}: {report['transfers']} hand-overs")
    for col in ("flow", "stage", "hand-overs", "share"):
        table.add_column(col, justify="right" if col in ("hand-overs", "share") else "left")
    for row in report["flows"].itertuples():
        table.add_row(row.flow, row.stage, f"{row.handovers:,}", f"{row.share:.1%}")
    console.print(table)
    for row in report["flows"].itertuples():
        if row.stage and row.handovers == 0:
            err_console.print(f"warning: flow {row.flow} ({row.stage}) matches no hand-over in {data}")
    if report["unknown_functions"]:
        known = ", ".join(report["known_functions"]) or "none: employees has no job_function column"
        problems = [
            f"{where}: {name!r} is not a job_function of any employee" for where, name in report["unknown_functions"]
        ]
        raise PolicyError(
            f"{path}: {len(problems)} problem(s) against {data} (job functions there: {known}):\n  - "
            + "\n  - ".join(problems)
        )
