"""Config files: YAML in, a validated `Config` out (the schema itself is `segment.config`).

Relative paths resolve against the folder of the config file, so a run does not depend on the current
working directory; `--set key.sub=value` overrides apply before validation.
"""

from __future__ import annotations

import difflib
import os
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from segment.config import Config, OutputConfig, TrackingConfig
from segment.errors import ConfigError


def _resolve(path: str, base: Path) -> str:
    p = Path(os.path.expanduser(path))
    return str(p if p.is_absolute() else (base / p).resolve())


def _resolve_sqlite(uri: str, base: Path) -> str:
    prefix = "sqlite:///"
    if uri.startswith(prefix) and not uri.startswith(prefix + "/") and uri != prefix + ":memory:":
        return prefix + _resolve(uri[len(prefix) :], base)
    return uri


def resolve_paths(raw: dict[str, Any], base: Path) -> dict[str, Any]:
    """Make every relative path in a raw config absolute against `base` (the config's folder)."""
    raw = {k: (dict(v) if isinstance(v, dict) else v) for k, v in raw.items()}
    data = raw.get("data")
    if isinstance(data, dict) and "source" in data:
        src = data["source"]
        data["source"] = [_resolve(s, base) for s in ([src] if isinstance(src, str) else src)]
    if isinstance(data, dict) and isinstance(data.get("sql"), dict) and isinstance(data["sql"].get("url"), str):
        data["sql"] = {**data["sql"], "url": _resolve_sqlite(data["sql"]["url"], base)}
    tracking = raw.setdefault("tracking", {})
    if isinstance(tracking, dict):
        tracking["uri"] = _resolve_sqlite(tracking.get("uri", TrackingConfig().uri), base)
        tracking["artifact_root"] = _resolve(tracking.get("artifact_root", TrackingConfig().artifact_root), base)
    output = raw.setdefault("output", {})
    if isinstance(output, dict):
        output["root"] = _resolve(output.get("root", OutputConfig().root), base)
        if output.get("database_url"):
            output["database_url"] = _resolve_sqlite(output["database_url"], base)
    return raw


def _format_validation(err: ValidationError, path: Path) -> str:
    lines = [f"config {path} is invalid:"]
    for e in err.errors():
        loc = ".".join(str(p) for p in e["loc"])
        if e["type"] == "extra_forbidden":
            lines.append(f"  {loc}: unknown key" + _did_you_mean(e["loc"]))
        else:
            lines.append(f"  {loc}: {e['msg']}" + (f" (got {e['input']!r})" if e["type"] != "missing" else ""))
    return "\n".join(lines)


def known_keys(loc: tuple) -> list[str]:
    """The keys the config schema allows at the section holding `loc` (its last part is the key itself)."""
    model: Any = Config
    for part in loc[:-1]:
        if isinstance(part, int):  # an item of a list of sections
            continue
        field = getattr(model, "model_fields", {}).get(part)
        if field is None:
            return []
        model = field.annotation
        # an optional section (X | None) or a list of sections: the model inside
        for arg in getattr(model, "__args__", ()):
            if isinstance(arg, type) and issubclass(arg, BaseModel):
                model = arg
        if not (isinstance(model, type) and issubclass(model, BaseModel)):
            return []
    return list(getattr(model, "model_fields", {}))


def _did_you_mean(loc: tuple) -> str:
    """A suggestion for a misspelled key ("; did you mean 'columns'?") from the section's known keys."""
    close = difflib.get_close_matches(str(loc[-1]), known_keys(loc), n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""


def apply_overrides(raw: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Apply `key.sub=value` overrides (value parsed as YAML) to a raw config mapping."""
    for item in overrides:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"override {item!r} must look like key.sub=value")
        node = raw
        parts = key.split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(f"override {item!r}: {part!r} is not a section")
        node[parts[-1]] = yaml.safe_load(value)
    return raw


def load_config(path: str | Path, overrides: list[str] | None = None) -> Config:
    """Read, resolve and validate a YAML config; raises ConfigError with every problem named."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file {path} does not exist")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as e:
        raise ConfigError(f"config {path} is not valid YAML: {e}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"config {path} must be a mapping of sections, got {type(raw).__name__}")
    raw = apply_overrides(raw, overrides or [])
    try:
        return Config.model_validate(resolve_paths(raw, path.resolve().parent))
    except ValidationError as e:
        raise ConfigError(_format_validation(e, path)) from None


def flatten(cfg: BaseModel, prefix: str = "") -> dict[str, str]:
    """Flatten a config into dotted keys for MLflow params."""
    out: dict[str, str] = {}
    for key, value in cfg.model_dump(mode="json").items():
        _flatten_into(out, f"{prefix}{key}", value)
    return out


def _flatten_into(out: dict[str, str], key: str, value: Any) -> None:
    if isinstance(value, dict):
        for k, v in value.items():
            _flatten_into(out, f"{key}.{k}", v)
    else:
        out[key] = str(value)[:500]
