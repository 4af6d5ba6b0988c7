"""`newswatch explain`: a stored verdict and its evidence, as text. Pure."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any


def describe(rows: Sequence[dict[str, Any]]) -> str:
    """One block for the article, then one per topic: verdict, score parts, entities, sentences."""
    first = rows[0]
    lines = [
        f"{first['title']}",
        f"  {first['url'] or '(no link)'}",
        f"  {first['source']} · {first['published_at'] or 'undated'} · language "
        f"{first['language'] or '?'} · text from {first['extraction']} · story {first['story_id']}",
    ]
    for row in rows:
        if row["topic"] is None:
            lines.append("  not scored yet (run `newswatch rescore`)")
            continue
        ev = row["evidence"]
        ev = json.loads(ev) if isinstance(ev, str) else ev or {}
        muted = ev.get("muted")
        verdict = "MUTED" if muted else "MATCH" if row["matched"] else "no match"
        lines += [
            "",
            f"[{row['topic']}] {verdict}: score {row['score']:.3f} "
            f"(threshold {ev.get('threshold', '?')}, profile {row['profile_version']})",
        ]
        if muted:
            lines.append(
                f"  muted by mutes.{muted['mute']} {muted['entry']!r} (found: {muted['found']}); "
                "a muted article never matches, whatever its score"
            )
        parts = ev.get("parts") or {}
        if parts:
            shown = ", ".join(
                f"{k} {v:.3f}" for k, v in parts.items() if isinstance(v, int | float)
            )
            lines.append(f"  score parts: {shown}")
            for name, value in (parts.get("penalties") or {}).items():
                lines.append(f"  penalty {name}: {value}")
        for rule, notes in (ev.get("rules") or {}).items():
            lines.append(f"  rule {rule} fired: {' | '.join(notes)}")
        if ev.get("missing"):
            lines.append(f"  missing groups: {', '.join(ev['missing'])}")
        lines.append("  entities:")
        for name, info in (ev.get("entities") or {}).items():
            aliases = ", ".join(f"{a!r}×{n}" for a, n in (info.get("aliases") or {}).items())
            lines.append(f"    {name} [{'/'.join(info.get('groups') or [])}]: {aliases}")
        windows = ev.get("windows") or []
        if windows:
            lines.append("  where they meet:")
            for w in windows:
                lines.append(
                    f"    ({w.get('where')}, {w.get('unit')}, +{w.get('weight')}) {w.get('text')}"
                )
    return "\n".join(lines)
