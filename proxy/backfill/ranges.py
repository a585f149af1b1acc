"""The Murmur3 token ring cut into ranges `(start, end]`, aligned with the cluster's token ownership.

Cassandra queries a range with `token(pk) > start AND token(pk) <= end`. The ring runs from
-2^63 (excluded: no key hashes there, Cassandra maps it to 2^63-1) to 2^63-1, so the wrapping range
of the last token is cut in two: `(last, MAX]` and `(MIN, first]`.
"""

from __future__ import annotations

import bisect
import itertools
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

MIN_TOKEN = -(1 << 63)
MAX_TOKEN = (1 << 63) - 1


@dataclass(frozen=True, order=True)
class TokenRange:
    start: int  # excluded
    end: int  # included

    def __post_init__(self) -> None:
        if not MIN_TOKEN <= self.start < self.end <= MAX_TOKEN:
            raise ValueError(f"invalid token range ({self.start}, {self.end}]")

    @property
    def id(self) -> str:
        return f"{self.start}:{self.end}"

    @classmethod
    def parse(cls, text: str) -> TokenRange:
        a, _, b = text.partition(":")
        return cls(int(a), int(b))

    def width(self) -> int:
        return self.end - self.start

    def contains(self, token: int) -> bool:
        return self.start < token <= self.end


def owned_ranges(tokens: Iterable[int]) -> list[TokenRange]:
    """One range per token: `(previous token, token]`, the wrap-around cut at the ring's ends."""
    ts = sorted(set(tokens))
    if not ts:
        return [TokenRange(MIN_TOKEN, MAX_TOKEN)]
    out = [TokenRange(a, b) for a, b in itertools.pairwise(ts)]
    if ts[-1] < MAX_TOKEN:
        out.append(TokenRange(ts[-1], MAX_TOKEN))
    if ts[0] > MIN_TOKEN:
        out.append(TokenRange(MIN_TOKEN, ts[0]))
    return sorted(out)


def split(ranges: Sequence[TokenRange], splits: int) -> list[TokenRange]:
    """About `splits` ranges in all (at least one per owned range), each owned range cut in parts
    proportional to its width, so a cut never crosses an ownership boundary."""
    total = sum(r.width() for r in ranges)
    out: list[TokenRange] = []
    for r in ranges:
        parts = max(1, round(splits * r.width() / total)) if total else 1
        parts = min(parts, r.width())
        step = r.width() // parts
        start = r.start
        for i in range(parts):
            end = r.end if i == parts - 1 else start + step
            out.append(TokenRange(start, end))
            start = end
    return sorted(out)


def plan(tokens: Iterable[int], splits: int) -> list[TokenRange]:
    return split(owned_ranges(tokens), splits)


class RangeIndex:
    """Maps tokens to ranges quickly (bisect over the range ends)."""

    def __init__(self, ranges: Sequence[TokenRange]) -> None:
        self.ranges = sorted(ranges)
        self._ends = [r.end for r in self.ranges]

    def find(self, token: int) -> TokenRange | None:
        i = bisect.bisect_left(self._ends, token)
        if i < len(self.ranges) and self.ranges[i].contains(token):
            return self.ranges[i]
        return None


def sample(ranges: Sequence[TokenRange], percent: float, seed: int | None = None) -> list[TokenRange]:
    """A random `percent` of the ranges (at least one), for `validate --sample`."""
    if percent >= 100:
        return list(ranges)
    k = max(1, round(len(ranges) * percent / 100))
    return sorted(random.Random(seed).sample(list(ranges), k))
