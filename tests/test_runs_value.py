"""`segment runs` shows the value and timing models beside the classifiers (issue 18, "Everywhere else")."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from segment.pipeline import runs
from segment.pipeline.cli import app


def test_runs_carry_the_value_and_timing_metrics_and_champions_of_each_train_run(trained):
    from mlflow.tracking import MlflowClient

    folder, cfg, result = trained
    df = runs.latest_train_runs(cfg.tracking, 20)
    row = df[df["run"] == result.run_id[:8]].iloc[0]
    parent = MlflowClient(cfg.tracking.uri).get_run(result.run_id).data.metrics
    for model, names in runs.VALUE_METRICS.items():
        for metric in names:
            assert row[f"{model} {metric}"] == pytest.approx(parent[f"{model}_val_{metric}"])
    assert 0.3 < row["value spearman"] <= 1 and row["timing mae_days"] > 0  # real figures, not placeholders
    client = MlflowClient(cfg.tracking.uri)
    held = {m for m in ("value", "timing") if int(client.get_model_version_by_alias(m, "champion").version)
            == result.versions[m]}  # fmt: skip
    shown = row["champion"]
    for model in ("value", "timing"):
        assert (shown == "all" or runs.SHORT[model] in shown.split(", ")) == (model in held)


@pytest.mark.parametrize(("width", "expected"), [(190, "spearman"), (80, "Spear"), (50, "  value      Spear")])
def test_the_runs_command_prints_value_and_timing_in_every_layout(trained, monkeypatch, width, expected):
    from rich.console import Console

    import segment.pipeline.cli as cli

    folder, _, result = trained
    monkeypatch.setattr(cli, "out", Console(width=width, highlight=False, soft_wrap=True, record=True))
    out = CliRunner().invoke(app, ["runs", "--config", str(folder / "config.yaml")])
    assert out.exit_code == 0, out.output
    text = cli.out.export_text()
    assert result.run_id[:8] in text and expected in text


def test_short_champions():
    assert runs.short_champions([]) == "-"
    assert runs.short_champions(["churn", "propensity", "value", "timing"]) == "all"
    assert runs.short_champions(["propensity", "timing"]) == "prop, time"
