"""The library's tests: `CustomDense` and `convert`, which need only Keras.

Nothing under tests/library imports MLflow, Hydra or `custom_dense_lab`
(`test_library_surface.py` checks it).
"""

import gc

import keras
import pytest


@pytest.fixture(autouse=True)
def _fresh_keras_state():
    """Gives every test a clean Keras session and the float32 policy, and puts the policy back."""
    previous = keras.config.dtype_policy()
    # Without a full garbage collection (free_memory=True), which takes up to a second a test.
    keras.backend.clear_session(free_memory=False)
    keras.config.set_dtype_policy("float32")
    # Keras collects garbage whenever a layer attribute is deleted (every `quantize` does):
    # the objects of the imports stay out of it, as the lab's programs keep them.
    gc.freeze()
    yield
    gc.unfreeze()
    keras.config.set_dtype_policy(previous)
