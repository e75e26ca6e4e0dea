"""Issue 22, the new user's experience: hints on own data, date checks, readable reports, exports, lineage."""

from __future__ import annotations

import re
from datetime import date, timedelta
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from segment.errors import ConfigError, InputError
from segment.features.snapshots import SnapshotPlan
from segment.pipeline import checks, exports, hints, progress, runs
from segment.pipeline.cli import app
from segment.pipeline.config_file import load_config
from segment.pipeline.htmlpage import Section, markdown_html, render
from segment.pipeline.load import load_lines
from segment.pipeline.prepare import connect
from tests.conftest import canonical_lines, engine_with_lines, write_config

# ---------------------------------------------------------------- own data: config and CSV hints

BASE = "data: {source: a.csv, columns: {customer_id: c, timestamp: t, amount: a}}\n"


@pytest.mark.parametrize(
    ("text", "hint"),
    [
        ("data: {source: a.csv, colums: {customer_id: c, timestamp: t, amount: a}}\n", "did you mean 'columns'?"),
        (BASE + "tracking: {experimnet: x}\n", "did you mean 'experiment'?"),
        (BASE + "segments: {clusters: {k_mx: 4}}\n", "did you mean 'k_max'?"),
        (BASE + "segmnets: {}\n", "did you mean 'segments'?"),
        (BASE + "segments: {rfm_rules: [{nme: X, r: [1, 5]}]}\n", "did you mean 'name'?"),
    ],
)
def test_a_misspelled_key_anywhere_gets_did_you_mean(tmp_path: Path, text, hint):
    path = tmp_path / "c.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as e:
        load_config(path)
    assert hint in str(e.value)


def test_an_unknown_key_with_no_close_match_gets_no_guess(tmp_path: Path):
    path = tmp_path / "c.yaml"
    path.write_text(BASE + "zzz: {}\n")
    with pytest.raises(ConfigError) as e:
        load_config(path)
    assert "zzz: unknown key" in str(e.value) and "did you mean" not in str(e.value)


def _csv_config(tmp_path: Path, text: str, **data) -> object:
    (tmp_path / "orders.csv").write_text(text, encoding="utf-8")
    columns = {"customer_id": "customer", "timestamp": "ordered_at", "order_id": "order_no", "amount": "total"}
    return load_config(write_config(tmp_path, {"source": ["orders.csv"], "columns": columns, **data})).data


EURO = "customer;ordered_at;order_no;total\nA1;03/01/2011 10:05;1;1.234,50\nB2;13/01/2011 11:00;2;2,55\n"


def test_a_semicolon_file_read_with_commas_says_which_delimiter(tmp_path: Path):
    cfg = _csv_config(tmp_path, EURO)
    with pytest.raises(InputError, match="set data.csv.delimiter to ';'"):
        load_lines(connect(), cfg)


def test_day_first_text_timestamps_get_a_format_hint(tmp_path: Path):
    cfg = _csv_config(tmp_path, EURO, csv={"delimiter": ";", "decimal": ","})
    with pytest.raises(InputError, match=re.escape("set data.timestamp_format to '%d/%m/%Y %H:%M'")):
        load_lines(connect(), cfg)


def test_decimal_comma_numbers_are_read_and_hinted(tmp_path: Path):
    cfg = _csv_config(tmp_path, EURO, csv={"delimiter": ";"}, timestamp_format="%d/%m/%Y %H:%M")
    with pytest.raises(InputError, match=re.escape("set data.csv.decimal to ','")):
        load_lines(connect(), cfg)
    cfg = _csv_config(tmp_path, EURO, csv={"delimiter": ";", "decimal": ","}, timestamp_format="%d/%m/%Y %H:%M")
    con = connect()
    load_lines(con, cfg)
    got = con.sql("SELECT customer_id, amount, timestamp FROM raw_lines ORDER BY customer_id").fetchall()
    assert [(c, a) for c, a, _ in got] == [("A1", 1234.5), ("B2", 2.55)]
    assert got[1][2].date() == date(2011, 1, 13)  # day-first


def test_hints_stay_quiet_when_they_have_nothing_to_say():
    assert hints.delimiter_hint(["customer", "ordered_at"]) == ""
    assert hints.delimiter_hint(["customer ordered_at"]) == ""
    assert hints.delimiter_hint(["id", "price|eur", "qty"]) == ""
    assert hints.delimiter_hint(["a\tb\tc"]) == "; the file was read as one column: set data.csv.delimiter to '\\t'"
    assert hints.timestamp_hint(["yesterday", "soon"], None) == ""
    assert hints.date_format(["12/31/2011 10:00"]) == "%m/%d/%Y %H:%M"  # not day-first: month-first is the fit
    assert hints.decimal_hint(["12.50", "x"], ".") == ""


