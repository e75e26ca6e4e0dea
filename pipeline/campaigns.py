"""Campaigns with a control group: record who is in which arm at the start, then report test against control.

A campaign lives in `<output.root>/campaigns/<name>/` (campaign.json: the definition; members.parquet:
one row per member with its arm and segments at the start; contact.csv: the test arm, the list to
contact; report-<D>.html/json: the reports) and in the database tables `campaigns.table` and
`campaigns.members_table`. Starting writes the folder in a staging place and renames it inside the open
database transaction, so either both records exist or neither does.

The report counts, per member, purchase orders (gross > 0) placed in (start date, D]; revenue is their
gross value (before later returns). The statistics are in `segment.models.uplift`.
"""

from __future__ import annotations

import json
import re
import shutil
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import sqlalchemy as sa

from segment.config import AUDIENCE_NAME, Config
from segment.errors import InputError, UserError
from segment.models import uplift
from segment.models.uplift import CONTROL, TEST
from segment.pipeline import audiences, outputs
from segment.schema import CUSTOMER_ID, SCHEME_COLUMNS

MEMBER_COLUMNS = (CUSTOMER_ID, "arm", *SCHEME_COLUMNS, "churn_probability", "purchase_probability", "propensity_decile")


@dataclass
class Started:
    """What `start` recorded (or found already recorded)."""

    definition: dict
    folder: Path
    members: Path
    contact: Path
    arms: dict[str, int]
    base_rate: float
    mde: float
    existed: bool

    def to_dict(self) -> dict:
        """The `--json` object of `segment campaign start`."""
        return {
            "campaign": self.definition["name"],
            "audience": self.definition["audience"],
            "start_date": self.definition["start_date"],
            "control_share": self.definition["control_share"],
            "members": str(self.members),
            "contact_list": str(self.contact),
            "arms": self.arms,
            "base_rate": self.base_rate,
            "min_detectable_effect": self.mde,
            "already_recorded": self.existed,
        }


def check_name(name: str) -> None:
    """Campaign names name a folder: letters, digits, `_` and `-` only."""
    if not re.fullmatch(AUDIENCE_NAME, name):
        raise UserError(f"campaign name {name!r} must be 1-64 letters, digits, _ or - (it names a folder)")


def check_share(control: float) -> None:
    """The control share must leave both arms a chance of members."""
    if not 0 < control < 1:
        raise UserError(f"--control {control} is outside (0, 1): the share of the audience held out as control")


def campaign_folder(root: Path, name: str) -> Path:
    """campaigns/<name> under the output root."""
    check_name(name)
    return outputs.inside(root, "campaigns", name)


def load_definition(root: Path, name: str) -> dict:
    """The recorded definition, or a clear error naming the campaigns that exist."""
    path = campaign_folder(root, name) / "campaign.json"
    if not path.exists():
        known = sorted(p.parent.name for p in (Path(root) / "campaigns").glob("*/campaign.json"))
        raise InputError(f"campaign {name!r} not found under {root} (recorded: {', '.join(known) or 'none'})")
    return json.loads(path.read_text())


def definition(cfg: Config, name: str, audience: str, when: date, control: float) -> dict:
    """What identifies a campaign: a re-start with the same definition is a no-op, another one an error."""
    f = audiences.audience_filter(cfg, audience)
    return {
        "name": name,
        "audience": audience,
        "filter": f.model_dump(mode="json", by_alias=True, exclude_none=True),
        "start_date": when.isoformat(),
        "control_share": float(control),
    }


def members_frame(name: str, table: pd.DataFrame, control: float) -> pd.DataFrame:
    """One row per audience member: id, arm (by hash of campaign and customer), segments at the start."""
    out = table[[c for c in MEMBER_COLUMNS if c in table.columns and c != "arm"]].copy()
    out.insert(1, "arm", uplift.assign_arms(name, out[CUSTOMER_ID].astype(str), control))
    return out.sort_values(CUSTOMER_ID).reset_index(drop=True)


def _mde(members: pd.DataFrame) -> tuple[dict[str, int], float, float]:
    arms = {arm: int((members["arm"] == arm).sum()) for arm in uplift.ARMS}
    base = float(members["purchase_probability"].mean()) if "purchase_probability" in members else 0.5
    return arms, base, uplift.min_detectable_effect(arms[TEST], arms[CONTROL], base)


