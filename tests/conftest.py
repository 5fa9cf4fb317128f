"""Test configuration.

float64 is switched on here, before any array exists, so golden figures can be checked to
the printed digit; float32 behaviour is tested with explicit float32 arrays, and everything
that needs x64 *off* runs in a subprocess. Silent rank promotion fails the suite.
"""
import os

import jax

jax.config.update("jax_enable_x64", True)
jax.config.update("jax_numpy_rank_promotion", "raise")

from hypothesis import settings  # noqa: E402

settings.register_profile("ci", database=None, derandomize=True, deadline=None,
                          max_examples=200, print_blob=True)
settings.register_profile("dev", parent=settings.get_profile("ci"), max_examples=20)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
