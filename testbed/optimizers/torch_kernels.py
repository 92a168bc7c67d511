r"""torch's fused elementwise primitives in numpy: ``add(y, alpha)``, ``addcmul``, ``lerp``.

On CPU, torch 2.13 computes ``x.add(y, alpha=a)``, ``x.addcmul(t1, t2, value=c)``
and ``x.lerp(end, w)`` as fused multiply-adds, rounding once:

.. math::

    \operatorname{add} = \operatorname{fl}(x + a y), \quad
    \operatorname{addcmul} = \operatorname{fl}(x + \operatorname{fl}(c\, t_1)\, t_2), \quad
    \operatorname{lerp} = \begin{cases}
        \operatorname{fl}(x + w\, \operatorname{fl}(e - x)) & |w| < 1/2 \\
        \operatorname{fl}(e + (w - 1)\, \operatorname{fl}(e - x)) & \text{otherwise.}
    \end{cases}

numpy has no fused multiply-add, so two kernel sets implement these:

* :class:`FusedOps` emulates the single rounding with error-free
  transformations: Dekker's product (Veltkamp splitting, Dekker 1971, "A
  floating-point technique for extending the available precision", Numer. Math.
  18) and Knuth's TwoSum (TAOCP vol. 2, 4.2.2, Theorem B) give
  :math:`ab + c = s + t + e` exactly, and the result is
  :math:`\operatorname{fl}(s + \operatorname{fl}(t + e))` -- the correctly rounded
  fma except when :math:`s + t + e` lies within a relative 2^-104 or so of a
  rounding midpoint (Boldo & Muller 2011, "Exact and approximated error of the
  FMA", IEEE TC 60, treat this remainder). About 20 array passes per operation
  instead of 2; bit-identical to torch on every input tested.
* :class:`PlainOps` rounds the product and the sum separately (2-3 passes),
  so each operation may differ from torch by an ulp.

:func:`make_ops` picks :class:`FusedOps` for vectors of at most
:data:`FUSED_MAX_SIZE` entries (the kernels work on blocks of a vector, see
:mod:`testbed.optimizers.torch_common`), where the extra passes cost little next
to the gradient, and :class:`PlainOps` above it, where speed matters. With the
fused kernels the only operation left that can differ from torch is the square
root: torch 2.13's float64 ``sqrt`` on CPU is faithful but not correctly
rounded (errors up to ~0.56 ulp; about 1% of inputs differ from the IEEE
``numpy.sqrt`` by one ulp), which numpy code cannot reproduce. Non-chaotic runs agree with torch to ~1e-15
relative; runs in which torch itself amplifies a 1-ulp change beyond that
(adaptive methods with a large step oscillating near a minimizer) cannot agree
to more than their own sensitivity. Both kernel sets assume finite values below
~1e300 in magnitude (a diverging run turns inf into nan in :class:`FusedOps`;
the run loop stops on either).
"""

from __future__ import annotations

import numpy as np

__all__ = ["FUSED_MAX_SIZE", "FusedOps", "PlainOps", "make_ops"]

#: Largest vector size for which :func:`make_ops` emulates torch's fused multiply-adds exactly.
FUSED_MAX_SIZE = 1 << 16

_SPLIT = 134217729.0  # 2**27 + 1: Veltkamp's splitting constant for 53-bit significands


def _split_scalar(a: float) -> tuple[float, float]:
    """Veltkamp split a = hi + lo with hi, lo of at most 26 significant bits each."""
    t = _SPLIT * a
    hi = t - (t - a)
    return hi, a - hi


class PlainOps:
    """torch's fused primitives with two roundings (fast; may differ from torch by an ulp per operation)."""

    fused = False

    def __init__(self, size: int) -> None:
        self._w = np.empty(size)
        #: A work array of ``size`` entries callers may use between calls (every call overwrites it).
        self.scratch = self._w

    def axpy(self, out: np.ndarray, x: np.ndarray, alpha: float, y: np.ndarray) -> None:
        """``out <- x + alpha * y`` (torch ``x.add(y, alpha=alpha)``); ``out`` may be ``x`` or ``y``."""
        if alpha == 1:
            np.add(x, y, out=out)
        elif alpha == -1:
            np.subtract(x, y, out=out)
        else:
            np.multiply(y, alpha, out=self._w)
            np.add(x, self._w, out=out)

    def addcmul(self, out: np.ndarray, x: np.ndarray, value: float, t1: np.ndarray, t2: np.ndarray) -> None:
        """``out <- x + (value * t1) * t2`` (torch ``x.addcmul(t1, t2, value=value)``); ``out`` may alias an input."""
        w = self._w
        np.multiply(t1, value, out=w)
        w *= t2
        np.add(x, w, out=out)

    def lerp_(self, start: np.ndarray, end: np.ndarray, weight: float) -> None:
        """``start <- torch.lerp(start, end, weight)`` in place."""
        d = self._w
        np.subtract(end, start, out=d)
        if abs(weight) < 0.5:
            d *= weight
            start += d
        else:
            d *= weight - 1.0
            np.add(end, d, out=start)


