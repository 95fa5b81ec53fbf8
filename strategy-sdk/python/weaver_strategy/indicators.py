"""Streaming indicators, the same arithmetic in the same order as the Rust SDK's.

`Sma` reproduces pandas' `Series.rolling(n).mean()` bit for bit (Kahan-compensated running sum,
remove-then-add, the same clean-ups): Python floats are IEEE doubles, so the same operations in
the same order give the same bits as `weaver_strategy_sdk::indicators::Sma`.
"""

import math
from math import copysign

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
        # Hot path of every Python strategy: locals instead of attribute traffic, one write-back.
        n = self.n
        ring = self.ring
        nobs = self.nobs
        total = self.sum
        if self.len == n:
            head = self.head
            old = ring[head]
            ring[head] = value
            head += 1
            self.head = 0 if head == n else head
            # Remove the value leaving the window first, with its own compensation term.
            if old == old:  # not NaN
                nobs -= 1
                y = -old - self.comp_remove
                t = total + y
                self.comp_remove = t - total - y
                total = t
                if old < 0.0 or (old == 0.0 and copysign(1.0, old) < 0.0):
                    self.neg_count -= 1
        else:
            ring[self.len] = value
            self.len += 1
        if value == value:  # not NaN
            nobs += 1
            y = value - self.comp_add
            t = total + y
            self.comp_add = t - total - y
            total = t
            if value < 0.0 or (value == 0.0 and copysign(1.0, value) < 0.0):
                self.neg_count += 1
            if value == self.prev_value:
                self.same_run += 1
            else:
                self.same_run = 1
            self.prev_value = value
        self.nobs = nobs
        self.sum = total
        if self.len < n or nobs < n:
            return None
        result = total / nobs
        if self.same_run >= nobs:
            return self.prev_value
        neg = self.neg_count
        if (neg == 0 and result < 0.0) or (neg == nobs and result > 0.0):
            # All values of one sign but rounding crossed zero: pandas clamps to 0.
            return 0.0
        return result

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
