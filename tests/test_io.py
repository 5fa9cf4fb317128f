"""Saved models you can trust: jaxbp.save / jaxbp.load (E36-E39, G12-G14)."""
import io
import json
import os
import pickle
import tempfile
import threading
import zipfile

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import jaxbp
import jaxbp.io
from jaxbp import MLP, ParamsFileError

UNREADABLE = (r"^load: cannot read params file '.*p\.npz': not a valid jaxbp params archive "
              r"\(BadZipFile: .*\)")


def bits(tree):
    """Every leaf as (dtype, shape, raw bytes): equality is bit-exactness, NaN payloads too."""
    return [(a.dtype, a.shape, np.asarray(a).tobytes()) for a in jax.tree_util.tree_leaves(tree)]


def small(tmp_path, dtype=jnp.float64, sizes=(2, 3, 1)):
    net = MLP(sizes)
    params = net.init(jax.random.key(0), dtype=dtype)
    path = tmp_path / "p.npz"
    jaxbp.save(path, net, params)
    return path, net, params


def rewrite(path, **changes):
    """Re-zip the file with some arrays replaced (None: removed); every CRC stays valid."""
    arrays = dict(np.load(path))
    for key, value in changes.items():
        if value is None:
            del arrays[key]
        else:
            arrays[key] = value
    np.savez(path, **arrays)           # the name ends in .npz, so numpy adds nothing


def edit_metadata(path, **changes):
    meta = json.loads(np.load(path)["metadata"].tobytes())
    meta.update(changes)
    rewrite(path, metadata=np.frombuffer(json.dumps(meta).encode(), np.uint8))


# ---------------------------------------------------------------- G12 round trip

special = st.sampled_from([0.0, -0.0, np.nan, np.inf, -np.inf, 5e-324, 1e-45, 3.4e38, -1e300])


@st.composite
def networks(draw):
    depth = draw(st.integers(1, 4))
    sizes = tuple(draw(st.lists(st.integers(1, 6), min_size=depth + 1, max_size=depth + 1)))
    hidden = draw(st.sampled_from(["sigmoid", "tanh", "relu", "identity"]))
    output = draw(st.sampled_from(["sigmoid", "tanh", "relu", "identity"]
                                  + (["softmax"] if sizes[-1] >= 2 else [])))
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    params = []
    for n_in, n_out in zip(sizes[:-1], sizes[1:]):
        layer = {"W": rng.normal(size=(n_in, n_out)), "b": rng.normal(size=n_out)}
        if draw(st.booleans()):        # bit patterns a lossy format would not keep
            layer["W"].flat[0] = draw(special)
        with np.errstate(over="ignore"):      # -1e300 in float32 is -inf: still a bit pattern
            params.append({k: jnp.asarray(v.astype(dtype)) for k, v in layer.items()})
    return MLP(sizes, hidden, output), tuple(params)


@pytest.mark.slow
@settings(max_examples=100)
@given(networks())
def test_G12_round_trip_is_bit_exact(case):
    net, params = case
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "model")
        jaxbp.save(path, net, params)
        with np.load(path, allow_pickle=False) as npz:      # a plain, pickle-free npz
            assert all(npz[k].dtype != object for k in npz.files)
        net2, params2 = jaxbp.load(path, expected_sizes=list(net.sizes))
    assert net2 == net and net2.activations == net.activations
    assert jax.tree_util.tree_structure(params2) == jax.tree_util.tree_structure(params)
    assert all(isinstance(a, jax.Array) for a in jax.tree_util.tree_leaves(params2))
    assert bits(params2) == bits(params)


def test_file_layout(tmp_path):
    path, net, params = small(tmp_path)
    with zipfile.ZipFile(path) as zf:
        assert sorted(zf.namelist()) == ["layer0/W.npy", "layer0/b.npy", "layer1/W.npy",
                                         "layer1/b.npy", "metadata.npy"]
        assert all(m.compress_type == zipfile.ZIP_STORED for m in zf.infolist())
    with np.load(path, allow_pickle=False) as npz:
        meta = json.loads(npz["metadata"].tobytes().decode())
        np.testing.assert_array_equal(npz["layer1/W"], params[1]["W"])
    assert meta["format"] == "jaxbp-params" and meta["version"] == 1
    assert meta["sizes"] == [2, 3, 1] and meta["activations"] == ["sigmoid", "sigmoid"]
    assert meta["dtype"] == "float64" and len(meta["sha256"]) == 64


# ---------------------------------------------------------------- E39 / G14 writing

def test_E39_exactly_one_file_no_suffix(tmp_path):
    for name in ("params.tmp", "params", "p.npz"):
        jaxbp.save(tmp_path / name, MLP((2, 1)), MLP((2, 1)).init(jax.random.key(1)))
    assert sorted(os.listdir(tmp_path)) == ["p.npz", "params", "params.tmp"]
    jaxbp.save(str(tmp_path / "params"), MLP((2, 1)), MLP((2, 1)).init(jax.random.key(2)))
    assert sorted(os.listdir(tmp_path)) == ["p.npz", "params", "params.tmp"]   # replaced