class FusedOps:
    """torch's fused primitives with a single rounding, emulated by error-free transformations (see module doc)."""

    fused = True

    def __init__(self, size: int) -> None:
        self._p, self._e, self._s, self._u, self._v, self._a, self._ah = (np.empty(size) for _ in range(7))
        #: A work array of ``size`` entries callers may use between calls (every call overwrites it).
        self.scratch = self._a

    def _fma(self, a: float | np.ndarray, b: np.ndarray, c: np.ndarray, out: np.ndarray) -> None:
        """``out <- fl(a * b + c)``; ``a`` a float or an array (not one of the buffers ``_p.._v``)."""
        p, e, s, u, v = self._p, self._e, self._s, self._u, self._v
        np.multiply(b, a, out=p)
        # Veltkamp split of b: u = hi, v = lo
        np.multiply(b, _SPLIT, out=u)
        np.subtract(u, b, out=v)
        np.subtract(u, v, out=u)
        np.subtract(b, u, out=v)
        # Dekker: e = ((ah*bh - p) + ah*bl + al*bh) + al*bl = a*b - p exactly
        if isinstance(a, np.ndarray):
            ah, al = self._ah, self._a
            if al is not a:
                np.copyto(al, a)
            np.multiply(al, _SPLIT, out=ah)
            np.subtract(ah, al, out=s)
            np.subtract(ah, s, out=ah)
            al -= ah
        else:
            ah, al = _split_scalar(float(a))
        # (ah, al scalars or arrays; IEEE products commute, so one sequence serves both)
        np.multiply(ah, u, out=e)
        e -= p
        np.multiply(ah, v, out=s)
        e += s
        np.multiply(al, u, out=s)
        e += s
        np.multiply(al, v, out=s)
        e += s
        # Knuth's TwoSum: s + t = p + c exactly (t in v)
        np.add(p, c, out=s)
        np.subtract(s, p, out=u)
        np.subtract(s, u, out=v)
        np.subtract(p, v, out=v)
        np.subtract(c, u, out=u)
        v += u
        v += e
        np.add(s, v, out=out)

    def axpy(self, out: np.ndarray, x: np.ndarray, alpha: float, y: np.ndarray) -> None:
        """``out <- fl(x + alpha * y)`` (torch ``x.add(y, alpha=alpha)``); ``out`` may be ``x`` or ``y``."""
        if alpha == 1:
            np.add(x, y, out=out)
        elif alpha == -1:
            np.subtract(x, y, out=out)
        else:
            self._fma(alpha, y, x, out)

    def addcmul(self, out: np.ndarray, x: np.ndarray, value: float, t1: np.ndarray, t2: np.ndarray) -> None:
        """``out <- fl(x + fl(value * t1) * t2)`` (torch ``x.addcmul(t1, t2, value=value)``); ``out`` may alias."""
        a = self._a
        np.multiply(t1, value, out=a)
        self._fma(a, t2, x, out)

    def lerp_(self, start: np.ndarray, end: np.ndarray, weight: float) -> None:
        """``start <- torch.lerp(start, end, weight)`` in place, rounded once as torch does."""
        d = self._a
        np.subtract(end, start, out=d)
        if abs(weight) < 0.5:
            self._fma(weight, d, start, start)
        else:
            self._fma(weight - 1.0, d, end, start)


def make_ops(size: int, dim: int) -> FusedOps | PlainOps:
    """Kernels for blocks of ``size`` entries of a ``dim``-vector: fused up to :data:`FUSED_MAX_SIZE`, else plain."""
    return FusedOps(size) if dim <= FUSED_MAX_SIZE else PlainOps(size)