# ---------------------------------------------------------------- dates


def _plan(first: date, n: int, step: int = 14) -> SnapshotPlan:
    train = tuple(first + timedelta(days=28 + step * i) for i in range(n))
    return SnapshotPlan(train=train, validation=(train[-1] + timedelta(days=90),), horizon_days=90)


def test_one_year_of_history_warns_about_seasonality_and_few_cutoffs():
    first = date(2011, 1, 1)
    short = checks.history_warnings(first, date(2011, 12, 31), _plan(first, 8))
    assert any("under two years" in w for w in short) and any("8 cutoff(s)" in w for w in short)
    assert checks.history_warnings(first, date(2013, 1, 2), _plan(first, 30)) == []


def test_score_dates_far_past_the_data_or_after_a_silent_year_are_refused():
    last = date(2011, 12, 9)
    assert checks.score_date_verdict(last + timedelta(days=90), last, 90, 100).ok
    far = checks.score_date_verdict(date(2030, 1, 1), last, 90, 0)
    assert not far.ok and "6598 days after the last order" in far.reason
    gap = checks.score_date_verdict(date(2011, 6, 1), last, 90, 0)
    assert not gap.ok and "no order in the year before" in gap.reason


def test_future_lines_are_counted():
    engine = engine_with_lines(
        canonical_lines(
            [
                ("A", "2011-01-05T10:00:00", "1", "P", 1, 10.0),
                ("A", "2031-01-05T10:00:00", "2", "P", 1, 10.0),
                ("B", "2031-02-05T10:00:00", "3", "P", 2, 10.0),
            ]
        )
    )
    assert checks.future_lines(engine, date(2026, 1, 1)) == 2
    assert checks.future_lines(engine, date(2031, 2, 5)) == 0
    assert "2 line(s) are dated after today" in checks.future_warning(2, date(2026, 1, 1))
    assert checks.future_warning(0, date(2026, 1, 1)) is None
    with pytest.raises(InputError, match="pass --force"):
        checks.check_score_date(engine, date(2029, 1, 1), date(2011, 1, 5), 90, force=False)
    assert "scored anyway" in checks.check_score_date(engine, date(2029, 1, 1), date(2011, 1, 5), 90, force=True)


def test_validate_counts_and_warns_about_lines_dated_in_the_future(tmp_path: Path):
    rows = "customer,ordered_at,order_no,total\n" + "".join(
        f"C{i % 7},{d.isoformat()} 10:00,{i},12.5\n"
        for i, d in enumerate(date(2029, 1, 1) + timedelta(days=9 * j) for j in range(100))
    )
    (tmp_path / "orders.csv").write_text(rows)
    columns = {"customer_id": "customer", "timestamp": "ordered_at", "order_id": "order_no", "amount": "total"}
    path = write_config(tmp_path, {"source": ["orders.csv"], "columns": columns})
    out = CliRunner().invoke(app, ["validate", "--config", str(path), "-q"], terminal_width=200)
    assert out.exit_code == 0, out.output
    future = sum(date(2029, 1, 1) + timedelta(days=9 * j) > checks.today() for j in range(100))
    assert re.search(rf"lines dated after today\s*│\s*{future}\b", out.output)
    if future:
        assert "dated after today" in out.output.split("└")[-1]  # the warning, after the table, even with -q


# ---------------------------------------------------------------- reports


CARD = """# Model card: churn (version 3)

**Question.** Will this customer <b>buy</b>?

| model | ROC-AUC |
|---|---|
| model | 0.766 |
| bgnbd | 0.763 |

1. `recency_days` (0.440)
2. `frequency` (0.212)
"""


def test_the_model_card_renders_as_html_headings_tables_and_lists():
    body = str(markdown_html(CARD))
    assert re.search(r"<h3[^>]*>Model card: churn \(version 3\)</h3>", body)  # below the section's <h2>
    assert "<table>" in body and "<th>ROC-AUC</th>" in body and "<td>0.763</td>" in body
    assert "<ol>" in body and "<code>recency_days</code>" in body and "<strong>Question.</strong>" in body
    assert "<b>" not in body and "&lt;b&gt;" in body  # text in a card is data, never markup
    page = render("t", "s", [Section("Churn model", markdown=CARD)])
    assert '<div class="card">' in page and "<pre" not in page and "**Question.**" not in page


