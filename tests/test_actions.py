"""Marketing actions on the real sample: audiences, campaigns with a control group, replenishment lists."""

from __future__ import annotations

import json
import re
import shutil
import sys
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from segment.config import AudienceFilter
from segment.errors import ConfigError, InputError, UserError
from segment.features.replenishment import due_for_refill, replenishment, repurchase_intervals
from segment.pipeline import actions_outputs, audiences, campaign_report, campaigns, outputs
from segment.pipeline.cli import main
from segment.pipeline.config_file import load_config
from segment.pipeline.prepare import connect, prepare
from segment.pipeline.scoring_value import empty_value_columns
from segment.schema import SEGMENT_TABLE
from tests.conftest import NON_PRODUCT, RETAIL_COLUMNS, SAMPLE, write_config

START = date(2011, 6, 30)
END = date(2011, 9, 28)
AUDIENCES = {
    "everyone": {},
    "regulars": {"orders": {"min": 3}, "countries": ["United Kingdom"]},
    "nobody": {"columns": {"rfm_segment": {"in": ["No Such Segment"]}}},
    "bad_column": {"columns": {"lifetime_value": {"min": 10}}},
}


def fake_segment_table(con, when: date) -> pd.DataFrame:
    """A segment table at `when` for every sample customer with a purchase by then (real RFM, seeded scores)."""
    df = con.execute(
        """SELECT customer_id, date_diff('day', CAST(max(ts) AS DATE), CAST(? AS DATE)) AS recency_days,
                  count(*) AS frequency, sum(net) AS monetary
           FROM orders WHERE gross > 0 AND ts < CAST(? AS DATE) + INTERVAL 1 DAY GROUP BY 1 ORDER BY 1""",
        [when, when],
    ).df()
    rng = np.random.default_rng(0)
    n = len(df)
    for s, col in (("r_score", "recency_days"), ("f_score", "frequency"), ("m_score", "monetary")):
        ranks = df[col].rank(method="first", ascending=(s != "r_score"))
        df[s] = (1 + (5 * (ranks - 1) // n)).astype("int64")
    df["rfm_segment"] = np.where(df["f_score"] >= 4, "Loyal", "Others")
    df["lifecycle_stage"] = np.where(df["recency_days"] < 90, "active", "lapsed")
    df["cluster_id"] = (df["m_score"] > 3).astype("int64")
    df["cluster_name"] = np.where(df["cluster_id"] == 1, "big spenders", "others")
    df["churn_probability"] = rng.uniform(0, 1, n)
    df["purchase_probability"] = rng.uniform(0.2, 0.6, n)
    df["churn_risk"] = np.select(
        [df["churn_probability"] < 0.3, df["churn_probability"] < 0.6], ["low", "medium"], "high"
    )
    df["propensity_decile"] = (1 + df["purchase_probability"].rank(method="first").sub(1).mul(10).floordiv(n)).astype(
        "int64"
    )
    df["score_date"] = when
    df["model_versions"], df["run_id"] = "test", "test"
    df = df.merge(empty_value_columns(df["customer_id"]).drop(columns="customer_id"), left_index=True, right_index=True)
    return df[list(SEGMENT_TABLE)].astype({"recency_days": float, "frequency": float})


@pytest.fixture(scope="module")
def sample():
    """The bundled sample loaded once: (connection with lines/orders, segment table at START)."""
    cfg = load_config(Path(__file__).resolve().parents[1] / "configs" / "default.yaml")
    con = connect()
    prepare(con, cfg.data)
    return con, fake_segment_table(con, START)


@pytest.fixture
def project(tmp_path, sample):
    """A config over the sample with the test audiences and the segment table of START under its output root."""
    data = {"source": [str(SAMPLE / "*.parquet")], "columns": RETAIL_COLUMNS, "non_product_codes": NON_PRODUCT}
    path = write_config(tmp_path, data, audiences=AUDIENCES, replenishment={"min_customers": 5, "due_within_days": 30})
    cfg = load_config(path)
    outputs.write_partition(sample[1], Path(cfg.output.root) / "segment_table", START)
    return path, cfg


def _cli(monkeypatch, capsys, *args: str) -> tuple[int, str, str]:
    monkeypatch.setattr(sys, "argv", ["segment", *args, "--quiet"])
    with pytest.raises(SystemExit) as exc:
        main()
    got = capsys.readouterr()
    return exc.value.code, got.out, got.err


# ---------------------------------------------------------------- audiences


def test_each_condition_selects_what_it_says(sample):
    """Cross-check every kind of condition against the same definition computed in pandas."""
    con, table = sample
    orders = con.table("orders").df()
    lines = con.table("lines").df()
    cut = pd.Timestamp(START) + pd.Timedelta(days=1)
    bought = orders[(orders.gross > 0) & (orders.ts < cut)]
    stats = bought.groupby("customer_id").agg(
        n=("order_id", "size"), aov=("gross", "mean"), first=("ts", "min"), last=("ts", "max")
    )
    recent = lines[(lines.amount > 0) & (lines.timestamp < cut) & (lines.timestamp >= cut - pd.Timedelta(days=60))]
    f = AudienceFilter.model_validate(
        {
            "columns": {"rfm_segment": {"not_in": ["Others"]}, "propensity_decile": {"min": 3, "max": 9}},
            "orders": {"min": 4},
            "order_value": {"min": 250},
            "first_order": {"max": "2010-06-30"},
            "last_order": {"min": "2011-01-01"},
            "products": ["85123A", "22423", "84879"],
            "bought_within_days": 60,
        }
    )
    got = audiences.select(con, table, f, START, "check")
    s = stats.reindex(table.customer_id)
    expected = table[
        (table.rfm_segment != "Others").to_numpy()
        & table.propensity_decile.between(3, 9).to_numpy()
        & (s.n >= 4).to_numpy()
        & (s.aov >= 250).to_numpy()
        & (s["first"].dt.date <= date(2010, 6, 30)).to_numpy()
        & (s["last"].dt.date >= date(2011, 1, 1)).to_numpy()
        & table.customer_id.isin(recent[recent.product_id.isin(["85123A", "22423", "84879"])].customer_id).to_numpy()
    ]
    assert len(expected) > 5  # a real selection, not an empty one
    assert got.members.customer_id.tolist() == sorted(expected.customer_id)
    # --explain: in order, each condition removes what the previous ones left; the last row is the audience
    ex = got.explain
    assert ex.customers_left.iloc[0] == len(table) and ex.customers_left.iloc[-1] == len(expected)
    assert (ex.removed.iloc[1:].to_numpy() == -np.diff(ex.customers_left.to_numpy())).all()
    assert ex.removed_alone.iloc[1] == (table.rfm_segment == "Others").sum()
    assert len(ex) == 1 + 8  # scored, then one row per condition (the decile range is two)


def test_filters_compile_to_parameters_and_an_injection_stays_a_value(sample):
    con, table = sample
    attack = "United Kingdom') OR 1=1; DROP TABLE lines; --"
    f = AudienceFilter.model_validate({"countries": [attack], "columns": {"rfm_segment": {"in": ["x' OR '1'='1"]}}})
    conds = audiences.compile_filter(f, table, START, "attack")
    assert all(attack not in c.sql and "OR '1'" not in c.sql for c in conds)
    assert [attack] in [list(c.params) for c in conds]
    got = audiences.select(con, table, f, START, "attack")
    assert got.members.empty and got.explain.removed_alone.iloc[1:].tolist() == [len(table), len(table)]
    assert con.execute("SELECT count(*) FROM lines").fetchall()[0][0] > 0  # still there
    everyone = audiences.select(con, table, AudienceFilter(), START, "everyone")
    assert len(everyone.members) == len(table)


def test_bad_filters_fail_clearly(sample, tmp_path):
    con, table = sample
    f = AudienceFilter.model_validate({"columns": {"lifetime_value": {"min": 1}}})
    with pytest.raises(ConfigError, match="unknown column 'lifetime_value'.*churn_probability"):
        audiences.select(con, table, f, START, "x")
    with pytest.raises(ConfigError, match="numeric"):
        audiences.select(
            con, table, AudienceFilter.model_validate({"columns": {"m_score": {"in": ["high"]}}}), START, "x"
        )
    data = {"source": [str(SAMPLE / "*.parquet")], "columns": RETAIL_COLUMNS}
    for bad, message in (
        ({"a": {"countrys": ["UK"]}}, "countrys"),
        ({"a": {"orders": {"min": 5, "max": 2}}}, "above max"),
        ({"a": {"bought_within_days": 30}}, "needs `products`"),
        ({"a b": {}}, "audience names"),
        ({"a": {"categories": ["x"]}}, "category is not mapped"),
    ):
        with pytest.raises(ConfigError, match=message):
            load_config(write_config(tmp_path, data, audiences=bad))


# ---------------------------------------------------------------- replenishment


def test_repurchase_intervals_are_point_in_time(sample):
    con, _ = sample
    con.execute("CREATE OR REPLACE TEMP TABLE lines_later AS SELECT * FROM lines")
    before = repurchase_intervals(con, START, 5, lines="lines_later")
    due = due_for_refill(con, START, 5, 30, lines="lines_later")
    # every later line bought again the next day, plus new customers buying the top products after the date
    con.execute(
        """INSERT INTO lines_later SELECT * REPLACE ("timestamp" + INTERVAL 1 DAY AS "timestamp") FROM lines
           WHERE "timestamp" >= DATE '2011-07-01'"""
    )
    con.execute(
        """INSERT INTO lines_later SELECT * REPLACE ('new' || customer_id AS customer_id,
           DATE '2011-07-01' + INTERVAL 3 HOUR AS "timestamp") FROM lines WHERE "timestamp" < DATE '2011-07-01'"""
    )
    pd.testing.assert_frame_equal(repurchase_intervals(con, START, 5, lines="lines_later"), before)
    pd.testing.assert_frame_equal(due_for_refill(con, START, 5, 30, lines="lines_later"), due)
    both = replenishment(con, START, 5, 30, lines="lines_later")  # one pass over the lines, same answers
    pd.testing.assert_frame_equal(both[0], before)
    pd.testing.assert_frame_equal(both[1], due)
    assert len(before) > 20 and len(due) > 20
    assert (before.customers >= 5).all() and (before.q25_days <= before.median_days).all()
    assert (before.median_days <= before.q75_days).all() and (before.q25_days >= 1).all()
    # the due list: due in (date, date + 30], last purchase at or before the date
    assert (due.due_date > START).all() and (due.due_date <= START + timedelta(days=30)).all()
    assert (due.last_purchase <= START).all()


def test_repurchase_intervals_by_hand(sample):
    """Two customers buying product P on days 0, 10, 30 and 0, 20: intervals 10, 20, 20 -> median 20."""
    con, _ = sample
    rows = [("a", "2011-01-01"), ("a", "2011-01-01"), ("a", "2011-01-11"), ("a", "2011-01-31")]
    rows += [("b", "2011-01-05"), ("b", "2011-01-25"), ("c", "2011-01-20")]
    df = pd.DataFrame(rows, columns=["customer_id", "day"]).assign(
        timestamp=lambda d: pd.to_datetime(d.day), product_id="P", amount=5.0
    )
    con.register("hand_lines", df.drop(columns="day"))
    got = repurchase_intervals(con, date(2011, 2, 28), 2, lines="hand_lines")
    assert got.to_dict("records") == [
        {"product_id": "P", "customers": 2, "repurchases": 3, "median_days": 20.0, "q25_days": 15.0, "q75_days": 20.0}
    ]
    # a: last 01-31 + 20 = 02-20; b: 01-25 + 20 = 02-14; c bought once but the product qualifies: 01-20 + 20 = 02-09
    due = due_for_refill(con, date(2011, 2, 10), 2, 7, lines="hand_lines")
    assert due[["customer_id", "due_date"]].values.tolist() == [["b", date(2011, 2, 14)]]
    # point in time: on 01-30 a's second gap (01-31) is not seen yet -> gaps 10 (a) and 20 (b); on 01-24 only a's
    assert repurchase_intervals(con, date(2011, 1, 30), 2, lines="hand_lines").median_days.tolist() == [15.0]
    assert repurchase_intervals(con, date(2011, 1, 24), 2, lines="hand_lines").empty
    con.unregister("hand_lines")


# ---------------------------------------------------------------- campaigns


def test_campaign_start_is_idempotent_and_refuses_another_definition(project, sample):
    _, cfg = project
    con, table = sample
    first = campaigns.start(cfg, con, "spring", "regulars", START, 0.3)
    members = pd.read_parquet(first.members)
    expected = audiences.select(con, table, cfg.audiences["regulars"], START, "regulars").members
    assert members.customer_id.tolist() == expected.customer_id.tolist() and not first.existed
    assert members.arm.tolist() == campaigns.members_frame("spring", expected, 0.3).arm.tolist()
    assert set(members.columns) >= {"customer_id", "arm", "rfm_segment", "lifecycle_stage", "cluster_name"}
    contact = pd.read_csv(first.contact, dtype={"customer_id": str})
    assert sorted(contact.customer_id) == sorted(members.customer_id[members.arm == "test"])
    assert 0 < first.mde < 0.5
    stamp = {p.name: p.stat().st_mtime_ns for p in first.folder.iterdir()}
    again = campaigns.start(cfg, con, "spring", "regulars", None, 0.3)  # the date defaults to the recorded start
    assert again.existed and again.arms == first.arms
    assert {p.name: p.stat().st_mtime_ns for p in first.folder.iterdir()} == stamp
    engine = sa.create_engine(f"sqlite:///{Path(cfg.output.root) / 'segments.db'}")
    with engine.connect() as c:
        assert c.execute(sa.text("SELECT count(*) FROM campaigns")).scalar() == 1
        assert c.execute(sa.text("SELECT count(*) FROM campaign_members")).scalar() == len(members)
    with pytest.raises(UserError, match="another definition.*control_share"):
        campaigns.start(cfg, con, "spring", "regulars", START, 0.5)
    with pytest.raises(UserError, match="another definition.*audience"):
        campaigns.start(cfg, con, "spring", "everyone", START, 0.3)
    shutil.rmtree(first.folder)  # the database still holds it: never recorded twice
    with pytest.raises(UserError, match="folder .* is missing"):
        campaigns.start(cfg, con, "spring", "regulars", START, 0.3)
    assert not first.folder.exists()


def test_bad_input_exits_2_with_one_message_and_writes_nothing(project, monkeypatch, capsys):
    path, cfg = project
    root = Path(cfg.output.root)
    start = ["campaign", "start", "--config", str(path), "--name"]
    cases = [
        (["audience", "--config", str(path), "--name", "bad_column"], "unknown column 'lifetime_value'"),
        (["audience", "--config", str(path), "--name", "missing"], "unknown audience 'missing'"),
        (["audience", "--config", str(path), "--name", "everyone", "--date", "2011-01-01"], "no segment table"),
        ([*start, "c1", "--audience", "nobody"], "audience 'nobody' has no members"),
        ([*start, "c2", "--audience", "everyone", "--control", "1"], "outside \\(0, 1\\)"),
        ([*start, "c3", "--audience", "everyone", "--control", "0"], "outside \\(0, 1\\)"),
        ([*start, "c 4", "--audience", "everyone"], "campaign name"),
        (["campaign", "report", "--config", str(path), "--name", "c9"], "campaign 'c9' not found"),
    ]
    for args, message in cases:
        code, out, err = _cli(monkeypatch, capsys, *args)
        assert code == 2, (args, err)
        assert err.count("error:") == 1 and re.search(message, err), (args, err)
        assert "Traceback" not in err and out == ""
    assert not (root / "campaigns").exists() or not any((root / "campaigns").iterdir())
    assert not (root / "actions").exists()
    assert not (root / "segments.db").exists()


def test_report_recovers_a_simulated_effect_on_the_sample(project, sample, monkeypatch, capsys):
    """Add one order after the start for a seeded 40% of the test arm: the report's interval holds the effect."""
    path, cfg = project
    con, _ = sample
    code, out, _ = _cli(
        monkeypatch, capsys, "campaign", "start", "--config", str(path), "--name", "gift", "--audience", "everyone",
        "--date", str(START), "--control", "0.5", "--json",
    )  # fmt: skip
    assert code == 0
    started = json.loads(out)
    members = pd.read_parquet(started["members"])
    assert list(members.columns[:2]) == ["customer_id", "arm"] and started["arms"]["test"] > 300
    test_ids = members.customer_id[members.arm == "test"].to_numpy()
    chosen = np.random.default_rng(7).choice(test_ids, size=int(0.4 * len(test_ids)), replace=False)
    before = campaign_report.outcomes(con, members, START, END)
    bought = set(before.customer_id[before.orders > 0])
    true_rate = sum(c not in bought for c in chosen) / len(test_ids)
    true_revenue = 30.0 * len(chosen) / len(test_ids)

    fresh = connect()
    prepare(fresh, cfg.data)
    sim = pd.DataFrame({"customer_id": chosen, "order_id": [f"SIM{i}" for i in range(len(chosen))]})
    fresh.register("sim", sim)
    fresh.execute(
        """INSERT INTO orders (customer_id, order_id, ts, net, gross, returned)
           SELECT customer_id, order_id, TIMESTAMP '2011-07-20 10:00', 30.0, 30.0, 0.0 FROM sim"""
    )
    with_effect = campaign_report.report(cfg, fresh, "gift", END)
    no_effect = campaign_report.report(cfg, con, "gift", END)
    pr, rv = with_effect["uplift"]["purchase_rate"], with_effect["uplift"]["revenue_per_member"]
    assert pr["ci_low"] <= true_rate <= pr["ci_high"] and pr["ci_low"] > 0 and pr["p_value"] < 0.05
    assert rv["ci_low"] <= true_revenue <= rv["ci_high"]
    # the injected orders are exactly what moved: the test arm gained the new buyers, control is untouched
    t1, t0 = with_effect["arms"]["test"], no_effect["arms"]["test"]
    assert t1["buyers"] - t0["buyers"] == round(true_rate * len(test_ids))
    assert with_effect["arms"]["control"] == no_effect["arms"]["control"]
    assert t1["revenue_per_member"] - t0["revenue_per_member"] == pytest.approx(true_revenue)
    # the segments at start partition the members; Holm never lowers a p-value
    for rows in with_effect["segments"].values():
        assert sum(r["arms"]["test"]["members"] for r in rows) == t1["members"]
        assert all(
            r["uplift"]["purchase_rate"]["p_holm"] >= r["uplift"]["purchase_rate"]["p_value"] - 1e-12 for r in rows
        )

    code, out, _ = _cli(monkeypatch, capsys, "campaign", "report", "--config", str(path), "--name", "gift", "--json")
    assert code == 0
    got = json.loads(out)  # default end: the last date in the data
    assert got["end_date"] == "2011-12-09"
    for arm in ("test", "control"):
        assert {"members", "buyers", "purchase_rate", "revenue_per_member"} <= set(got["arms"][arm])
    for metric in ("purchase_rate", "revenue_per_member"):
        assert set(got["uplift"][metric]) >= {"diff", "ci_low", "ci_high", "p_value"}
    html = Path(got["html"]).read_text()
    assert "cumulative purchase rate" in html and "data:image/png" in html


def test_cumulative_rate_ends_at_the_purchase_rate(sample):
    con, table = sample
    members = campaigns.members_frame("curve", table, 0.5)
    df = campaign_report.outcomes(con, members, START, END)
    curve = campaign_report.cumulative(df, START, END)
    stats = campaign_report.compare(df)
    assert len(curve) == (END - START).days and curve.day.iloc[0] == START + timedelta(days=1)
    for arm in ("test", "control"):
        assert (np.diff(curve[arm]) >= 0).all()
        assert curve[arm].iloc[-1] == pytest.approx(stats["arms"][arm]["purchase_rate"])


def test_audience_command_prints_count_path_and_explain(project, monkeypatch, capsys):
    path, cfg = project
    code, out, _ = _cli(monkeypatch, capsys, "audience", "--config", str(path), "--name", "regulars", "--explain")
    assert code == 0 and "removed alone" in out and "orders >= 3" in out
    code, out, _ = _cli(
        monkeypatch, capsys, "audience", "--config", str(path), "--name", "regulars", "--json", "--explain"
    )
    got = json.loads(out)
    csv = pd.read_csv(got["path"], dtype={"customer_id": str})
    assert len(csv) == got["customers"] == got["explain"][-1]["customers_left"] > 0
    assert pd.read_parquet(Path(got["path"]).with_suffix(".parquet")).customer_id.tolist() == csv.customer_id.tolist()


# ---------------------------------------------------------------- scoring


def test_score_exports_audiences_and_replenishment(trained, tmp_path):
    from segment.config import ReplenishmentConfig
    from segment.pipeline.score import score

    _, cfg, _ = trained
    filters = {n: AudienceFilter.model_validate(f) for n, f in AUDIENCES.items() if n != "bad_column"}
    mine = cfg.model_copy(
        update={
            "output": cfg.output.model_copy(update={"root": str(tmp_path / "out")}),
            "audiences": filters,
            "replenishment": ReplenishmentConfig(min_customers=5, due_within_days=30),
        }
    )
    result = score(mine, START)
    folder = actions_outputs.folder(tmp_path / "out", START)
    for name in filters:
        csv = pd.read_csv(folder / "audiences" / f"{name}.csv", dtype={"customer_id": str})
        assert len(csv) == result.published.actions[f"audience_{name}"]
        assert pd.read_parquet(folder / "audiences" / f"{name}.parquet").shape == csv.shape
    assert (
        result.published.actions["audience_everyone"] == result.rows
        and result.published.actions["audience_nobody"] == 0
    )
    due = pd.read_csv(folder / "replenishment.csv")
    assert list(due.columns) == ["customer_id", "product_id", "last_purchase", "median_days", "due_date"]
    assert len(due) == result.published.actions["replenishment_due"] > 0
    assert "Audiences and replenishment" in result.published.summary.read_text()
    # a wrong filter fails the whole run before anything is written
    broken = mine.model_copy(
        update={
            "audiences": {"bad": AudienceFilter.model_validate(AUDIENCES["bad_column"])},
            "output": mine.output.model_copy(update={"root": str(tmp_path / "out2")}),
        }
    )
    with pytest.raises(ConfigError, match="lifetime_value"):
        score(broken, START)
    assert not (tmp_path / "out2" / "segment_table").exists()
    with pytest.raises(InputError):
        audiences.read_segment_table(tmp_path / "out2", None)


@pytest.mark.parametrize("path", [("audience",), ("campaign", "start"), ("campaign", "report")])
def test_every_option_of_the_action_commands_is_explained(path):
    import typer
    from typer.testing import CliRunner

    from segment.pipeline.cli import app

    command = typer.main.get_command(app)
    for part in path:
        command = command.commands[part]
    result = CliRunner().invoke(app, [*path, "--help"], terminal_width=200)
    assert result.exit_code == 0
    for param in command.params:
        if param.name != "help":
            assert param.help, f"{' '.join(path)} --{param.name} has no help text"
            assert param.opts[0] in result.output


def test_a_filter_on_segment_columns_needs_no_order_history(sample):
    import duckdb

    con, table = sample
    f = AudienceFilter.model_validate({"columns": {"churn_risk": {"in": ["high"]}, "monetary": {"min": 500}}})
    assert not audiences.needs_history(f) and audiences.needs_history(
        AudienceFilter.model_validate({"orders": {"min": 2}})
    )
    alone = audiences.select(duckdb.connect(), table, f, START, "x")  # no lines, no orders in this connection
    full = audiences.select(con, table, f, START, "x")
    expected = table[(table.churn_risk == "high") & (table.monetary >= 500)].customer_id.tolist()
    assert alone.members.customer_id.tolist() == full.members.customer_id.tolist() == sorted(expected)
    assert len(expected) > 10
