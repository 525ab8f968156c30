"""Printing objects: the seed's kubecfg tables, JSON, YAML and templates.

- ``-o table`` (default): kubecfg's columns per kind (pods: NAME IMAGE(S)
  HOST LABELS STATUS CREATED; replicationcontrollers: NAME IMAGE(S) SELECTOR
  REPLICAS; services: NAME LABELS SELECTOR IP PORT; nodes: NAME LABELS
  STATUS), times as "3m ago", colors only when writing to a terminal (and
  ``NO_COLOR`` is unset).
- ``-o json`` / ``-o yaml``: the object (or List) exactly as the API returned it.
- ``-o template=TEXT``: ``{{.field.path}}`` placeholders (Go template field
  syntax, the subset kubecfg users wrote), one line per object of a list;
  ``{{.}}`` is the whole object as JSON; a missing field prints ``<none>``.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import sys
from collections.abc import Callable
from typing import Any, TextIO

import yaml

__all__ = ["Style", "human_age", "format_table", "render", "OutputError", "TABLES", "parse_output"]


class OutputError(ValueError):
    """An unknown output format or a bad template."""


class Style:
    """ANSI colors when enabled (a TTY without NO_COLOR); plain text otherwise."""

    def __init__(self, enabled: bool | None = None, *, stream: TextIO | None = None):
        if enabled is None:
            enabled = (stream or sys.stdout).isatty()
        self.enabled = bool(enabled) and not os.environ.get("NO_COLOR")

    def _wrap(self, code: str, text: str) -> str:
        return f"\x1b[{code}m{text}\x1b[0m" if self.enabled else text

    def bold(self, t: str) -> str:
        return self._wrap("1", t)

    def dim(self, t: str) -> str:
        return self._wrap("2", t)

    def red(self, t: str) -> str:
        return self._wrap("31", t)

    def green(self, t: str) -> str:
        return self._wrap("32", t)

    def yellow(self, t: str) -> str:
        return self._wrap("33", t)

    def cyan(self, t: str) -> str:
        return self._wrap("36", t)

    def status(self, t: str) -> str:
        if t in ("Running", "Ready", "Succeeded", "Active", "Bound"):
            return self.green(t)
        if t in ("Pending", "ContainerCreating", "Terminating", "Unknown", "SchedulingDisabled") or "," in t:
            return self.yellow(t)
        if t in ("Failed", "NotReady", "CrashLoopBackOff", "Error") or t.startswith("Err"):
            return self.red(t)
        return t


def _parse_time(s: str | None) -> dt.datetime | None:
    if not s:
        return None
    try:
        return dt.datetime.fromisoformat(s.replace("Z", "+00:00"))
    except ValueError:
        return None


def human_age(timestamp: str | None, *, now: dt.datetime | None = None) -> str:
    """"just now", "42s ago", "3m ago", "5h ago", "2d ago"; "<unknown>" without a time."""
    t = _parse_time(timestamp)
    if t is None:
        return "<unknown>"
    seconds = int(((now or dt.datetime.now(dt.UTC)) - t).total_seconds())
    if seconds < 2:
        return "just now"
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit} ago"
    return f"{seconds}s ago"


def _labels(d: dict | None) -> str:
    return ",".join(f"{k}={v}" for k, v in sorted((d or {}).items())) or "<none>"


def _images(spec: dict | None) -> str:
    return ",".join(c.get("image", "") for c in (spec or {}).get("containers") or ()) or "<none>"


def pod_status(pod: dict) -> str:
    """kubectl's STATUS: the waiting/terminated reason of a container when there is one."""
    if pod["metadata"].get("deletionTimestamp"):
        return "Terminating"
    status = pod.get("status") or {}
    phase = status.get("phase") or "Pending"
    for cs in status.get("containerStatuses") or ():
        state = cs.get("state") or {}
        reason = (state.get("waiting") or {}).get("reason") or (state.get("terminated") or {}).get("reason")
        if reason and not (reason == "Completed" and phase == "Succeeded"):
            return reason
    return phase


def _node_status(node: dict) -> str:
    ready = next((c for c in (node.get("status") or {}).get("conditions") or () if c.get("type") == "Ready"), None)
    s = "Ready" if ready and ready.get("status") == "True" else ("NotReady" if ready else "Unknown")
    if (node.get("spec") or {}).get("unschedulable"):
        s += ",SchedulingDisabled"
    return s


def _ports(svc: dict) -> str:
    ports = (svc.get("spec") or {}).get("ports") or ()
    return ",".join(f"{p.get('port')}/{p.get('protocol', 'TCP')}" + (f":{p['nodePort']}" if p.get("nodePort") else "")
                    for p in ports) or "<none>"