def test_a_skipped_bgnbd_baseline_is_said_with_how_to_enable_it():
    from segment.pipeline.reports import model_notes

    assert any("models.bgnbd_baseline" in n for n in model_notes({"model": {}, "rfm_logistic": {}}))
    assert not any("BG/NBD" in n for n in model_notes({"model": {}, "bgnbd": {}}))


def _runs_frame() -> pd.DataFrame:
    row = {"run": "e7fe2a3b", "started": "2026-12-01 11:03", "status": "finished", "data": "fd797fd2", "k": "3"}
    metrics = {f"{t} {m}": 0.8 for t in ("prope", "churn") for m in runs.METRICS}
    metrics |= {"value spearman": 0.578, "value bias": 0.879, "timing mae_days": 17.0, "timing ece_30": 0.011}
    return pd.DataFrame([row | metrics | {"champion": "churn, prop, value"}] * 2)


@pytest.mark.parametrize("width", [80, 50])
def test_runs_fit_an_80_column_terminal(width, monkeypatch):
    from rich.console import Console

    import segment.pipeline.cli as cli

    monkeypatch.setattr(runs, "latest_train_runs", lambda cfg, limit: _runs_frame())
    monkeypatch.setattr(cli, "out", Console(width=width, highlight=False, soft_wrap=True, record=True))
    result = CliRunner().invoke(app, ["runs", "-q"])
    assert result.exit_code == 0, result.output
    text = cli.out.export_text()
    assert max(len(line) for line in text.splitlines()) <= width
    assert "e7fe2a3b" in text and "…" not in text  # nothing cut off


# ---------------------------------------------------------------- exports


def _table() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "customer_id": ["b", "a", "c", "d"],
            "score_date": [date(2011, 12, 9)] * 4,
            "recency_days": [1.0, 10.0, 3.0, 3.0],
            "monetary": [50.0, 500.0, 50.0, 7.0],
            "rfm_segment": ["x"] * 4,
            "lifecycle_stage": ["loyal_active", "loyal_at_risk", "new_at_risk", "new_active"],
            "cluster_name": ["k"] * 4,
            "churn_probability": [0.123456789, 0.5, 0.25, 0.1],
            "purchase_probability": [0.987654321, 0.5, 0.25, 0.1],
            "churn_risk": ["low"] * 4,
            "propensity_decile": [1, 2, 3, 4],
        }
    )


def test_exports_put_the_most_valuable_first_with_round_numbers_and_dates():
    extras = pd.DataFrame({"customer_id": ["a", "b", "c", "d"], "country": ["FR", "UK", "UK", "DE"]})
    rows = exports.export_rows(_table(), extras)
    assert list(rows["customer_id"]) == ["a", "b", "c", "d"]  # 500, then 50 by id, then 7
    assert list(rows.columns[:4]) == ["customer_id", "monetary", "last_order_date", "country"]
    assert rows.loc[1, "churn_probability"] == 0.1235 and rows.loc[1, "purchase_probability"] == 0.9877
    assert rows.loc[0, "last_order_date"] == date(2011, 11, 29) and rows.loc[0, "country"] == "FR"
    assert "expected_revenue" not in rows  # only when the segment table has it


def test_moved_to_at_risk_lists_who_slipped_since_the_previous_date():
    rows = exports.export_rows(_table())
    previous = pd.DataFrame({"customer_id": ["a", "b", "c"], "lifecycle_stage": ["loyal_active", "x", "new_active"]})
    moved = exports.moved_to_at_risk(rows, previous)
    assert list(moved["customer_id"]) == ["a", "c"] and list(moved["previous_stage"]) == ["loyal_active", "new_active"]
    assert exports.moved_to_at_risk(rows, None).empty


# ---------------------------------------------------------------- progress and lineage


def test_plain_progress_lines_for_logs(monkeypatch):
    from rich.console import Console

    console = Console(record=True, width=120, force_terminal=False)
    monkeypatch.setattr(progress, "console", console)
    progress.set_quiet(False)
    meter = progress.Meter("k tried", terminal=False, every=0.0)
    for i in range(4):
        meter(i, 3)
    text = console.export_text()
    assert "k tried: 3/3 (100%)" in text and "k tried: 1/3 (33%)" in text
    assert progress.eta_line("trials", 5, 20, 10.0) == "trials: 5/20 (25%), 10 s elapsed, about 30 s left"
    progress.set_quiet(True)
    progress.Meter("quiet", terminal=False, every=0.0)(1, 2)
    progress.warn("still shown")
    progress.set_quiet(False)
    text = console.export_text()
    assert "quiet" not in text and "warning: still shown" in text


