"""The analyst walkthrough notebook runs end to end (kernel `python3` of this venv) and shows what it promises."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # a kernel, an import and three trainings: about 15 s

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "1.0-analyst-walkthrough.ipynb"


@pytest.fixture(scope="module")
def executed(tmp_path_factory):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    home = tmp_path_factory.mktemp("notebook-home")
    nb = nbformat.read(NOTEBOOK, as_version=4)
    env = {**os.environ, "PERFML_HOME": str(home), "MLFLOW_DISABLE_TELEMETRY": "true"}
    env.pop("MPLBACKEND", None)  # figures must render inline to be checked
    before = set(Path(tempfile.gettempdir()).glob("perfml-walkthrough-*"))
    client = nbclient.NotebookClient(
        nb, kernel_name="python3", timeout=180, resources={"metadata": {"path": str(home)}}
    )
    # The kernel is a child process: the environment is how it learns where PERFML_HOME is.
    client.execute(env=env)
    stray = set(Path(tempfile.gettempdir()).glob("perfml-walkthrough-*")) - before
    return nb, home, stray


def _outputs(nb, kind: str) -> list:
    return [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []) if o.get("output_type") == kind]


def test_runs_without_errors(executed):
    nb, home, stray = executed
    assert not _outputs(nb, "error")
    assert (home / "mlflow.db").exists()  # state went to the PERFML_HOME given through the environment
    assert not stray  # a given home means no temporary folder of its own


def test_no_progress_bar_warnings(executed):
    nb, _, _ = executed
    stderr = "".join(o.get("text", "") for o in _outputs(nb, "stream") if o.get("name") == "stderr")
    assert "TqdmWarning" not in stderr and "IProgress not found" not in stderr


def test_shows_metrics_shap_and_profile(executed):
    nb, _, _ = executed
    text = "".join(o.get("text", "") for o in _outputs(nb, "stream"))
    line = next(ln for ln in text.splitlines() if ln.startswith("WALKTHROUGH_RESULT "))
    result = json.loads(line.removeprefix("WALKTHROUGH_RESULT "))
    assert result["registered"] == ["decline", "high-performer"]
    # numbers, not quality: the walkthrough's company is small (quality floors are tested at the default size)
    for key in ("decline_model_roc_auc", "decline_baseline_roc_auc", "profile_model_roc_auc"):
        assert 0 <= result[key] <= 1, key
    assert result["alerts"] >= 1 and result["explained_employee"]
    assert len(result["profile_top_features"]) == 5
    # two figures: the SHAP bars of one alert and the profile
    pngs = [o for o in _outputs(nb, "display_data") if "image/png" in o.get("data", {})]
    assert len(pngs) >= 2
    html = "".join(o.get("data", {}).get("text/html", "") for o in _outputs(nb, "execute_result"))
    assert "top quartile" in html and "model_roc_auc" in html and "lead time" in text
