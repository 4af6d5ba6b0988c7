"""The language model read from its uncompressed copy: the same answers as py3langid's own."""

from __future__ import annotations

from array import array
from pathlib import Path

import numpy as np
import py3langid
import pytest

from flows.collect import language

SENTENCES = [
    "The two defence ministers met in London to sign a new treaty on air defence.",
    "Ministrowie obrony obu krajów podpisali w Warszawie nowy traktat o obronie powietrznej.",
    "Die Verteidigungsminister beider Länder unterzeichneten in Berlin einen neuen Vertrag.",
    "Les ministres de la Défense ont signé à Paris un nouveau traité sur la défense aérienne.",
    "I ministri della difesa hanno firmato a Roma un nuovo trattato sulla difesa aerea.",
    "Министры обороны двух стран подписали в Москве новый договор о противовоздушной обороне.",
]


@pytest.fixture(scope="module")
def packaged() -> object:
    return language.langid.LanguageIdentifier.from_model_file(language.packaged_model())


def test_the_copy_gives_py3langid_s_answers(tmp_path: Path, packaged: object) -> None:
    identifier = language.load_identifier(tmp_path)
    copy = language.cached_model_path(tmp_path)
    assert copy.exists()  # written on the first load
    again = language.load_identifier(tmp_path)  # read from the copy
    for sentence in SENTENCES:
        expected = packaged.classify(sentence)  # type: ignore[attr-defined]
        assert identifier.classify(sentence) == expected == again.classify(sentence)
        assert expected == py3langid.classify(sentence)
    assert [identifier.classify(s)[0] for s in SENTENCES] == ["en", "pl", "de", "fr", "it", "ru"]
    assert not list(tmp_path.glob("*.part"))  # no half-written file left


def test_the_copy_is_read_only_where_texts_need_it_with_the_same_scores(
    tmp_path: Path, packaged: object
) -> None:
    """Every label's score as py3langid's own, from the few rows of its tables these texts
    reach: the rest of the 68 MB stays in the file."""
    language.load_identifier(tmp_path)  # writes the copy
    identifier = language.load_identifier(tmp_path)
    assert identifier.rows_read == (0, 0)
    for sentence in SENTENCES:
        assert identifier.rank(sentence) == packaged.rank(sentence)  # type: ignore[attr-defined]
    transitions, scores = identifier.rows_read
    assert 0 < transitions < 38_346 / 10  # of its rows of 256 transitions
    assert 0 < scores < 100_053 / 10  # of its features' rows
    for sentence in SENTENCES:  # read once: asked again, nothing more is read
        assert identifier.rank(sentence) == packaged.rank(sentence)  # type: ignore[attr-defined]
    assert identifier.rows_read == (transitions, scores)
    assert list(identifier.tk_output) == list(packaged.tk_output)  # type: ignore[attr-defined]


def test_a_copy_deleted_under_a_worker_still_answers(tmp_path: Path) -> None:
    """The cache may be cleared at any time: an identifier keeps reading the file it opened."""
    identifier = language.load_identifier(tmp_path)
    assert identifier.classify(SENTENCES[0])[0] == "en"
    language.cached_model_path(tmp_path).unlink()
    assert [identifier.classify(s)[0] for s in SENTENCES[1:]] == ["pl", "de", "fr", "it", "ru"]


def test_a_copy_cut_short_is_not_read_but_replaced(tmp_path: Path) -> None:
    language.load_identifier(tmp_path)
    copy = language.cached_model_path(tmp_path)
    with copy.open("r+b") as file:  # the tables' ends missing: a disk that filled up, say
        file.truncate(copy.stat().st_size // 2)
    identifier = language.load_identifier(tmp_path)  # the packaged model answers
    assert identifier.classify(SENTENCES[4])[0] == "it"
    assert not copy.exists()
    assert language.load_identifier(tmp_path).classify(SENTENCES[4])[0] == "it"
    assert copy.stat().st_size > 1_000_000


def test_a_damaged_copy_is_replaced(tmp_path: Path) -> None:
    copy = language.cached_model_path(tmp_path)
    copy.write_bytes(b"PK\x03\x04 not a model")
    identifier = language.load_identifier(tmp_path)  # the packaged model answers
    assert identifier.classify(SENTENCES[1])[0] == "pl"
    assert isinstance(identifier.tk_output, array)  # compacted on this path too
    assert not copy.exists()  # removed: the next load writes it again
    language.load_identifier(tmp_path)
    assert copy.stat().st_size > 1_000_000


def test_an_unwritable_cache_falls_back_to_the_packaged_model(tmp_path: Path) -> None:
    blocked = tmp_path / "a-file"
    blocked.write_text("not a directory")
    identifier = language.load_identifier(blocked / "cache")
    assert identifier.classify(SENTENCES[2])[0] == "de"


def test_a_compressed_copy_is_not_mapped_but_replaced(tmp_path: Path) -> None:
    """A zip whose arrays are compressed cannot be mapped: treated as damaged, rewritten."""
    copy = language.cached_model_path(tmp_path)
    np.savez_compressed(copy.with_suffix(".tmp.npz"), ptc=np.zeros((2, 2), dtype=np.float16))
    copy.with_suffix(".tmp.npz").replace(copy)
    identifier = language.load_identifier(tmp_path)
    assert identifier.classify(SENTENCES[3])[0] == "fr"
    assert not copy.exists()
    assert language.load_identifier(tmp_path).classify(SENTENCES[3])[0] == "fr"
    assert copy.stat().st_size > 1_000_000
