"""SQL expressions that turn a source column of any type into a canonical typed column.

Text is trimmed only where trimming can change it, numbers parsed from text (a decimal comma when the
config says so), customer ids kept as exact text, timestamps converted to the configured zone.
Columns whose type converts without parsing cannot fail, so they are not checked.
"""

from __future__ import annotations

from segment.pipeline.zones import abbreviation_sql


def quote_ident(name: str) -> str:
    """A column name as a quoted SQL identifier (any name, even with quotes in it)."""
    return '"' + name.replace('"', '""') + '"'


def text_expr(col: str) -> str:
    """`NULLIF(trim(CAST(col AS VARCHAR)), '')`, calling trim only where it can change something.

    trim removes Unicode space separators and copies every string, which makes it the costliest step of a
    scan. A non-empty pure-ASCII string (byte length = character length) that neither starts nor ends with a
    space is returned as it is: the only ASCII space separator is ' '. Every other string is trimmed.
    """
    v = f"CAST({col} AS VARCHAR)"
    return (
        f"CASE WHEN {v} <> '' AND strlen({v}) = length({v}) AND NOT prefix({v}, ' ') AND NOT suffix({v}, ' ') "
        f"THEN {v} ELSE NULLIF(trim({v}), '') END"
    )


def customer_expr(src: str, dtype: str) -> str:
    """A customer id as exact text: whole-number floats lose their `.0` (17850.0 -> '17850')."""
    col = quote_ident(src)
    if dtype in ("DOUBLE", "FLOAT", "REAL") or dtype.startswith("DECIMAL"):
        # keep exact integer text: 17850.0 -> '17850'; NaN and infinite ids are missing ids, not a cast error
        finite = f"isfinite(CAST({col} AS DOUBLE))" if not dtype.startswith("DECIMAL") else "true"
        return (
            f"CASE WHEN NOT {finite} THEN NULL "
            f"WHEN abs({col}) < 1e30 AND {col} = trunc({col}) THEN CAST(CAST({col} AS HUGEINT) AS VARCHAR) "
            f"ELSE CAST({col} AS VARCHAR) END"
        )
    return text_expr(col)


def timestamp_expr(src: str, dtype: str, fmt: str | None, zone: str) -> str:
    """Naive timestamps in `zone`: zoned values are converted to it, naive ones are taken as already in it."""
    col = quote_ident(src)
    z = zone.replace("'", "''")
    if dtype.startswith("TIMESTAMP WITH TIME ZONE"):
        return f"timezone('{z}', {col})"
    if dtype.startswith("TIMESTAMP") or dtype == "DATE":
        return f"CAST({col} AS TIMESTAMP)"
    text = text_expr(col)
    if fmt:
        parsed = f"try_strptime({text}, '{fmt.replace(chr(39), chr(39) * 2)}')"
        return f"timezone('{z}', {parsed})" if "%z" in fmt or "%Z" in fmt else parsed
    # an offset after a time of day (a bare date's "-01" is not one)
    zoned = f"regexp_matches({text}, '[0-9]:[0-9]{{2}}(:[0-9]{{2}}([.][0-9]+)?)? ?(Z|[+-][0-9]{{2}}(:?[0-9]{{2}})?)$')"
    named, converted = abbreviation_sql(text)  # "10:00 CET": from the documented table, or NULL (an error)
    return (
        f"CASE WHEN {zoned} THEN timezone('{z}', TRY_CAST({text} AS TIMESTAMPTZ)) "
        f"WHEN {named} THEN timezone('{z}', {converted}) "
        f"ELSE TRY_CAST({text} AS TIMESTAMP) END"
    )


# Types whose direct cast to DOUBLE gives the same value as the text route (shortest round-trip text of a
# DOUBLE parses back to itself; integers convert with the same rounding). FLOAT and DECIMAL keep the text route:
# a FLOAT's shortest text is not its exact value, and a wide DECIMAL's direct cast may round differently.
EXACT_DOUBLE = {"TINYINT", "SMALLINT", "INTEGER", "BIGINT", "UTINYINT", "USMALLINT", "UINTEGER", "UBIGINT", "DOUBLE"}


def numeric_expr(src: str, dtype: str, decimal: str = ".") -> str:
    """A number as DOUBLE: typed columns cast directly, text parsed (NULL where it does not parse)."""
    if dtype in EXACT_DOUBLE:  # cannot fail to parse: no text round trip, nothing to check
        return f"CAST({quote_ident(src)} AS DOUBLE)"
    text = text_expr(quote_ident(src))
    if decimal == ",":  # 1.234,50 -> 1234.50: '.' and spaces are thousands separators
        text = f"replace(regexp_replace({text}, '[. ]', '', 'g'), ',', '.')"
    return f"TRY_CAST({text} AS DOUBLE)"


def typed(canon: str, dtype: str) -> bool:
    """True when a column of type `dtype` is converted without parsing text: it cannot fail, so it is not checked."""
    if canon == "timestamp":
        return dtype.startswith("TIMESTAMP") or dtype == "DATE"
    return dtype in EXACT_DOUBLE
