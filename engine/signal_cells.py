"""Where the signals are: a fast scan of entry/exit panels for the few cells that hold a signal.

Bool panels are read 8 cells per machine word, so the empty stretches that make up most of a signal
panel cost one test per word; the cells found carry their entry/exit flags with them.
"""

from __future__ import annotations

import numba
import numpy as np
import numpy.typing as npt
from numba import njit, prange
from numba.cpython.unsafe.numbers import trailing_zeros

IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]
WordArray = npt.NDArray[np.uint64]

_PARALLEL_SCAN_CELLS = 1 << 20  # below this a parallel launch costs more than the scan


@njit(cache=True)
def _scan_words_nb(e_words: WordArray, x_words: WordArray, e_flat: BoolArray, x_flat: BoolArray, q0: int,
                   q1: int, tail: bool, out: IntArray, k0: int) -> int:
    """Cells with an entry or exit in words q0..q1-1 (8 cells each) and, with ``tail``, in the cells after
    the last whole word, coded 4 * flat index + entry + 2 * exit into ``out`` from ``k0``; returns their
    number."""
    k = k0
    for q in range(q0, q1):
        z = e_words[q] | x_words[q]
        while z != 0:  # one set bit per signal byte (bools are 0 or 1): visit them lowest first
            c = q * 8 + (trailing_zeros(z) >> 3)  # type: ignore[call-arg]  # numba's stub counts typingctx
            out[k], k, z = 4 * c + e_flat[c] + 2 * x_flat[c], k + 1, z & (z - np.uint64(1))
    for c in range(q1 * 8, e_flat.shape[0] if tail else 0):
        if e_flat[c] or x_flat[c]:
            out[k], k = 4 * c + e_flat[c] + 2 * x_flat[c], k + 1
    return k - k0


@njit(cache=True, parallel=True)
def _scan_chunks_nb(e_words: WordArray, x_words: WordArray, e_flat: BoolArray, x_flat: BoolArray,
                    out: IntArray, counts: IntArray) -> None:
    """``_scan_words_nb`` over len(counts) chunks in parallel; chunk c writes from its first cell."""
    n_words, n_chunks = e_words.shape[0], counts.shape[0]
    step = (n_words + n_chunks - 1) // n_chunks
    for c in prange(n_chunks):
        q0 = min(n_words, c * step)
        q1 = min(n_words, q0 + step)
        counts[c] = _scan_words_nb(e_words, x_words, e_flat, x_flat, q0, q1, c == n_chunks - 1, out, q0 * 8)


def signal_cells(entries: BoolArray, exits: BoolArray) -> IntArray:
    """Cells with an entry or an exit in row-major order, coded 4 * (bar * n_symbols + symbol) + entry
    + 2 * exit: the flags travel with the cell, as reading them back from the panels would miss the cache.
    Column-major panels (as pandas hands them out) are scanned as they are and the cells reordered."""
    if not entries.flags.c_contiguous and entries.flags.f_contiguous and exits.flags.f_contiguous:
        n, m = entries.shape
        cells_t = signal_cells(entries.T, exits.T)
        j, i = np.divmod(cells_t >> 2, n)
        return np.sort(4 * (i * m + j) + (cells_t & 3))
    e_flat, x_flat = np.ascontiguousarray(entries).reshape(-1), np.ascontiguousarray(exits).reshape(-1)
    n_whole = e_flat.shape[0] // 8 * 8
    e_words, x_words = e_flat[:n_whole].view(np.uint64), x_flat[:n_whole].view(np.uint64)
    out = np.empty(e_flat.shape[0], dtype=np.int64)
    if e_flat.shape[0] < _PARALLEL_SCAN_CELLS:
        return out[:_scan_words_nb(e_words, x_words, e_flat, x_flat, 0, e_words.shape[0], True, out, 0)]
    counts = np.zeros(max(1, numba.get_num_threads()), dtype=np.int64)
    _scan_chunks_nb(e_words, x_words, e_flat, x_flat, out, counts)
    step = 8 * ((e_words.shape[0] + counts.shape[0] - 1) // counts.shape[0])
    return np.concatenate([out[c * step:c * step + k] for c, k in enumerate(counts)])
