"""The pre-queue draw: a keyed permutation of arrival indexes, pure arithmetic like ``window.py``.

Everyone who arrives before the sale opens holds an arrival index ``i`` in ``1..N``; at opening their
place in line is ``position(K, N, i)``, a pseudorandom permutation of ``1..N`` keyed by the seed ``K``.
Any replica (and anyone holding ``K`` and ``N`` after opening) computes the same positions, so the
queue keeps no list of people. The construction is specified byte for byte in ``docs/draw.md``:

- the domain is ``0 .. 2**b - 1`` with ``b = (N - 1).bit_length()`` (the next power of two >= N);
- ``x`` splits into a high half of ``b - b // 2`` bits and a low half of ``b // 2`` bits;
- each of ``ROUNDS`` rounds XORs one half with an HMAC-SHA256 of the other (even rounds change the
  high half, odd rounds the low one), which is a bijection whatever the halves' widths;
- cycle-walking: the permutation is applied again until the value falls below ``N``.

``python -m webapp.draw verify --seed K --size N --index i`` (or ``--all``) recomputes positions.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import lru_cache

ROUNDS = 10
"""Feistel rounds; well above the four Luby-Rackoff need with a PRF, so unbalanced halves stay safe."""

DOMAIN = b"session-queue draw v1"
"""Prefix of every round's message, so these HMACs can never be confused with another use of the seed."""

SEED_BYTES = 32


class DrawError(ValueError):
    """A seed, size or index the permutation is not defined for."""


def parse_seed(text: str) -> bytes:
    """The 32-byte seed from its 64 hexadecimal digits (the form ``GET /draw`` publishes)."""
    try:
        seed = bytes.fromhex(text.strip())
    except ValueError:
        raise DrawError("the seed must be 64 hexadecimal digits") from None
    if len(seed) != SEED_BYTES:
        raise DrawError(f"the seed must be {SEED_BYTES} bytes (64 hexadecimal digits), got {len(seed)}")
    return seed


def commitment(seed: bytes) -> str:
    """``sha256(K)`` in lowercase hex: published before opening, so the seed cannot be chosen afterwards."""
    return hashlib.sha256(seed).hexdigest()


def _round(seed: bytes, size: int, number: int, half: int, width: int) -> int:
    """The round function: the first 8 bytes of HMAC-SHA256 as a big-endian integer, cut to ``width`` bits."""
    message = DOMAIN + size.to_bytes(8, "big") + bytes([number]) + half.to_bytes(8, "big")
    digest = hmac.new(seed, message, hashlib.sha256).digest()
    return int.from_bytes(digest[:8], "big") & ((1 << width) - 1)


def _feistel(seed: bytes, size: int, bits: int, x: int) -> int:
    """One pass of the unbalanced Feistel network over ``bits`` bits."""
    low_bits = bits // 2
    high_bits = bits - low_bits
    high, low = x >> low_bits, x & ((1 << low_bits) - 1)
    for number in range(ROUNDS):
        if number % 2 == 0:
            high ^= _round(seed, size, number, low, high_bits)
        else:
            low ^= _round(seed, size, number, high, low_bits)
    return (high << low_bits) | low


def _check(seed: bytes, size: int) -> None:
    if len(seed) != SEED_BYTES:
        raise DrawError(f"the seed must be {SEED_BYTES} bytes")
    if not 0 <= size < 1 << 63:
        raise DrawError("the size must be between 0 and 2**63 - 1")


def position(seed: bytes, size: int, index: int) -> int:
    """The place in line, ``1..size``, of the visitor who holds arrival index ``index`` (``1..size``)."""
    _check(seed, size)
    if not 1 <= index <= size:
        raise DrawError(f"the arrival index must be between 1 and {size}, got {index}")
    bits = (size - 1).bit_length()
    x = index - 1
    while True:  # cycle-walking ends: x's cycle in the permutation of 0..2**bits-1 contains index - 1 < size
        x = _feistel(seed, size, bits, x)
        if x < size:
            return x + 1


def order(seed: bytes, size: int) -> Iterator[tuple[int, int]]:
    """Every ``(arrival index, position)`` of a draw, by arrival index."""
    for index in range(1, size + 1):
        yield index, position(seed, size, index)


@dataclass(frozen=True)
class Draw:
    """What one queue's draw is, as Redis holds it; ``size`` is None until the sale opens."""

    seed: bytes
    opens_at_ms: int
    drawn_at_ms: int
    size: int | None = None
    opened_at_ms: int | None = None

    @property
    def commitment(self) -> str:
        return commitment(self.seed)

    @property
    def tag(self) -> str:
        """The commitment's first 16 hex digits, carried by pre-queue tickets to name the draw they entered."""
        return self.commitment[:16]

    @property
    def opened(self) -> bool:
        return self.size is not None

    def position_of(self, index: int) -> int:
        """The place of arrival index ``index`` once opened; an index past ``size`` keeps its number.

        Joins after opening are numbered ``size + 1, size + 2, ...`` by the same counter, so a number
        above ``size`` is already a place in line.
        """
        if self.size is None:
            raise DrawError("the draw has not been made yet")
        if index > self.size:
            return index
        return _cached_position(self.seed, self.size, index)


@lru_cache(maxsize=65_536)
def _cached_position(seed: bytes, size: int, index: int) -> int:
    """Polls repeat the same tickets: each replica computes each place once (about 20 HMACs)."""
    return position(seed, size, index)


def _main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m webapp.draw", description="Recompute a pre-queue draw from its published seed and size."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    verify = commands.add_parser("verify", help="check positions and the commitment")
    verify.add_argument("--seed", required=True, help="the seed GET /draw revealed (64 hex digits)")
    verify.add_argument("--size", required=True, type=int, help="N, the pre-queue size GET /draw revealed")
    which = verify.add_mutually_exclusive_group(required=True)
    which.add_argument("--index", type=int, help="an arrival index (1..N): print its position")
    which.add_argument("--all", action="store_true", help="print every arrival index and its position")
    verify.add_argument("--commitment", help="the commitment published before opening; checked against sha256(seed)")
    verify.add_argument("--position", type=int, help="the position you were given; checked against the draw")
    args = parser.parse_args(argv)
    try:
        seed = parse_seed(args.seed)
        _check(seed, args.size)
        ok = True
        digest = commitment(seed)
        print(f"commitment {digest}")
        if args.commitment is not None:
            matches = hmac.compare_digest(digest, args.commitment.strip().lower())
            print("commitment matches" if matches else "commitment DOES NOT MATCH the seed")
            ok = ok and matches
        if args.all:
            for index, place in order(seed, args.size):
                print(f"{index} {place}")
        else:
            place = position(seed, args.size, args.index)
            print(f"arrival index {args.index} -> position {place}")
            if args.position is not None:
                print("position matches" if place == args.position else f"position DOES NOT MATCH ({args.position})")
                ok = ok and place == args.position
    except DrawError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(_main())
