"""Cream numeric engine: numba kernels over numpy arrays.

Kernels are ``@njit(cache=True)`` functions named ``*_nb`` that take only arrays and
scalars; thin typed wrappers (no suffix) validate inputs and return NamedTuples.
This package imports nothing else from Cream and performs no I/O.
"""
