"""custom-dense: a from-scratch Keras 3 Dense layer, proven equal to `keras.layers.Dense`.

The library is `CustomDense` and `convert`; both need only Keras, on any
backend. They load on first use (`from custom_dense import CustomDense`), which
also registers `CustomDense` for Keras serialization, so that a `.keras` file
holding it loads with no `custom_objects`. The experiment lab around them
(config, data, training, tracking, benchmark, reports) is `custom_dense.lab`,
which is never imported from here.
"""

import importlib

__all__ = ["CustomDense", "convert"]
__version__ = "0.1.0"

_EXPORTS = {"CustomDense": "custom_dense.layer", "convert": "custom_dense.conversion"}


def __getattr__(name):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'custom_dense' has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)


def __dir__():
    return sorted([*globals(), *__all__])
