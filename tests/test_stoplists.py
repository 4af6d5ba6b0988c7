"""justext's stop-list set, built without a second copy of every word: the same set."""

from __future__ import annotations

import justext.core
import pytest
import trafilatura.external

from flows.collect import stoplists


def test_the_same_set_holding_the_words_it_was_given(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(justext.core, "define_stoplist", justext.core.define_stoplist)
    words = trafilatura.external.JT_STOPLIST or trafilatura.external.jt_stoplist_init()
    theirs = justext.core.define_stoplist.__wrapped__(words)
    stoplists.share_words()
    ours = justext.core.define_stoplist(words)
    assert ours == theirs and len(ours) > 100_000
    assert justext.core.define_stoplist(words) is ours  # kept, as justext keeps its own
    given = {id(word) for word in words}
    assert all(id(word) in given for word in ours)  # no word copied
    mixed = ("Der", "und", "ÉTÉ")
    assert stoplists.define_stoplist(mixed) == frozenset({"der", "und", "été"})


def test_justext_classifies_through_the_shared_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(justext.core, "define_stoplist", justext.core.define_stoplist)
    stoplists.define_stoplist.cache_clear()
    stoplists.share_words()
    html = (
        "<html><body><div><p>" + "The ministers of the two countries said that they would meet "
        "again in the spring to sign the treaty and to talk about the new air defence. "
        * 3
        + "</p><p>Home | News | Sport | Contact</p></div></body></html>"
    )
    tree = trafilatura.external.basic_cleaning(trafilatura.utils.load_html(html))
    body = trafilatura.external.try_justext(tree, None, None)
    assert "ministers of the two countries" in "".join(body.itertext())
    assert stoplists.define_stoplist.cache_info().currsize >= 1
