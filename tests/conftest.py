"""Test configuration.

float64 is switched on here, before any array exists, so golden figures can be checked to
the printed digit; float32 behaviour is tested with explicit float32 arrays, and everything
that needs x64 *off* runs in a subprocess. Silent rank promotion fails the suite.

Two ways to run the suite (from the repository root):

- ``pytest -m "not slow"``: the inner loop, under a minute on 2 cores. A fast core check of
  every module: backprop == jax.grad on a fixed grid of architectures in float64 and
  float32, the worked examples, the bad-input errors, one training run per loop.
- ``pytest``: everything (CI), under 5 minutes on 2 cores. Tests marked
  ``@pytest.mark.slow`` add the full architecture grid and the hypothesis sweeps, the
  statistical and convergence runs, the multi-device and multi-process workers, the
  benchmark smoke run, the notebook, the browser pages, and every parametrization of the
  checks whose core case runs in the inner loop. A test that compiles its own programs for
  more than about a second of CPU is marked slow; keep one fast check per module.

``HYPOTHESIS_PROFILE=dev`` caps the examples of tests that do not set their own count.
"""
import os

# XLA's CPU compiler set for many small programs: most of the suite's time is compiling
# them, and these cut that by more than half. Optimisation level 0 (the HLO passes --
# fusion, algebraic simplification -- still run), the classic elemental emitters for fused
# loops instead of the newer MLIR fusion emitters (about half the compile time of the rest),
# and each program's LLVM module compiled in one piece (together 589 s -> 323 s of CPU for
# the whole suite). None of them turns on fast math, so IEEE semantics are unchanged (a
# math function may round its last bit differently from the default emitters); the xdist
# workers and every subprocess the tests start inherit them, so each comparison runs
# under the same flags. A flag already set in XLA_FLAGS wins. To run the suite with XLA's
# defaults, as users' programs compile, delete this block.
XLA_TEST_FLAGS = {"--xla_backend_optimization_level": "0",
                  "--xla_cpu_use_fusion_emitters": "false",
                  "--xla_cpu_parallel_codegen_split_count": "1"}


def _known_to_xla(names):
    """The flag names this jaxlib's libraries contain: XLA aborts the process on an unknown
    flag in XLA_FLAGS, and an older or newer jaxlib may lack one (then it is left out)."""
    import glob
    import importlib.util
    import mmap
    spec = importlib.util.find_spec("jaxlib")
    found = set()
    for path in glob.glob(os.path.join(spec.submodule_search_locations[0], "*.so")):
        with open(path, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as m:
            found |= {name for name in names if m.find(name.lstrip("-").encode() + b"\0") >= 0}
    return found


_flags = os.environ.get("XLA_FLAGS", "")
_missing = [name for name in XLA_TEST_FLAGS if name not in _flags]
if _missing:
    _known = _known_to_xla(_missing)
    os.environ["XLA_FLAGS"] = " ".join([_flags] + [f"{name}={XLA_TEST_FLAGS[name]}"
                                                   for name in _missing if name in _known]).strip()

import jax  # noqa: E402

jax.config.update("jax_enable_x64", True)
jax.config.update("jax_numpy_rank_promotion", "raise")

from hypothesis import settings  # noqa: E402

settings.register_profile("ci", database=None, derandomize=True, deadline=None,
                          max_examples=200, print_blob=True)
settings.register_profile("dev", parent=settings.get_profile("ci"), max_examples=20)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


# The files that take the longest, started first (largest first, seconds measured in a full
# run): the two xdist workers (``--dist loadfile``) then finish together instead of one
# waiting on a long file picked up last. Re-measure (``--junitxml``, summed per file) after
# changing a heavy file.
FIRST = ("test_playground_browser.py", "test_vjp.py", "test_walkthrough.py", "test_parallel.py",
         "test_bench.py", "test_backprop.py", "test_train.py", "test_viz_browser.py",
         "test_sweep.py", "test_gradcheck.py", "test_runs_last.py", "test_slope.py",
         "test_numerics.py", "test_shuffle.py", "test_diagnose.py", "test_reliability.py",
         "test_readme.py", "test_determinism.py", "test_tutorial.py", "test_bugs.py")


def pytest_configure(config):
    # xdist reorders the files by their number of tests unless told not to: keep FIRST's order
    if hasattr(config.option, "loadscopereorder"):
        config.option.loadscopereorder = False


def pytest_collection_modifyitems(config, items):
    rank = {name: i for i, name in enumerate(FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(FIRST)))  # stable within a file
