"""Time-zone abbreviations in text timestamps ("2011-01-05 10:00 CET"), converted from a fixed table.

DuckDB's plain TIMESTAMP cast ignores a trailing abbreviation (the time came out 1-5 hours wrong), and
ICU's names treat some of them as regions with daylight saving ("CET" in July is read as +02:00). An
abbreviation names one offset, so each one here maps to exactly that offset. Ambiguous ones (IST: India,
Ireland or Israel; CST: US Central or China) and any not listed are refused with a clear error.
"""

from __future__ import annotations

# abbreviation -> UTC offset it stands for (documented in docs/loading.md)
ABBREVIATIONS: dict[str, str] = {
    "UTC": "+00:00",
    "GMT": "+00:00",
    "WET": "+00:00",
    "WEST": "+01:00",
    "BST": "+01:00",
    "CET": "+01:00",
    "CEST": "+02:00",
    "EET": "+02:00",
    "EEST": "+03:00",
    "MSK": "+03:00",
    "EST": "-05:00",
    "EDT": "-04:00",
    "CDT": "-05:00",
    "MST": "-07:00",
    "MDT": "-06:00",
    "PST": "-08:00",
    "PDT": "-07:00",
    "AKST": "-09:00",
    "AKDT": "-08:00",
    "HST": "-10:00",
    "JST": "+09:00",
    "KST": "+09:00",
    "HKT": "+08:00",
    "SGT": "+08:00",
    "AEST": "+10:00",
    "AEDT": "+11:00",
    "ACST": "+09:30",
    "ACDT": "+10:30",
    "AWST": "+08:00",
    "NZST": "+12:00",
    "NZDT": "+13:00",
}
# a time of day followed by letters: an abbreviation (AM/PM are two letters and not matched)
SUFFIX = "[0-9] ?[A-Za-z]{3,5}$"


def abbreviation_sql(text: str) -> tuple[str, str]:
    """(condition, value) SQL over `text`: does it end in an abbreviation; the timestamp at its offset.

    The value is NULL when the abbreviation is not in the table, so the parse check reports it.
    """
    cases = " ".join(f"WHEN '{abbr}' THEN '{offset}'" for abbr, offset in ABBREVIATIONS.items())
    offset = f"CASE upper(regexp_extract({text}, '([A-Za-z]{{3,5}})$', 1)) {cases} END"
    stripped = f"rtrim(regexp_replace({text}, '[A-Za-z]{{3,5}}$', ''))"
    # a cheap test first: nearly every timestamp ends in a digit, so the regular expression rarely runs
    condition = f"(NOT (right({text}, 1) BETWEEN '0' AND '9') AND regexp_matches({text}, '{SUFFIX}'))"
    return condition, f"TRY_CAST({stripped} || {offset} AS TIMESTAMPTZ)"