def test_score_runs_name_their_train_runs_not_as_parent():
    from segment.pipeline.record import lineage_tags

    tags = lineage_tags(["abc123456789", "def987654321"], "7")
    assert tags["train_run_ids"] == "abc123456789,def987654321" and "mlflow.parentRunId" not in tags
    assert "#/experiments/7/runs/abc123456789" in tags["mlflow.note.content"]
    assert lineage_tags([], "7") == {}


def test_the_experiment_opens_on_runs(tmp_path: Path):
    from mlflow.tracking import MlflowClient

    from segment.config import TrackingConfig
    from segment.pipeline import tracking

    cfg = TrackingConfig(uri=f"sqlite:///{tmp_path / 'm.db'}", artifact_root=str(tmp_path / "a"), experiment="e")
    exp = tracking.setup(cfg)
    kind = MlflowClient(cfg.uri).get_experiment(exp).tags.get("mlflow.experimentKind")
    assert kind == "custom_model_development"


# ---------------------------------------------------------------- end to end on the trained sample


def test_the_train_report_shows_cards_as_html_and_explains_k(trained):
    _, _, result = trained
    html = result.report_path.read_text()
    cards = re.findall(r'<div class="card">(.*?)</div>', html, flags=re.S)
    assert len(cards) == 4  # churn, propensity, value, timing
    for card in cards[:2]:
        assert (
            re.search(r"<h3[^>]*>Model card: (churn|propensity)", card)
            and "<table>" in card
            and "<th>ROC-AUC</th>" in card
        )
    assert re.search(r"<h3[^>]*>Model card: value", cards[2]) and "<th>spearman</th>" in cards[2]
    assert re.search(r"<h3[^>]*>Model card: timing", cards[3]) and "<th>mae_days</th>" in cards[3]
    seg = result.result.segments.segmenter
    assert f"K-means: k = {seg.k_}: best silhouette ({seg.silhouette_scores_[seg.k_]:.3f})" in html
    assert "fewer than 12" in html  # the fixture trains on 4 cutoffs: the report says what that means


def test_the_runs_table_shows_the_chosen_k_silhouette(trained):
    from mlflow.tracking import MlflowClient

    _, cfg, result = trained
    client = MlflowClient(cfg.tracking.uri)
    seg = result.result.segments.segmenter
    parent = client.get_run(result.run_id).data.metrics
    assert parent["kmeans_silhouette"] == pytest.approx(seg.silhouette_scores_[seg.k_])
    assert parent["kmeans_k"] == seg.k_
    child = client.search_runs(
        [client.get_run(result.run_id).info.experiment_id], filter_string="attributes.run_name = 'segments'"
    )[0]
    series = client.get_metric_history(child.info.run_id, "kmeans_silhouette_by_k")
    assert sorted(m.step for m in series) == sorted(seg.silhouette_scores_)


def test_a_far_score_date_is_refused_unless_forced_and_score_runs_name_their_train_run(trained):
    from mlflow.tracking import MlflowClient

    from segment.pipeline.score import score

    _, cfg, result = trained
    with pytest.raises(InputError, match="pass --force"):  # an InputError: exit 2 (test_cli)
        score(cfg, date(2030, 1, 1))
    assert not (Path(cfg.output.root) / "segment_table" / "score_date=2030-01-01").exists()
    forced = score(cfg, date(2012, 6, 1), force=True)
    assert forced.rows > 0
    client = MlflowClient(cfg.tracking.uri)
    exp = client.get_run(result.run_id).info.experiment_id
    latest = client.search_runs([exp], "attributes.run_name = 'score'", order_by=["attributes.start_time DESC"])[0]
    model_runs = set(forced.table["run_id"].iloc[0].split(","))  # the runs that logged the champions
    assert set(latest.data.tags["model_run_ids"].split(",")) == model_runs
    parents = {client.get_run(r).data.tags["mlflow.parentRunId"] for r in model_runs}
    assert set(latest.data.tags["train_run_ids"].split(",")) == parents
    assert all(client.get_run(r).info.run_name == "train" for r in parents)
    assert "mlflow.parentRunId" not in latest.data.tags
    moved = forced.published.exports / exports.MOVED_FILE
    assert moved.exists() and list(pd.read_csv(moved, nrows=0).columns)[:2] == ["customer_id", "previous_stage"]
