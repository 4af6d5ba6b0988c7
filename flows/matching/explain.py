"""`newswatch explain`: a stored verdict and its evidence, as text. Pure."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from warehouse.evidence import Evidence


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
        ev: Evidence = row["evidence"]
        muted = ev.muted
        verdict = "MUTED" if muted else "MATCH" if row["matched"] else "no match"
        threshold = "?" if ev.threshold is None else ev.threshold
        lines += [
            "",
            f"[{row['topic']}] {verdict}: score {row['score']:.3f} "
            f"(threshold {threshold}, profile {row['profile_version']})",
        ]
        if muted:
            lines.append(
                f"  muted by mutes.{muted.mute} {muted.entry!r} (found: {muted.found}); "
                "a muted article never matches, whatever its score"
            )
        if ev.parts is not None:
            p = ev.parts
            shown = (
                ("title", p.title),
                ("lead", p.lead),
                ("body", p.body),
                ("positive", p.positive),
            )
            lines.append(f"  score parts: {', '.join(f'{k} {v:.3f}' for k, v in shown)}")
            for name, value in p.penalties.items():
                lines.append(f"  penalty {name}: {value}")
        for rule, notes in ev.rules.items():
            lines.append(f"  rule {rule} fired: {' | '.join(notes)}")
        if ev.missing:
            lines.append(f"  missing groups: {', '.join(ev.missing)}")
        lines.append("  entities:")
        for name, found in ev.entities.items():
            aliases = ", ".join(f"{a!r}×{n}" for a, n in found.aliases.items())
            lines.append(f"    {name} [{'/'.join(found.groups)}]: {aliases}")
        if ev.windows:
            lines.append("  where they meet:")
            for w in ev.windows:
                lines.append(f"    ({w.where}, {w.unit}, +{w.weight}) {w.text}")
    return "\n".join(lines)