def start(
    cfg: Config,
    con: duckdb.DuckDBPyConnection | None,
    name: str,
    audience: str,
    when: date | None,
    control: float,
    attributes: pd.DataFrame | None = None,
) -> Started:
    """Assign the audience at `when` to arms and record the campaign; identical re-start: a no-op.

    `con` holds the clean `lines`/`orders` (needed by history filters); `when` defaults to the recorded
    start date of an existing campaign, else the latest score date.
    """
    check_name(name)
    check_share(control)
    root = Path(cfg.output.root)
    final = campaign_folder(root, name)
    existing = json.loads((final / "campaign.json").read_text()) if (final / "campaign.json").exists() else None
    if when is None and existing:
        when = date.fromisoformat(existing["start_date"])
    when, table = audiences.read_segment_table(root, when)
    wanted = definition(cfg, name, audience, when, control)
    if existing is not None:
        recorded = {k: existing[k] for k in wanted}
        if recorded != wanted:
            diff = [k for k in wanted if recorded[k] != wanted[k]]
            raise UserError(
                f"campaign {name!r} already exists with another definition (differs in: {', '.join(diff)}); "
                "choose a new name"
            )
        members = pd.read_parquet(final / "members.parquet")
        arms, base, mde = _mde(members)
        return Started(existing, final, final / "members.parquet", final / "contact.csv", arms, base, mde, True)
    if con is None:
        raise UserError("internal: the data must be loaded to start a new campaign")
    chosen = audiences.select(con, table, cfg.audiences[audience], when, audience).members
    if chosen.empty:
        raise InputError(f"audience {audience!r} has no members at {when}: campaign {name!r} was not recorded")
    members = members_frame(name, chosen, control)
    arms, base, mde = _mde(members)
    record = wanted | {
        "members": len(members),
        "arms": arms,
        "recorded_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    contact = audiences.export_frame(chosen[members["arm"].eq(TEST).to_numpy()], attributes)
    _record(cfg, final, record, members, contact)
    return Started(record, final, final / "members.parquet", final / "contact.csv", arms, base, mde, False)


def _record(cfg: Config, final: Path, record: dict, members: pd.DataFrame, contact: pd.DataFrame) -> None:
    """Stage the folder, insert the database rows, rename the folder in, then commit: all or nothing."""
    final.parent.mkdir(parents=True, exist_ok=True)
    staging = final.parent / f".staging-{final.name}-{uuid.uuid4().hex}"
    staging.mkdir()
    url = cfg.output.database_url or f"sqlite:///{Path(cfg.output.root) / 'segments.db'}"
    engine = sa.create_engine(url)
    renamed = False
    try:
        (staging / "campaign.json").write_text(json.dumps(record, indent=2))
        pq.write_table(pa.Table.from_pandas(members, preserve_index=False), staging / "members.parquet")
        contact.to_csv(staging / "contact.csv", index=False)
        row = {k: record[k] for k in ("name", "audience", "start_date", "control_share", "members", "recorded_at")}
        row |= {
            "definition": json.dumps(record["filter"], sort_keys=True),
            **{f"{a}_members": n for a, n in record["arms"].items()},
        }
        schema = cfg.output.db_schema
        with engine.begin() as conn:
            if sa.inspect(conn).has_table(cfg.campaigns.table, schema=schema):
                t = sa.Table(cfg.campaigns.table, sa.MetaData(schema=schema), autoload_with=conn)
                if conn.execute(sa.select(sa.func.count()).where(t.c.name == record["name"])).scalar():
                    raise UserError(
                        f"campaign {record['name']!r} is in table {cfg.campaigns.table!r} but its folder {final} is "
                        "missing; restore the folder or choose a new name"
                    )
            pd.DataFrame([row]).to_sql(cfg.campaigns.table, conn, schema=schema, if_exists="append", index=False)
            members.assign(campaign=record["name"], start_date=record["start_date"]).to_sql(
                cfg.campaigns.members_table, conn, schema=schema, if_exists="append", index=False, chunksize=10_000
            )
            if final.exists():
                raise UserError(f"campaign {record['name']!r} was recorded by another run meanwhile")
            staging.rename(final)
            renamed = True
    except BaseException:
        if renamed:  # the commit failed after the rename: take the folder back out
            shutil.rmtree(final, ignore_errors=True)
        raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        engine.dispose()


# ---------------------------------------------------------------- the report
