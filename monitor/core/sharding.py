"""Which checks a monitor runs, and which of its worker processes runs each: rendezvous hashing, stable everywhere.

Every check goes to the share whose `weight(check, share)` is highest
(highest-random-weight, or rendezvous, hashing). The weight is a hash of
the check's name and the share's number, the same in every process and on
every machine (not Python's salted `hash()`), so:

- monitors configured `shard = "1/3"`, `"2/3"` and `"3/3"` split the checks
  between them with no coordination, each check in exactly one shard;
- going from 3 to 4 shards moves only the checks the new shard wins (about a
  quarter); the others stay where they ran, with their history and incidents;
- the worker processes of one monitor split its checks the same way, with a
  salt of their own, so the split across workers does not mirror the split
  across shards.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

SHARD_PATTERN = re.compile(r"([1-9][0-9]*)/([1-9][0-9]*)")


@dataclass(frozen=True)
class Share:
    """Share `index` (1-based) of `count`: "2/3"."""

    index: int = 1
    count: int = 1

    @classmethod
    def parse(cls, text: str) -> Share:
        """"K/N" -> Share; ValueError saying what is allowed."""
        match = SHARD_PATTERN.fullmatch(text.strip())
        if not match or not 1 <= int(match[1]) <= int(match[2]):
            raise ValueError(f'must be "K/N" with 1 <= K <= N, such as "2/3", got {text!r}')
        return cls(int(match[1]), int(match[2]))

    @property
    def whole(self) -> bool:
        return self.count == 1

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"


def weight(name: str, share: int, salt: str = "") -> int:
    digest = hashlib.blake2b(f"{salt}\0{name}\0{share}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


def owner(name: str, count: int, salt: str = "") -> int:
    """The share (1-based, of `count`) that `name` belongs to."""
    return max(range(1, count + 1), key=lambda share: weight(name, share, salt))


def select(names: Iterable[str], share: Share, salt: str = "") -> list[str]:
    """The names of `names` that fall in `share`, in their order."""
    return [name for name in names if share.whole or owner(name, share.count, salt) == share.index]


def split(names: Sequence[str], count: int, salt: str) -> list[list[str]]:
    """`names` dealt into `count` lists (share 1 first), each in the order of `names`."""
    shares: list[list[str]] = [[] for _ in range(count)]
    for name in names:
        shares[owner(name, count, salt) - 1].append(name)
    return shares
