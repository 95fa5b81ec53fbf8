"""Streaming indicators, the same arithmetic in the same order as the Rust SDK's.

`Sma` reproduces pandas' `Series.rolling(n).mean()` bit for bit (Kahan-compensated running sum,
remove-then-add, the same clean-ups): Python floats are IEEE doubles, so the same operations in
the same order give the same bits as `weaver_strategy_sdk::indicators::Sma`.
"""

import math

__all__ = ["Sma", "crossover"]


def crossover(prev_a: float, prev_b: float, a: float, b: float) -> bool:
    """`a` crosses strictly above `b` between the previous and the current bar."""
    return prev_a < prev_b and a > b


class Sma:
    """Simple moving average of the last `n` values, exactly pandas' `rolling(n).mean()`."""

    __slots__ = ("n", "ring", "head", "len", "nobs", "sum", "comp_add", "comp_remove",
                 "neg_count", "same_run", "prev_value")

    def __init__(self, n: int):
        n = max(int(n), 1)
        self.n = n
        self.ring = [0.0] * n
        self.head = 0
        self.len = 0
        self.nobs = 0
        self.sum = 0.0
        self.comp_add = 0.0
        self.comp_remove = 0.0
        self.neg_count = 0
        self.same_run = 0
        self.prev_value = math.nan

    def update(self, value: float):
        """Adds the next value; returns the mean once `n` values were seen, else None."""
        n = self.n
        if self.len == n:
            head = self.head
            old = self.ring[head]
            # Remove the value leaving the window first, with its own compensation term.
            if old == old:  # not NaN
                self.nobs -= 1
                y = -old - self.comp_remove
                t = self.sum + y
                self.comp_remove = t - self.sum - y
                self.sum = t
                if math.copysign(1.0, old) < 0.0:
                    self.neg_count -= 1
            self.ring[head] = value
            head += 1
            self.head = 0 if head == n else head
        else:
            self.ring[self.len] = value
            self.len += 1
        if value == value:  # not NaN
            self.nobs += 1
            y = value - self.comp_add
            t = self.sum + y
            self.comp_add = t - self.sum - y
            self.sum = t
            if math.copysign(1.0, value) < 0.0:
                self.neg_count += 1
            if value == self.prev_value:
                self.same_run += 1
            else:
                self.same_run = 1
            self.prev_value = value
        return self.value()

    def value(self):
        """The current mean, or None during the warm-up."""
        nobs = self.nobs
        if self.len < self.n or nobs < self.n:
            return None
        result = self.sum / nobs
        if self.same_run >= nobs:
            result = self.prev_value
        elif (self.neg_count == 0 and result < 0.0) or (self.neg_count == nobs and result > 0.0):
            result = 0.0
        return result
