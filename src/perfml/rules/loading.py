"""Read a plan: built-in name or YAML file -> validated `Plan`, refusing bad plans by YAML path."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from importlib import resources
from pathlib import Path

import yaml
from pydantic import ValidationError
from pydantic_core import ErrorDetails

from perfml.errors import PlanError
from perfml.rules.checks import Issue, plan_errors, plan_warnings
from perfml.rules.plan import Plan


class PlanInvalid(PlanError):
    """A plan refused with every error found (each names its YAML path)."""

    def __init__(self, source: str, issues: list[Issue]):
        self.source = source
        self.issues = issues
        lines = [f"plan {source} is invalid ({len(issues)} problem(s)):"]
        lines += [f"  - {i.path}: {i.message}" for i in issues]
        super().__init__("\n".join(lines))


@dataclass
class CheckReport:
    """Outcome of `check_plan`: the plan when valid, its errors and warnings."""

    source: str
    plan: Plan | None
    errors: list[Issue] = field(default_factory=list)
    warnings: list[Issue] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when the plan has no errors (warnings allowed)."""
        return not self.errors


# -- YAML with exact decimals and no silent duplicate keys ---------------------------------------
class _Loader(yaml.SafeLoader):
    pass


def _decimal(loader: _Loader, node: yaml.ScalarNode) -> Decimal:
    text = loader.construct_scalar(node).replace("_", "")
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise PlanError(f"line {node.start_mark.line + 1}: {text!r} is not a number") from None
    if not value.is_finite():
        raise PlanError(f"line {node.start_mark.line + 1}: {text!r} is not a finite number")
    return value


def _mapping(loader: _Loader, node: yaml.MappingNode, deep: bool = False) -> dict:
    seen: dict = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            # PyYAML would keep the last one silently; in a pay plan that hides a typo.
            raise PlanError(
                f"line {key_node.start_mark.line + 1}: duplicate key {key!r} (first at line {seen[key] + 1})"
            )
        seen[key] = key_node.start_mark.line
    return loader.construct_mapping(node, deep=deep)


# YAML 1.1 reads on/off/yes/no as booleans (`on: attainment` would become `True: attainment`);
# plans only use true/false.
_Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)
_Loader.add_constructor("tag:yaml.org,2002:float", _decimal)
_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping)


# -- public ---------------------------------------------------------------------------------------
def _builtin_dir():
    # plans/ is package data of perfml (pyproject), not a package of its own.
    return resources.files("perfml").joinpath("plans")


def builtin_plans() -> list[str]:
    """Names of the plans shipped with perfml."""
    return sorted(p.name[:-5] for p in _builtin_dir().iterdir() if p.name.endswith(".yaml"))


def read_plan_text(source: str | Path) -> tuple[str, str]:
    """(display name, YAML text) of a built-in plan name or a file path."""
    text_source = str(source)
    if text_source in builtin_plans():
        return f"builtin:{text_source}", _builtin_dir().joinpath(f"{text_source}.yaml").read_text()
    path = Path(source)
    if not path.is_file():
        raise PlanError(f"plan {text_source!r} is neither a file nor a built-in plan ({', '.join(builtin_plans())})")
    return str(path), path.read_text(encoding="utf-8")


def parse_plan(text: str, source: str = "plan") -> CheckReport:
    """Parse YAML text and run every check; never raises for an invalid plan (see `report.errors`)."""
    try:
        data = yaml.load(text, Loader=_Loader)  # noqa: S506 - _Loader derives from SafeLoader
    except PlanError as exc:
        return CheckReport(source, None, [Issue("error", "", str(exc))])
    except yaml.YAMLError as exc:
        return CheckReport(source, None, [Issue("error", "", f"not valid YAML: {exc}")])
    except RecursionError:  # PyYAML composes nested nodes recursively
        return CheckReport(
            source,
            None,
            [Issue("error", "", f"plan {source} is nested too deeply to read (a plan is a few levels deep)")],
        )
    if not isinstance(data, dict):
        return CheckReport(source, None, [Issue("error", "", "a plan must be a YAML mapping")])
    try:
        plan = Plan.model_validate(data)
    except ValidationError as exc:
        return CheckReport(source, None, [Issue("error", _path(e["loc"]), _message(e)) for e in exc.errors()])
    errors = plan_errors(plan)
    return CheckReport(source, None if errors else plan, errors, [] if errors else plan_warnings(plan))


def check_plan(source: str | Path) -> CheckReport:
    """Load and check a plan (built-in name or YAML file) without raising for its problems."""
    name, text = read_plan_text(source)
    return parse_plan(text, name)


def load_plan(source: str | Path | Plan) -> Plan:
    """A validated plan from a built-in name or YAML file; raises `PlanInvalid` naming each YAML path."""
    if isinstance(source, Plan):
        return source
    report = check_plan(source)
    if report.plan is None:  # no plan exactly when there are errors
        raise PlanInvalid(report.source, report.errors)
    return report.plan


def version_issues(reports: Sequence[CheckReport]) -> list[Issue]:
    """Across the valid plans given, per plan id: overlapping effective dates are errors, gaps warnings.

    Two versions of one plan must never pay the same day; a gap between them pays nobody, which is
    allowed (a plan may pause) but rarely meant.
    """
    issues: list[Issue] = []
    by_id: dict[str, list[tuple[Plan, str]]] = {}
    for report in reports:
        if report.plan is not None:
            by_id.setdefault(report.plan.id, []).append((report.plan, report.source))
    for plan_id, versions in sorted(by_id.items()):
        versions.sort(key=lambda v: (v[0].effective_from, v[1]))
        latest: tuple[Plan, str] | None = None  # the earlier version that ends last
        for plan, source in versions:
            if latest is not None:
                before, before_source = latest
                path = f"{source}: effective_from"
                if before.effective_to is None or before.effective_to >= plan.effective_from:
                    ends = [d for d in (before.effective_to, plan.effective_to) if d is not None]
                    issues.append(
                        Issue(
                            "error",
                            path,
                            f"plan {plan_id} v{plan.version} ({_dates(plan)}) overlaps v{before.version} "
                            f"({_dates(before)}, {before_source}) from {plan.effective_from} to "
                            f"{min(ends) if ends else 'open'}; two versions must never pay the same day",
                        )
                    )
                elif before.effective_to + dt.timedelta(days=1) < plan.effective_from:
                    first, last = before.effective_to + dt.timedelta(days=1), plan.effective_from - dt.timedelta(days=1)
                    issues.append(
                        Issue(
                            "warning",
                            path,
                            f"gap {first}..{last}: no version of plan {plan_id} is effective between "
                            f"v{before.version} ({_dates(before)}) and v{plan.version} ({_dates(plan)}); "
                            "nobody is paid under it on those days",
                        )
                    )
                if before.effective_to is None or (
                    plan.effective_to is not None and plan.effective_to <= before.effective_to
                ):
                    continue  # the earlier version still ends last
            latest = (plan, source)
    return issues


def _dates(plan: Plan) -> str:
    return f"{plan.effective_from}..{plan.effective_to or 'open'}"


def plan_hash(plan: Plan) -> str:
    """sha256 of the plan's canonical JSON: formatting and comments do not change it, content does."""
    canonical = json.dumps(plan.model_dump(mode="json", by_alias=True), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def _path(loc: tuple) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _message(err: ErrorDetails) -> str:
    if err["type"] == "extra_forbidden":
        return "unknown field (check the spelling)"
    if err["type"] == "missing":
        return "required field is missing"
    return err["msg"]