def test_E39_missing_directory_and_bad_arguments(tmp_path):
    net, params = MLP((2, 1)), MLP((2, 1)).init(jax.random.key(0))
    with pytest.raises(FileNotFoundError, match=r"^save: directory '.*missing' does not exist"):
        jaxbp.save(tmp_path / "missing" / "p.npz", net, params)
    with pytest.raises(IsADirectoryError, match=r"^save: path .* is a directory"):
        jaxbp.save(tmp_path, net, params)
    with pytest.raises(TypeError, match=r"^save: path must be a str or os.PathLike, got int"):
        jaxbp.save(3, net, params)
    with pytest.raises(TypeError, match=r"^save: net must be a jaxbp.MLP, got tuple"):
        jaxbp.save(tmp_path / "p.npz", (2, 1), params)
    with pytest.raises(ValueError, match=r"^save: layer 0: W has shape \(2, 1\), expected \(3, 1\)"):
        jaxbp.save(tmp_path / "p.npz", MLP((3, 1)), params)
    with pytest.raises(TypeError, match=r"^save: params must be concrete arrays"):
        jax.jit(lambda p: jaxbp.save(tmp_path / "p.npz", net, p))(params)
    with pytest.raises(FileNotFoundError, match=r"^load: no such file"):
        jaxbp.load(tmp_path / "nothing.npz")
    with pytest.raises(IsADirectoryError, match=r"^load: .* is a directory, not a params file"):
        jaxbp.load(tmp_path)
    with pytest.raises(ValueError, match=r"^load: sizes\[1\] must be a positive int, got 0"):
        jaxbp.load(tmp_path / "nothing.npz", expected_sizes=[2, 0])
    assert os.listdir(tmp_path) == []


