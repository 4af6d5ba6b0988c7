"""A topic's mutes: sources, URL patterns and terms that never match, whatever the score."""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from fnmatch import fnmatchcase
from functools import lru_cache
from urllib.parse import urlsplit

from flows.matching.aliases import normalise
from flows.matching.match import CompiledTopic, match_text
from flows.topic import Topic
from warehouse.evidence import Muted
from warehouse.records import MatchResult


@dataclass(frozen=True)
class CompiledMutes:
    """A topic's mutes ready to test; each test gives back the entry that applied."""

    sources: tuple[tuple[int, str, str], ...]  # (index, entry, entry folded)
    urls: tuple[tuple[int, str, re.Pattern[str] | None], ...]  # regex, or None for a glob
    terms: re.Pattern[str] | None
    term_index: dict[str, int]  # each form a term is found as -> its entry


@lru_cache(maxsize=16)
def compile_mutes(topic: Topic) -> CompiledMutes:
    """Compile once per profile version (cached)."""
    mutes = topic.mutes
    forms: dict[str, int] = {}
    for index, term in enumerate(mutes.terms):
        forms.setdefault(term, index)
        if term[0].islower():  # sentence starts, as for aliases
            forms.setdefault(term[0].upper() + term[1:], index)
    alternation = "|".join(map(re.escape, sorted(forms, key=len, reverse=True)))
    return CompiledMutes(
        sources=tuple((i, s, s.casefold()) for i, s in enumerate(mutes.sources)),
        urls=tuple(
            (i, u, re.compile(u[3:]) if u.startswith("re:") else None)
            for i, u in enumerate(mutes.urls)
        ),
        terms=re.compile(rf"(?<!\w)(?:{alternation})(?!\w)") if forms else None,
        term_index=forms,
    )


def _host(url: str) -> str:
    try:
        return (urlsplit(url).hostname or "").removeprefix("www.")
    except ValueError:
        return ""


def muted_by(
    mutes: CompiledMutes, *, source: str | None, url: str | None, title: str, text: str
) -> Muted | None:
    """The first mute that applies (which, its entry, what it found), or None."""
    host = _host(url) if url else ""
    for index, entry, folded in mutes.sources:
        site = "." in folded and " " not in folded
        if (source and source.casefold() == folded) or (
            site and host and (host == folded or host.endswith("." + folded))
        ):
            return Muted(mute=f"sources[{index}]", entry=entry, found=source or host)
    if url:
        for index, pattern, regex in mutes.urls:
            if regex.search(url) if regex else fnmatchcase(url, pattern):
                return Muted(mute=f"urls[{index}]", entry=pattern, found=url)
    if mutes.terms is not None:
        both = f"{normalise(title)}\n{normalise(text)}"
        hit = mutes.terms.search(both)
        if hit:
            index = mutes.term_index[hit.group()]
            around = " ".join(both[max(0, hit.start() - 60) : hit.end() + 60].split())
            return Muted(mute=f"terms[{index}]", entry=hit.group(), found=around)
    return None


def match_article(
    compiled: CompiledTopic,
    *,
    title: str,
    text: str,
    language: str | None,
    url: str | None,
    source: str | None,
) -> MatchResult:
    """match_text, then the topic's mutes: a muted article keeps its score and never matches."""
    result = match_text(compiled, title=title, text=text, language=language)
    if not (
        compiled.topic.mutes.sources or compiled.topic.mutes.urls or compiled.topic.mutes.terms
    ):
        return result
    muted = muted_by(compile_mutes(compiled.topic), source=source, url=url, title=title, text=text)
    if muted is None:
        return result
    return dataclasses.replace(
        result, matched=False, evidence=dataclasses.replace(result.evidence, muted=muted)
    )