Column = tuple[str, Callable[[dict], str]]
TABLES: dict[str, list[Column]] = {
    "pods": [
        ("NAME", lambda o: o["metadata"]["name"]),
        ("IMAGE(S)", lambda o: _images(o.get("spec"))),
        ("HOST", lambda o: (o.get("spec") or {}).get("nodeName") or "<unassigned>"),
        ("LABELS", lambda o: _labels(o["metadata"].get("labels"))),
        ("STATUS", pod_status),
        ("CREATED", lambda o: human_age(o["metadata"].get("creationTimestamp"))),
    ],
    "replicationcontrollers": [
        ("NAME", lambda o: o["metadata"]["name"]),
        ("IMAGE(S)", lambda o: _images(((o.get("spec") or {}).get("template") or {}).get("spec"))),
        ("SELECTOR", lambda o: _labels((o.get("spec") or {}).get("selector"))),
        ("REPLICAS", lambda o: f"{(o.get('status') or {}).get('readyReplicas', 0)}/"
                               f"{(o.get('spec') or {}).get('replicas', 1)}"),
        ("CREATED", lambda o: human_age(o["metadata"].get("creationTimestamp"))),
    ],
    "services": [
        ("NAME", lambda o: o["metadata"]["name"]),
        ("LABELS", lambda o: _labels(o["metadata"].get("labels"))),
        ("SELECTOR", lambda o: _labels((o.get("spec") or {}).get("selector"))),
        ("IP", lambda o: (o.get("spec") or {}).get("clusterIP") or "<none>"),
        ("PORT", _ports),
        ("CREATED", lambda o: human_age(o["metadata"].get("creationTimestamp"))),
    ],
    "nodes": [
        ("NAME", lambda o: o["metadata"]["name"]),
        ("LABELS", lambda o: _labels(o["metadata"].get("labels"))),
        ("STATUS", _node_status),
        ("CREATED", lambda o: human_age(o["metadata"].get("creationTimestamp"))),
    ],
}
_GENERIC: list[Column] = [
    ("NAME", lambda o: o["metadata"]["name"]),
    ("LABELS", lambda o: _labels(o["metadata"].get("labels"))),
    ("CREATED", lambda o: human_age(o["metadata"].get("creationTimestamp"))),
]
_STATUS_COLUMNS = {"STATUS"}


def format_table(plural: str, items: list[dict], *, style: Style, with_namespace: bool = False) -> str:
    columns = list(TABLES.get(plural, _GENERIC))
    if with_namespace:
        columns.insert(0, ("NAMESPACE", lambda o: o["metadata"].get("namespace") or ""))
    rows = [[fn(o) for _, fn in columns] for o in items]
    if not rows:
        return ""
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, (h, _) in enumerate(columns)]
    lines = ["   ".join(style.bold(h.ljust(w)) if style.enabled else h.ljust(w)
                        for (h, _), w in zip(columns, widths, strict=True)).rstrip()]
    for r in rows:
        cells = []
        for (h, _), w, cell in zip(columns, widths, r, strict=True):
            padded = cell.ljust(w)
            if h in _STATUS_COLUMNS and style.enabled:
                padded = style.status(cell) + " " * (w - len(cell))
            cells.append(padded)
        lines.append("   ".join(cells).rstrip())
    return "\n".join(lines) + "\n"


_FIELD = re.compile(r"\{\{\s*(\.[^}]*?)\s*\}\}")


def _lookup(obj: Any, path: str) -> Any:
    if path == ".":
        return obj
    cur = obj
    for part in path.strip(".").split("."):
        if isinstance(cur, dict) and part in cur:
            cur = cur[part]
        elif isinstance(cur, list) and part.isdigit() and int(part) < len(cur):
            cur = cur[int(part)]
        else:
            return None
    return cur


def _template(text: str, obj: dict) -> str:
    text = text.encode().decode("unicode_escape") if "\\" in text else text

    def sub(m: re.Match) -> str:
        v = _lookup(obj, m.group(1))
        if v is None:
            return "<none>"
        if isinstance(v, dict | list):
            return json.dumps(v, separators=(",", ":"))
        return str(v)
    return _FIELD.sub(sub, text)


def parse_output(value: str) -> tuple[str, str]:
    """``-o`` value → (format, template text)."""
    fmt, _, arg = value.partition("=")
    if fmt in ("table", "json", "yaml", "wide", "name") and not arg:
        return fmt, ""
    if fmt == "template" and arg:
        return fmt, arg
    raise OutputError(f"unknown output format {value!r}: use table, json, yaml or template=TEXT")


def render(obj: dict, *, output: str, plural: str, style: Style, with_namespace: bool = False) -> str:
    """Text for ``obj`` (one object, or a List with ``items``) in format ``output``."""
    fmt, arg = parse_output(output)
    if fmt == "json":
        return json.dumps(obj, indent=2) + "\n"
    if fmt == "yaml":
        return yaml.safe_dump(obj, sort_keys=False, default_flow_style=False)
    items = obj.get("items") if "items" in obj else [obj]
    if fmt == "name":
        return "".join(f"{plural}/{o['metadata']['name']}\n" for o in items)
    if fmt == "template":
        out = [_template(arg, o) for o in items]
        return "".join(line if line.endswith("\n") else line + "\n" for line in out)
    return format_table(plural, list(items or ()), style=style, with_namespace=with_namespace)