def _crash_halfway(f, arrays):
    """A writer that dies after writing half of what the real one would."""
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    f.write(buffer.getvalue()[: len(buffer.getvalue()) // 2])
    raise RuntimeError("simulated crash mid-write")


@pytest.mark.parametrize("where", ["writer", "rename"])
def test_G14_crash_mid_write_keeps_the_old_file(tmp_path, monkeypatch, where):
    path, net, params = small(tmp_path)
    before = path.read_bytes()
    if where == "writer":
        monkeypatch.setattr(jaxbp.io, "_write_npz", _crash_halfway)
    else:
        def failing_replace(src, dst):
            raise OSError("simulated failure in os.replace")
        monkeypatch.setattr(jaxbp.io.os, "replace", failing_replace)
    other = net.init(jax.random.key(9), dtype=jnp.float64)
    with pytest.raises((RuntimeError, OSError), match="simulated"):
        jaxbp.save(path, net, other)
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["p.npz"]                      # no .tmp-* left behind
    monkeypatch.undo()
    assert bits(jaxbp.load(path)[1]) == bits(params)


def test_G14_concurrent_reader_sees_old_or_new(tmp_path):
    path, net, old = small(tmp_path)
    new = net.init(jax.random.key(5), dtype=jnp.float64)
    versions = [bits(old), bits(new)]
    seen, errors, done = set(), [], threading.Event()

    def writer():
        for i in range(40):
            jaxbp.save(path, net, (new, old)[i % 2])
        done.set()

    thread = threading.Thread(target=writer)
    thread.start()
    while not done.is_set() or not seen:
        try:
            seen.add(versions.index(bits(jaxbp.load(path)[1])))
        except Exception as e:               # any error, or data that is neither version
            errors.append(repr(e))
    thread.join()
    assert errors == [] and seen <= {0, 1}


# ---------------------------------------------------------------- E36 / G13 corruption

def test_G13_truncation_at_every_tenth(tmp_path):
    path, _, _ = small(tmp_path)
    data = path.read_bytes()
    for tenth in range(10):                      # 0% (empty) to 90%
        path.write_bytes(data[: len(data) * tenth // 10])
        with pytest.raises(ParamsFileError, match=UNREADABLE) as info:
            jaxbp.load(path)
        assert isinstance(info.value.__cause__, zipfile.BadZipFile), tenth


def test_G13_other_formats(tmp_path):
    path, _, _ = small(tmp_path)
    real = path.read_bytes()
    buffer = io.BytesIO()
    np.save(buffer, np.ones(3))
    cases = {
        "wrong magic": b"NOPE" + real[4:],
        "json": json.dumps({"sizes": [2, 1], "W": [[1.0], [2.0]]}).encode(),
        "npy": buffer.getvalue(),
    }
    for name, data in cases.items():
        path.write_bytes(data)
        with pytest.raises(ParamsFileError, match=UNREADABLE):
            jaxbp.load(path)
    path.write_bytes(b"")
    with pytest.raises(ParamsFileError, match=r"\(BadZipFile: File is not a zip file\)"):
        jaxbp.load(path)


class _Touch:
    """Unpickling this creates a file: the proof that code ran."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        import pathlib
        return pathlib.Path.touch, (pathlib.Path(self.marker),)


def test_G13_pickles_never_run(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "p.npz"
    path.write_bytes(pickle.dumps({"params": _Touch(marker)}))
    with pytest.raises(ParamsFileError, match=UNREADABLE):
        jaxbp.load(path)
    np.savez(path, **{"layer0/W": np.asarray([_Touch(marker)], dtype=object)})
    with pytest.raises(ParamsFileError, match=r"array 'layer0/W' holds pickled Python objects"):
        jaxbp.load(path)
    pickle.loads(pickle.dumps(_Touch(tmp_path / "control")))          # the payload is live
    assert (tmp_path / "control").exists() and not marker.exists()


def test_G13_every_single_byte_flip(tmp_path):
    path, net, params = small(tmp_path, dtype=jnp.float32, sizes=(2, 1))
    data = path.read_bytes()
    expected, caught, harmless = bits(params), 0, 0
    for i in range(len(data)):
        flipped = bytearray(data)
        flipped[i] ^= 0xFF
        path.write_bytes(flipped)
        try:
            net2, params2 = jaxbp.load(path)
        except ParamsFileError:
            caught += 1
            continue
        assert net2 == net and bits(params2) == expected, f"byte {i} changed the data silently"
        harmless += 1
    assert caught + harmless == len(data) and caught > 0.5 * len(data)


def test_G13_edits_inside_a_valid_zip(tmp_path):
    path, _, params = small(tmp_path)
    W = np.asarray(params[0]["W"]).copy()
    W[0, 0] = np.nextafter(W[0, 0], np.inf)                       # one ulp
    rewrite(path, **{"layer0/W": W})
    with pytest.raises(ParamsFileError, match=r"^load: cannot read params file '.*p\.npz': "
                                              r"checksum mismatch"):
        jaxbp.load(path)


def test_G13_crc_checked(tmp_path):
    path, _, _ = small(tmp_path)
    data = bytearray(path.read_bytes())
    start = data.index(b"\x93NUMPY", data.index(b"layer0/W.npy")) + 128   # first value of W
    data[start] ^= 0x01
    path.write_bytes(data)
    with pytest.raises(ParamsFileError, match=r"\(BadZipFile: Bad CRC-32 for file 'layer0/W.npy'\)"):
        jaxbp.load(path)


# ---------------------------------------------------------------- E38 architecture

def test_E38_shapes_keys_and_versions(tmp_path):
    path, _, params = small(tmp_path, dtype=jnp.float32)
    original = path.read_bytes()
    b3 = np.zeros(3, np.float32)
    cases = [
        ({"layer1/b": b3}, {}, r"layer 1 'b' has shape \(3,\), expected \(1,\) for sizes \[2, 3, 1\]"),
        ({"layer1/b": None}, {}, r"missing array 'layer1/b' for sizes \[2, 3, 1\]"),
        ({"layer2/W": np.ones((1, 1), np.float32)}, {}, r"unexpected array 'layer2/W'"),
        ({"metadata": None}, {}, r"missing array 'metadata'"),
        ({"layer0/W": np.ones((2, 3))}, {}, r"layer 0 'W' has dtype float64, expected float32"),
        ({"metadata": np.frombuffer(b"{not json", np.uint8)}, {}, r"metadata is not valid JSON"),
        ({"metadata": np.zeros(3)}, {}, r"'metadata' must be uint8 bytes"),
        ({}, {"version": 2}, r"unsupported format version 2 \(this jaxbp reads version 1\)"),
        ({}, {"format": "flax"}, r"format is 'flax', expected 'jaxbp-params'"),
        ({}, {"sizes": [2, 0, 1]}, r"invalid architecture in metadata \(MLP: sizes\[1\] must be a positive"),
        ({}, {"activations": ["sigmoid", "sigmoud"]}, r"invalid architecture.*did you mean 'sigmoid'"),
        ({}, {"sizes": [2, 4, 1]}, r"layer 0 'W' has shape \(2, 3\), expected \(2, 4\) for sizes "
                                   r"\[2, 4, 1\] \(the metadata's sizes\)"),
        ({}, {"dtype": "object"}, r"metadata dtype 'object' is not one of"),
    ]
    for arrays, meta, regex in cases:
        path.write_bytes(original)
        if arrays:
            rewrite(path, **arrays)
        if meta:
            edit_metadata(path, **meta)
        with pytest.raises(ParamsFileError, match=regex):
            jaxbp.load(path)
    path.write_bytes(original)
    with pytest.raises(ParamsFileError, match=r"layer 1 'W' has shape \(3, 1\), expected \(3, 2\) "
                                              r"for sizes \[2, 3, 2\]"):
        jaxbp.load(path, expected_sizes=(2, 3, 2))
    with pytest.raises(ParamsFileError, match=r"the file has 2 layers \(sizes \[2, 3, 1\]\), "
                                              r"expected 1 for sizes \[2, 1\]"):
        jaxbp.load(path, expected_sizes=[2, 1])
    assert bits(jaxbp.load(path, expected_sizes=(2, 3, 1))[1]) == bits(params)
