"""Story grouping: wire copies across outlets share a story; own reports of one event do not."""

from __future__ import annotations

import numpy as np

from flows.collect import stories
from warehouse.records import Signature

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


def test_a_tie_goes_to_the_copy_known_first() -> None:
    recent = [sig(f"r{i}", WIRE, story=f"story-{i}") for i in range(8)]  # same text, 8 stories
    for order in (recent, recent[::-1]):
        ids = stories.group([sig("new", WIRE)], recent=order)
        assert ids == {"new": order[0].story_id}


def test_a_copy_is_found_whichever_band_it_shares() -> None:
    # A signature is a candidate when any one band equals a known one's: keep one band of
    # the original and change every other value; with no band kept, it is no candidate.
    original = sig("a", WIRE, story="story-a")
    for band in (0, stories.BANDS // 2, stories.BANDS - 1):
        hashes = [h ^ 1 for h in original.hashes]
        keep = slice(band * stories.ROWS, (band + 1) * stories.ROWS)
        hashes[keep] = original.hashes[keep]
        other = Signature("b", "b", original.shingles, tuple(hashes))
        grouper = stories.Grouper([original])
        keys = stories._band_keys(other)
        assert sum(1 for b, k in zip(grouper._bands, keys, strict=True) if k in b) == 1
    unrelated = Signature("c", "c", original.shingles, tuple(h ^ 1 for h in original.hashes))
    grouper = stories.Grouper([original])
    assert not any(
        k in b for b, k in zip(grouper._bands, stories._band_keys(unrelated), strict=True)
    )


def test_the_bands_minimise_missed_and_needless_candidates_at_the_threshold() -> None:
    # datasketch's definition: false positives integrated over Jaccard [0, t], false negatives
    # over [t, 1], weighted equally, for every bands x rows that fits in the signature.
    t = stories.CANDIDATE_JACCARD
    low, high = np.linspace(0, t, 3001), np.linspace(t, 1, 7001)

    def error(b: int, r: int) -> float:
        fp = np.trapezoid(1 - (1 - low**r) ** b, low)
        fn = np.trapezoid((1 - high**r) ** b, high)
        return float(fp + fn)

    options = [
        (b, r) for b in range(1, stories.NUM_PERM + 1) for r in range(1, stories.NUM_PERM // b + 1)
    ]
    assert min(options, key=lambda br: error(*br)) == (stories.BANDS, stories.ROWS)


def test_overlap_is_the_minhash_estimate_from_the_share_of_equal_values() -> None:
    rng = np.random.default_rng(7)
    for shared in (0, 37, 100, 128):
        hashes = rng.integers(0, 2**32, (2, stories.NUM_PERM)).tolist()
        hashes[1][:shared] = hashes[0][:shared]
        a = Signature("a", "a", 400, tuple(hashes[0]))
        b = Signature("b", "b", 250, tuple(hashes[1]))
        jaccard = float(np.mean(np.array(a.hashes) == np.array(b.hashes)))
        assert jaccard == shared / stories.NUM_PERM
        expected = jaccard * (400 + 250) / (1 + jaccard) / 250
        assert stories.overlap(a, b) == expected
