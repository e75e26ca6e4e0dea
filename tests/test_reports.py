"""HTML reports after train and score: the sections people read, plots embedded, pages that render."""

import os
import shutil
import subprocess
from datetime import timedelta

import numpy as np
import pytest
from typer.testing import CliRunner

from segment.pipeline.cli import app
from segment.pipeline.score import score


def test_train_report_has_data_segments_and_both_models(trained):
    _, _, result = trained
    html = result.report_path.read_text()
    for heading in ("Data", "Segments", "Churn model", "Propensity model"):
        assert f"<h2>{heading}</h2>" in html
    assert html.count("data:image/png;base64,") >= 8  # sizes x3, silhouette, heatmap, ROC/PR and calibration x2
    assert "dropped: missing_customer_id" in html and "recency_rank" in html
    assert "<script" not in html  # self-contained and static


def test_score_summary_compares_with_the_previous_score_date(trained):
    _, cfg, _ = trained
    latest = score(cfg)
    earlier = score(cfg, latest.score_date - timedelta(days=28))
    assert "no earlier score date" in earlier.published.summary.read_text()  # nothing was scored before it
    again = score(cfg)  # the earlier partition is now the comparison point
    html = again.published.summary.read_text()
    assert f"since {earlier.score_date}" in html
    assert "Moved from active to at risk" in html and "Top at-risk high-value customers" in html
    assert "<th>previous</th>" in html and "<th>change</th>" in html


def test_runs_lists_train_runs_side_by_side(trained, monkeypatch):
    import segment.pipeline.cli

    monkeypatch.setattr(segment.pipeline.cli.out, "width", 250)
    folder, _, result = trained
    out = CliRunner().invoke(app, ["runs", "--config", str(folder / "config.yaml")], terminal_width=250)
    assert out.exit_code == 0, out.output
    assert result.run_id[:8] in out.output and "prope roc_auc" in out.output


def _chromium() -> str | None:
    return os.environ.get("CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.skipif(_chromium() is None, reason="Chromium is not installed (scripts/ci/chromium.sh installs it)")
def test_reports_render_in_headless_chromium(trained, tmp_path):
    import matplotlib.image

    _, cfg, result = trained
    pages = [result.report_path, score(cfg).published.summary]
    for page in pages:
        shot = tmp_path / f"{page.stem}.png"
        subprocess.run(
            [
                _chromium(),
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                f"--user-data-dir={tmp_path / 'profile'}",
                "--window-size=1200,1600",
                f"--screenshot={shot}",
                page.as_uri(),
            ],
            check=True,
            capture_output=True,
            timeout=120,
        )
        pixels = matplotlib.image.imread(shot)
        assert pixels.shape[0] >= 1000 and pixels.shape[1] >= 1000
        assert np.std(pixels[..., :3]) > 0.05  # text, tables and plots, not a blank page
