"""jaxbp.demos.programs: compiled demo programs kept between runs of the `jaxbp` command."""
import os
import subprocess
import sys
import threading

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxbp.demos import programs


def poly(x, c):
    """A program to keep: its result is checked against NumPy's."""
    return jnp.tanh(x) * c + x ** 2


def expected(x, c):
    return np.tanh(x) * c + x ** 2


@pytest.fixture
def folder(tmp_path, monkeypatch):
    """Programs kept in tmp_path/programs for this test only."""
    monkeypatch.setattr(programs, "FOLDER", None)
    programs.use(str(tmp_path))
    return tmp_path / "programs"


def files(path):
    return sorted(p.name for p in path.iterdir()) if path.exists() else []


def no_tracing(monkeypatch):
    """From now on, tracing a program in programs.compiled fails the test."""
    def refuse(*args, **kwargs):
        raise AssertionError("the program was traced again instead of loaded")
    monkeypatch.setattr(programs.jax, "jit", refuse)


X = np.linspace(-2.0, 2.0, 7, dtype=np.float32)
C = np.float32(3.0)


def test_off_by_default_compiles_and_writes_nothing(tmp_path, monkeypatch):
    monkeypatch.setattr(programs, "FOLDER", None)
    monkeypatch.chdir(tmp_path)
    program = programs.compiled(poly, (X, C), "poly", {})
    np.testing.assert_allclose(program(X, C), expected(X, C), rtol=1e-6)
    assert list(tmp_path.iterdir()) == []


def test_a_kept_program_loads_without_tracing(folder, monkeypatch):
    first = programs.compiled(poly, (X, C), "poly", {})
    assert len(files(folder)) == 1
    no_tracing(monkeypatch)
    second = programs.compiled(poly, (X, C), "poly", {})
    np.testing.assert_allclose(second(X, C), expected(X, C), rtol=1e-6)
    np.testing.assert_array_equal(second(X, C), first(X, C))
    y = np.float32(-1.5)   # a loaded program takes any value of the same shape and dtype
    np.testing.assert_allclose(second(X * 2, y), expected(X * 2, y), rtol=1e-6)


def test_no_description_is_not_kept(folder):
    programs.compiled(poly, (X, C), None, {})
    assert files(folder) == []


@pytest.mark.parametrize("change", ["description", "shape", "dtype", "options", "source"])
def test_anything_the_program_depends_on_is_another_key(folder, monkeypatch, change):
    programs.compiled(poly, (X, C), "poly", {})
    args, description, options = (X, C), "poly", {}
    if change == "description":
        description = ("poly", 2)
    elif change == "shape":
        args = (X[:3], C)
    elif change == "dtype":
        args = (X.astype(np.float16), C)
    elif change == "options":
        options = {"xla_backend_optimization_level": 0}
    else:
        digest = programs._source_digest()
        monkeypatch.setattr(programs, "_source_digest", lambda: "edited " + digest)
    program = programs.compiled(poly, args, description, options)
    assert len(files(folder)) == 2
    np.testing.assert_allclose(program(*args), expected(*(np.asarray(a) for a in args)),
                               rtol=1e-3)


def test_a_damaged_file_is_compiled_again_and_replaced(folder):
    programs.compiled(poly, (X, C), "poly", {})
    (path,) = folder.iterdir()
    path.write_bytes(path.read_bytes()[:100])
    program = programs.compiled(poly, (X, C), "poly", {})
    np.testing.assert_allclose(program(X, C), expected(X, C), rtol=1e-6)
    assert path.stat().st_size > 1000


def test_a_folder_that_cannot_be_written_only_costs_time(tmp_path, monkeypatch):
    monkeypatch.setattr(programs, "FOLDER", str(tmp_path / "a-file" / "programs"))
    (tmp_path / "a-file").write_text("not a folder")
    program = programs.compiled(poly, (X, C), "poly", {})
    np.testing.assert_allclose(program(X, C), expected(X, C), rtol=1e-6)


def test_jax_cache_writes_come_back_on_even_with_threads(folder):
    """While programs compile (in two threads), JAX's own cache keeps none of them; its
    setting is back as it was afterwards."""
    before = jax.config.jax_persistent_cache_min_compile_time_secs
    results = {}

    def compile_one(k):
        results[k] = programs.compiled(poly, (X[: k + 2], C), ("poly", k), {})

    threads = [threading.Thread(target=compile_one, args=(k,)) for k in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert jax.config.jax_persistent_cache_min_compile_time_secs == before
    for k, program in results.items():
        np.testing.assert_allclose(program(X[: k + 2], C), expected(X[: k + 2], C), rtol=1e-6)


@pytest.mark.slow
def test_the_command_keeps_its_programs_and_prints_the_same(tmp_path):
    """`jaxbp gates` twice in one cache folder prints what it prints with no cache; the
    second run compiles nothing (its programs come from the folder, untouched), and JAX's
    own cache holds none of them."""
    argv = [sys.executable, "-m", "jaxbp", "gates", "--steps", "300", "--seeds", "2"]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("JAX", "XLA_FLAGS"))}
    env["XDG_CACHE_HOME"] = str(tmp_path)
    env.pop("JAXBP_CACHE_DIR", None)
    plain = subprocess.run(argv, env={**env, "JAXBP_NO_CACHE": "1"}, capture_output=True,
                           text=True, timeout=300)
    assert plain.returncode == 0, plain.stderr
    kept = tmp_path / "jaxbp" / "jax" / "programs"
    outputs, stamps = [], []
    for _ in range(2):
        run = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=300)
        assert run.returncode == 0, run.stderr
        outputs.append(run.stdout)
        stamps.append({p.name: p.stat().st_mtime_ns for p in kept.iterdir()})
    assert outputs == [plain.stdout, plain.stdout]
    assert len(stamps[0]) == 2 and stamps[1] == stamps[0]
    assert not [p for p in (tmp_path / "jaxbp" / "jax").iterdir() if "stored_program" in p.name]
