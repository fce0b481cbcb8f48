"""What every row gets: the run's settings."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Context:
    quick: bool = False

    def pick(self, full: int, quick: int) -> int:
        return quick if self.quick else full

    def seconds(self, full: float, quick: float) -> float:
        return quick if self.quick else full
