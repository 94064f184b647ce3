"""Running mean and standard deviation per layer x head, merged batch by batch.

Uses Chan et al.'s parallel form of Welford's algorithm: each batch contributes its
count, mean and sum of squared deviations, so nothing per example is kept and the
result does not suffer from the cancellation of a plain sum of squares.

Example:
    >>> import numpy as np
    >>> acc = RunningStats((1, 1))
    >>> acc.update(np.array([[[1.0]], [[3.0]]]))
    >>> acc.update(np.array([[[5.0]]]))
    >>> float(acc.mean[0, 0]), round(float(acc.std[0, 0]), 4), acc.count
    (3.0, 1.633, 3)
"""
from __future__ import annotations

import numpy as np


class RunningStats:
    """Count, mean and population standard deviation (ddof=0) of arrays of one shape."""

    def __init__(self, shape: tuple[int, ...]) -> None:
        self.count = 0
        self.mean = np.zeros(shape, np.float64)
        self._m2 = np.zeros(shape, np.float64)

    def update(self, values: np.ndarray, valid: np.ndarray | None = None) -> None:
        """Add examples: ``values`` is (examples, *shape); rows where ``valid`` is False are skipped.

        Example:
            >>> acc = RunningStats((2,))
            >>> acc.update(np.array([[1.0, 2.0], [9.0, 9.0]]), valid=np.array([True, False]))
            >>> acc.mean.tolist(), acc.count
            ([1.0, 2.0], 1)
        """
        values = np.asarray(values, np.float64)
        if valid is not None:
            values = values[np.asarray(valid, bool)]
        k = values.shape[0]
        if k == 0:
            return
        mean = values.mean(0)
        m2 = ((values - mean) ** 2).sum(0)
        total = self.count + k
        delta = mean - self.mean
        self.mean = self.mean + delta * (k / total)
        self._m2 = self._m2 + m2 + delta ** 2 * (self.count * k / total)
        self.count = total

    def merge(self, other: RunningStats) -> RunningStats:
        """Add another accumulator's examples (Chan et al. 1979's pairwise formula); returns self.

        Merging partial accumulators in any grouping gives the statistics of all their
        examples together, up to float64 rounding: this is how the workers of
        ``dataset_stats(..., engine="ray")`` are combined.

        Example:
            >>> a, b, both = RunningStats((1,)), RunningStats((1,)), RunningStats((1,))
            >>> a.update(np.array([[1.0], [2.0]])); b.update(np.array([[6.0]]))
            >>> both.update(np.array([[1.0], [2.0], [6.0]]))
            >>> a.merge(b).mean.tolist() == both.mean.tolist(), np.allclose(a.std, both.std), a.count
            (True, True, 3)
        """
        if np.shape(other.mean) != np.shape(self.mean):
            raise ValueError(f"cannot merge statistics of shape {np.shape(other.mean)} into {np.shape(self.mean)}")
        k = int(other.count)
        if k == 0:
            return self
        total = self.count + k
        delta = other.mean - self.mean
        self.mean = self.mean + delta * (k / total)
        self._m2 = self._m2 + other._m2 + delta ** 2 * (self.count * k / total)
        self.count = total
        return self

    @classmethod
    def from_state(cls, count: int, mean: np.ndarray, m2: np.ndarray) -> RunningStats:
        """An accumulator from its state ``(count, mean, m2)`` (see :meth:`state`).

        Example:
            >>> acc = RunningStats((2,)); acc.update(np.array([[1.0, 2.0], [3.0, 4.0]]))
            >>> RunningStats.from_state(*acc.state()).std.tolist()
            [1.0, 1.0]
        """
        acc = cls(np.shape(mean))
        acc.count = int(count)
        acc.mean = np.asarray(mean, np.float64).copy()
        acc._m2 = np.asarray(m2, np.float64).copy()
        return acc

    def state(self) -> tuple[int, np.ndarray, np.ndarray]:
        """``(count, mean, m2)``: everything needed to rebuild or merge this accumulator.

        Example:
            >>> RunningStats((1,)).state()[0]
            0
        """
        return self.count, self.mean.copy(), self._m2.copy()

    @property
    def std(self) -> np.ndarray:
        """Population standard deviation (NaN before any example).

        Example:
            >>> RunningStats((1,)).std.tolist()
            [nan]
        """
        if self.count == 0:
            return np.full_like(self.mean, np.nan)
        return np.sqrt(np.maximum(self._m2 / self.count, 0.0))

    @property
    def result(self) -> np.ndarray:
        """The mean (NaN before any example).

        Example:
            >>> RunningStats((1,)).result.tolist()
            [nan]
        """
        return self.mean.copy() if self.count else np.full_like(self.mean, np.nan)
