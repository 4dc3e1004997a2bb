"""The detector's length calibration (fishgate/training/lengths.py)."""

from __future__ import annotations

import pytest

from fishgate.training.lengths import length_scale, summarise
from fishgate.types import SPECIES


def test_only_our_species_off_by_more_than_the_tolerance_get_a_scale() -> None:
    ratios = [
        ("atlantic_salmon", 1.05),
        ("atlantic_salmon", 1.06),
        ("atlantic_salmon", 1.07),
        ("pink_salmon", 1.01),
        ("pink_salmon", 0.99),
        ("coho_salmon", 1.30),  # a foreign label: never voted, nothing to correct
        ("sea_trout", 2.6),  # a detector this far off is broken, and a card may not say it
        ("arctic_char", 0.95),
    ]
    rows = summarise(ratios)
    assert [r.species for r in rows] == ["arctic_char", "atlantic_salmon", "pink_salmon", "sea_trout"]
    salmon = next(r for r in rows if r.species == "atlantic_salmon")
    assert (salmon.fish, salmon.median) == (3, pytest.approx(1.06))
    assert salmon.q1 < salmon.median < salmon.q3
    assert length_scale(rows) == {"atlantic_salmon": 1.06, "arctic_char": 0.95}
    assert length_scale(rows, tolerance=0.1) == {}
    assert set(length_scale(rows)) <= set(SPECIES)
