"""Story grouping: wire copies across outlets share a story; own reports of one event do not."""

from __future__ import annotations

from flows import stories

WIRE = (
    "Britain and Poland agreed on Tuesday to build air defence missiles together in a deal worth "
    "several billion pounds, officials in London and Warsaw said. The agreement covers the joint "
    "production of missiles for the Polish Narew programme, with final assembly at a plant near "
    "Stalowa Wola and components made in the north of England. Ministers said the first batch "
    "would be delivered within three years and that engineers from both countries would train "
    "together. The deal follows the defence treaty signed by the two governments last year and "
    "a series of exercises on the alliance's eastern flank. Industry groups welcomed the decision, "
    "saying it would secure hundreds of skilled jobs in both countries for a decade or more."
)
OWN_REPORT = (
    "Polish and British defence chiefs met in Warsaw this week, where talk turned to missiles. "
    "Our correspondent says the mood was upbeat: officers described the new production line as "
    "a turning point for the army, and several spoke of the need to move faster. Critics in the "
    "opposition asked how the programme would be paid for and whether the schedule was realistic. "
    "A spokesman for the ministry said the first batch would be delivered within three years, "
    "and that details of the financing would follow before the end of the year, after a review."
)


def sig(key: str, text: str, story: str | None = None):  # type: ignore[no-untyped-def]
    signed = stories.sign(key, story or key, text)
    assert signed is not None
    return signed


def test_a_copy_with_its_own_intro_and_a_trimmed_end_is_the_same_story() -> None:
    copy = "WARSAW (Wire) — " + WIRE.rsplit(".", 2)[0] + ". Reporting by our staff."
    assert stories.overlap(sig("a", WIRE), sig("b", copy)) >= stories.OVERLAP
    ids = stories.group([sig("b", copy)], recent=[sig("a", WIRE, story="story-a")])
    assert ids == {"b": "story-a"}


def test_different_reports_of_the_same_event_stay_apart() -> None:
    assert stories.overlap(sig("a", WIRE), sig("c", OWN_REPORT)) < 0.3
    ids = stories.group([sig("c", OWN_REPORT)], recent=[sig("a", WIRE, story="story-a")])
    assert ids == {"c": "c"}


def test_copies_within_one_run_group_with_each_other() -> None:
    ids = stories.group(
        [sig("x", WIRE), sig("y", WIRE + " Updated at noon."), sig("z", OWN_REPORT)], recent=[]
    )
    assert ids["x"] == ids["y"] == "x" and ids["z"] == "z"


def test_short_texts_are_not_compared() -> None:
    assert stories.sign("t", "t", "Britain and Poland sign missile deal") is None
