"""Short chat messages (digest, alert, health alarm): plain text, pure, feed text cleaned."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from reports.render import clean_line, safe_url, shorten
from warehouse.records import Digest

CHAT_TOP = 5  # a chat message is short: the top stories, then a link to the rest
TITLE_MAX = 200
# Chat services read the text as Markdown or HTML: a feed title must not become a link, a
# mention or markup. Replaced with look-alike-free neighbours rather than escaped, because each
# service escapes differently (Apprise converts plain text for each one).
_MARKUP = str.maketrans({"<": "‹", ">": "›", "[": "(", "]": ")", "`": "'", "*": "·", "@": "＠"})


@dataclass(frozen=True)
class ChatText:
    """One chat message: a title line and a short body (plain text)."""

    title: str
    body: str


def plain(text: str, limit: int = TITLE_MAX) -> str:
    """Feed text made one harmless line: no controls, bidi tricks or markup characters."""
    return shorten(clean_line(text).translate(_MARKUP), limit)


def digest_message(digest: Digest, report_url: str | None = None) -> ChatText:
    """The period, the top stories with their links, and a link to the full report."""
    count = len(digest.stories)
    noun = "story" if count == 1 else "stories"
    title = plain(f"{digest.topic_name}: {digest.period_label} — {count} {noun}")
    lines = []
    for rank, story in enumerate(digest.stories[:CHAT_TOP], 1):
        lines.append(f"{rank}. {plain(story.title)} — {plain(story.source, 80)}")
        link = safe_url(story.url)
        if link:
            lines.append(f"   {link}")
    if count > CHAT_TOP:
        lines.append(f"… and {count - CHAT_TOP} more in the full report.")
    if not count:
        lines.append("No matching stories this period.")
    link = safe_url(report_url)
    if link:
        lines.append(f"Full report: {link}")
    return ChatText(title, "\n".join(lines))


def alert_message(
    topic_name: str, title: str, url: str | None, source: str, score: float
) -> ChatText:
    """One high-scoring story, announced the day it is found."""
    lines = [f"{plain(title)} — {plain(source, 80)} (score {score:.2f})"]
    link = safe_url(url)
    if link:
        lines.append(link)
    return ChatText(plain(f"{topic_name}: new story"), "\n".join(lines))


def health_message(headline: str, facts: list[str]) -> ChatText:
    """A health alarm or recovery: what, since when, what to check (our own words, and names)."""
    return ChatText(plain(f"newswatch: {headline}"), "\n".join(plain(f, 500) for f in facts))


def when(moment: datetime | None) -> str:
    """A moment as people read it in an alarm."""
    return f"{moment:%Y-%m-%d %H:%M} UTC" if moment else "an unknown time"
