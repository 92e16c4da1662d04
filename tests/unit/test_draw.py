"""The draw's permutation: a bijection, uniform over seeds, reproducible from the published values alone."""

from __future__ import annotations

import hashlib
from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from webapp import draw
from webapp.draw import Draw, DrawError


def seed_of(label: str | int) -> bytes:
    """Deterministic 32-byte seeds, so every run tests the same draws."""
    return hashlib.sha256(f"test seed {label}".encode()).digest()


SEED = seed_of("fixed")

# Critical values of the chi-square distribution at significance 0.001 (upper tail), by degrees of freedom.
CHI2_CRITICAL_0_001 = {7: 24.322, 49: 85.351}


def chi_square(observed: Counter[int] | Counter[tuple[int, int]], cells: list[object], expected: float) -> float:
    return sum((observed.get(cell, 0) - expected) ** 2 / expected for cell in cells)  # type: ignore[call-overload]


@pytest.mark.parametrize("size", [1, 2, 3, 4, 5, 7, 8, 9, 1000, 1024, 1025])
def test_the_draw_is_a_bijection_on_one_to_size(size: int) -> None:
    positions = [draw.position(SEED, size, index) for index in range(1, size + 1)]
    assert sorted(positions) == list(range(1, size + 1))


@pytest.mark.parametrize("size", [2**31 + 7, 10**12 + 39, 2**62 + 1])
def test_sampled_large_sizes_stay_in_range_and_never_collide(size: int) -> None:
    indexes = {1, 2, size, size - 1, *range(size // 2, size // 2 + 500), *(size // 997 * k + 1 for k in range(997))}
    positions = [draw.position(SEED, size, index) for index in indexes]
    assert all(1 <= p <= size for p in positions)
    assert len(set(positions)) == len(positions)


@settings(max_examples=60, deadline=None)
@given(size=st.integers(min_value=1, max_value=300), label=st.integers(min_value=0, max_value=10**6))
def test_every_seed_and_small_size_gives_a_permutation(size: int, label: int) -> None:
    seed = seed_of(label)
    assert sorted(p for _, p in draw.order(seed, size)) == list(range(1, size + 1))


def test_one_arrival_lands_uniformly_over_the_positions_across_seeds() -> None:
    size, seeds = 8, 4000
    for index in (1, 5, 8):
        observed = Counter(draw.position(seed_of(s), size, index) for s in range(seeds))
        statistic = chi_square(observed, list(range(1, size + 1)), seeds / size)
        assert statistic < CHI2_CRITICAL_0_001[size - 1], f"index {index}: chi-square {statistic:.1f}"


def test_every_arrival_position_pair_is_equally_likely() -> None:
    """The 8 x 8 table of (arrival index, position) over 3200 seeds: (8-1)^2 degrees of freedom."""
    size, seeds = 8, 3200
    observed: Counter[tuple[int, int]] = Counter()
    for s in range(seeds):
        observed.update(draw.order(seed_of(f"pairs {s}"), size))
    cells: list[object] = [(i, p) for i in range(1, size + 1) for p in range(1, size + 1)]
    statistic = chi_square(observed, cells, seeds / size)
    assert statistic < CHI2_CRITICAL_0_001[49], f"chi-square {statistic:.1f}"


def test_later_joiners_come_after_every_prequeue_ticket() -> None:
    opened = Draw(SEED, opens_at_ms=0, drawn_at_ms=0, size=50, opened_at_ms=1)
    prequeue = [opened.position_of(i) for i in range(1, 51)]
    later = [opened.position_of(i) for i in range(51, 80)]
    assert max(prequeue) == 50 < min(later)
    assert later == list(range(51, 80))


def test_the_commitment_is_sha256_of_the_revealed_seed() -> None:
    revealed = Draw(SEED, 0, 0, size=3, opened_at_ms=1)
    assert revealed.commitment == hashlib.sha256(SEED).hexdigest()
    assert revealed.tag == revealed.commitment[:16]
    assert draw.parse_seed(SEED.hex()) == SEED


def test_the_permutation_depends_on_the_seed_and_the_size() -> None:
    assert [p for _, p in draw.order(SEED, 20)] != [p for _, p in draw.order(seed_of("other"), 20)]
    assert [p for _, p in draw.order(SEED, 20)] != [p for _, p in draw.order(SEED, 21)][:20]


def test_known_answers_pin_the_specification() -> None:
    """docs/draw.md quotes these: a re-implementation that matches them matches the draw."""
    seed = bytes(range(32))
    assert [p for _, p in draw.order(seed, 10)] == KNOWN_ORDER_OF_TEN


KNOWN_ORDER_OF_TEN = [7, 3, 1, 6, 9, 8, 10, 4, 2, 5]


@pytest.mark.parametrize(("size", "index"), [(0, 1), (5, 0), (5, 6), (-1, 1)])
def test_out_of_range_is_refused(size: int, index: int) -> None:
    with pytest.raises(DrawError):
        draw.position(SEED, size, index)


@pytest.mark.parametrize("text", ["", "zz" * 32, "ab" * 31, "ab" * 33])
def test_a_malformed_seed_is_refused(text: str) -> None:
    with pytest.raises(DrawError):
        draw.parse_seed(text)


def test_an_unopened_draw_has_no_positions() -> None:
    with pytest.raises(DrawError):
        Draw(SEED, 0, 0).position_of(1)


def test_the_verifier_prints_and_checks(capsys: pytest.CaptureFixture[str]) -> None:
    place = draw.position(SEED, 7, 3)
    digest = draw.commitment(SEED)
    args = ["verify", "--seed", SEED.hex(), "--size", "7", "--index", "3", "--commitment", digest]
    assert draw._main([*args, "--position", str(place)]) == 0
    assert f"arrival index 3 -> position {place}" in capsys.readouterr().out
    assert draw._main([*args, "--position", str(place % 7 + 1)]) == 1
    assert draw._main(["verify", "--seed", SEED.hex(), "--size", "7", "--index", "1", "--commitment", "0" * 64]) == 1
    assert draw._main(["verify", "--seed", SEED.hex(), "--size", "7", "--all"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert sorted(int(line.split()[1]) for line in lines[-7:]) == list(range(1, 8))
    assert draw._main(["verify", "--seed", "nothex", "--size", "7", "--all"]) == 2
