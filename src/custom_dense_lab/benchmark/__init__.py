"""Paired, interleaved timing of CustomDense against stock Dense, and its results."""
