"""Data sets: MNIST-1D (generator, cache, RNG state), linreg, from_arrays, from_file, Dataset."""

from __future__ import annotations

import importlib
import importlib.metadata
import io
import random
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import gdlab as gd

# the package re-exports the function ``mnist1d`` under the module's name, so fetch the module
mnist1d_module = importlib.import_module("gdlab.datasets.mnist1d")

MNIST1D_FILE = f"mnist1d-{importlib.metadata.version('mnist1d')}.npz"


@pytest.fixture
def global_rngs() -> Iterator[None]:
    """Restore NumPy's and ``random``'s global RNG states after a test that seeds them."""
    saved_numpy, saved_random = np.random.get_state(), random.getstate()
    yield
    np.random.set_state(saved_numpy)
    random.setstate(saved_random)


def _arrays(data: gd.Dataset) -> dict[str, np.ndarray]:
    """A Dataset's arrays under the names the mnist1d generator uses."""
    return {"x": data.x_train, "y": data.y_train, "x_test": data.x_test, "y_test": data.y_test}


def _assert_same_arrays(a: gd.Dataset, b: gd.Dataset) -> None:
    for key, value in _arrays(a).items():
        np.testing.assert_array_equal(value, _arrays(b)[key], err_msg=key)
        assert value.dtype == _arrays(b)[key].dtype, key


# --- MNIST-1D ---------------------------------------------------------------------------


def test_mnist1d_has_the_default_shapes_dtypes_and_balanced_classes(mnist1d: gd.Dataset) -> None:
    assert mnist1d.x_train.shape == (4000, 40) and mnist1d.x_test.shape == (1000, 40)
    assert mnist1d.y_train.shape == (4000,) and mnist1d.y_test.shape == (1000,)
    assert mnist1d.x_train.dtype == np.float32 and mnist1d.y_train.dtype == np.int64
    assert (mnist1d.task, mnist1d.n_classes, mnist1d.name) == ("classification", 10, "mnist1d")
    assert mnist1d.input_shape == (40,) and mnist1d.outputs == 10
    train_counts = np.bincount(mnist1d.y_train, minlength=10)
    test_counts = np.bincount(mnist1d.y_test, minlength=10)
    assert len(train_counts) == len(test_counts) == 10  # labels 0..9 only
    assert train_counts.min() >= 380 and train_counts.max() <= 420  # 500 per class, shuffled 80/20
    assert test_counts.min() >= 80 and test_counts.max() <= 120
    assert np.all(train_counts + test_counts == 500)
    # the generator standardises all 5000 samples together
    x_all = np.concatenate([mnist1d.x_train, mnist1d.x_test]).astype(np.float64)
    assert abs(x_all.mean()) < 1e-5 and abs(x_all.std() - 1.0) < 1e-5


@pytest.mark.usefixtures("global_rngs")
def test_mnist1d_equals_the_packages_own_generator(mnist1d: gd.Dataset) -> None:
    from mnist1d.data import get_dataset_args, make_dataset

    reference = make_dataset(get_dataset_args())  # about 3 s; reseeds the global RNGs
    for key, value in _arrays(mnist1d).items():
        np.testing.assert_array_equal(
            value, np.asarray(reference[key]).astype(value.dtype), err_msg=key
        )


def test_second_load_reads_the_cache_and_returns_identical_arrays(
    mnist1d: gd.Dataset, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = []

    def generate() -> dict[str, np.ndarray]:
        calls.append(1)
        return _arrays(mnist1d)

    monkeypatch.setattr(mnist1d_module, "_generate", generate)
    first = gd.datasets.load("mnist1d", cache_path=tmp_path)
    assert len(calls) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == [MNIST1D_FILE]  # no temporary file left

    def fail() -> dict[str, np.ndarray]:
        raise AssertionError("the second load generated instead of reading the cache")

    monkeypatch.setattr(mnist1d_module, "_generate", fail)
    second = gd.datasets.load("mnist1d", cache_path=tmp_path)
    _assert_same_arrays(first, second)
    _assert_same_arrays(second, mnist1d)


@pytest.mark.usefixtures("interrupted_zip_write")
def test_ctrl_c_while_the_cache_is_written_is_an_interrupt_and_leaves_no_file(
    mnist1d: gd.Dataset, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ctrl-C inside zipfile's close of a member: the interrupt surfaces (not zipfile's "Can't close the
    ZIP file" ValueError raised over it), and neither the cache nor its temporary file is left behind."""
    monkeypatch.setattr(mnist1d_module, "_generate", lambda: _arrays(mnist1d))
    with pytest.raises(KeyboardInterrupt):
        gd.datasets.load("mnist1d", cache_path=tmp_path)
    assert list(tmp_path.iterdir()) == []
    gd.datasets.load("mnist1d", cache_path=tmp_path)  # the next load writes the cache
    assert [p.name for p in tmp_path.iterdir()] == [MNIST1D_FILE]


def test_the_cache_lives_in_gdlab_cache_dir_unless_a_path_is_given(
    mnist1d: gd.Dataset, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GDLAB_CACHE_DIR", str(tmp_path / "env"))
    monkeypatch.setattr(mnist1d_module, "_generate", lambda: _arrays(mnist1d))
    gd.datasets.load("mnist1d")
    assert [p.name for p in (tmp_path / "env").iterdir()] == [MNIST1D_FILE]
    gd.datasets.load("mnist1d", cache=False, cache_path=tmp_path / "off")
    assert not (tmp_path / "off").exists() or not any((tmp_path / "off").iterdir())


def test_a_cache_path_that_is_a_file_is_a_value_error_naming_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "a_file").write_text("")
    with pytest.raises(ValueError, match=r"^cache_path must be a directory that can be created and written; "
                       r"got '.*a_file' \(a file, not a directory\)\.$"):
        gd.datasets.load("mnist1d", cache_path=tmp_path / "a_file")  # was FileExistsError
    monkeypatch.setenv("GDLAB_CACHE_DIR", str(tmp_path / "a_file" / "below"))
    with pytest.raises(ValueError, match=r"^\$GDLAB_CACHE_DIR must be .*a_file/below' \(a file is in the way\)"):
        gd.datasets.load("mnist1d")  # was NotADirectoryError


def _truncated_npz(arrays: dict[str, np.ndarray], path: Path) -> bytes:
    np.savez(path, **arrays)
    return path.read_bytes()[: path.stat().st_size // 2]


@pytest.mark.parametrize(
    "damage", ["empty", "text", "truncated", "npy", "wrong_shapes", "missing_key"]
)
def test_a_damaged_cache_file_is_regenerated(
    damage: str, mnist1d: gd.Dataset, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = tmp_path / MNIST1D_FILE
    small = {k: v[:10] for k, v in _arrays(mnist1d).items()}
    if damage == "empty":
        cache.write_bytes(b"")
    elif damage == "text":
        cache.write_text("not an npz file")
    elif damage == "truncated":
        cache.write_bytes(_truncated_npz(_arrays(mnist1d), tmp_path / "full.npz"))
        (tmp_path / "full.npz").unlink()
        with pytest.raises(zipfile.BadZipFile):
            zipfile.ZipFile(cache)
    elif damage == "npy":
        with cache.open("wb") as f:
            np.save(f, small["x"])
    elif damage == "wrong_shapes":
        np.savez(cache, **small)
    else:
        np.savez(cache, x=small["x"], y=small["y"], x_test=small["x_test"])
    calls = []
    monkeypatch.setattr(mnist1d_module, "_generate", lambda: calls.append(1) or _arrays(mnist1d))
    _assert_same_arrays(gd.datasets.load("mnist1d", cache_path=tmp_path), mnist1d)
    assert len(calls) == 1
    # the regenerated file is a good cache again
    monkeypatch.setattr(mnist1d_module, "_generate", lambda: pytest.fail("generated again"))
    _assert_same_arrays(gd.datasets.load("mnist1d", cache_path=tmp_path), mnist1d)


@pytest.mark.usefixtures("global_rngs")
def test_generating_mnist1d_leaves_the_global_rngs_as_they_were(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The mnist1d generator calls np.random.seed and random.seed; gdlab must undo both."""
    import mnist1d.data

    defaults = mnist1d.data.get_dataset_args

    def small_args(as_dict: bool = False):  # the real generator on 100 samples (fast)
        args = defaults(as_dict=as_dict)
        if as_dict:
            args["num_samples"] = 100
        else:
            args.num_samples = 100
        return args

    monkeypatch.setattr(mnist1d.data, "get_dataset_args", small_args)
    np.random.seed(7)
    random.seed(7)
    data = gd.datasets.load("mnist1d", cache=False, cache_path=tmp_path)
    assert data.n_train == 80 and data.n_test == 20  # the generator really ran
    assert np.random.random() == np.random.RandomState(7).random_sample()
    assert random.random() == random.Random(7).random()
    assert not any(tmp_path.iterdir())  # cache=False writes nothing
    # the check can fail: the bare generator does move both global states
    np.random.seed(7)
    random.seed(7)
    mnist1d.data.make_dataset(small_args())
    assert np.random.random() != np.random.RandomState(7).random_sample()
    assert random.random() != random.Random(7).random()


def test_mnist1d_rejects_a_non_bool_cache_flag(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match=r"cache must be a bool \(True or False\); got 'no'"):
        gd.datasets.load("mnist1d", cache="no", cache_path=tmp_path)


# --- load ---------------------------------------------------------------------------------


def test_load_lists_the_valid_names_for_an_unknown_one() -> None:
    assert gd.datasets.NAMES == ("linreg", "mnist1d")
    with pytest.raises(
        ValueError, match=r"dataset must be one of \{'linreg', 'mnist1d'\}; got 'mnist'"
    ):
        gd.datasets.load("mnist")


def test_load_rejects_an_unknown_option() -> None:
    """It was Python's own "linreg() got an unexpected keyword argument 'colour'", which lists nothing allowed."""
    with pytest.raises(TypeError, match=r"^options of dataset 'linreg' must be among \['n', 'features', 'noise', "
                                        r"'seed', 'test_fraction', 'bias', 'dtype'\]; got 'colour'\.$"):
        gd.datasets.load("linreg", colour="blue")
    with pytest.raises(TypeError, match=r"^options of dataset 'mnist1d' must be among \['cache', 'cache_path'\]; "
                                        r"got 'n'\.$"):
        gd.datasets.load("mnist1d", n=100)


# --- linreg ------------------------------------------------------------------------------


def _all_rows(data: gd.Dataset) -> tuple[np.ndarray, np.ndarray]:
    return np.concatenate([data.x_train, data.x_test]), np.concatenate([data.y_train, data.y_test])


def test_linreg_true_weights_reproduce_the_targets_within_the_noise() -> None:
    data = gd.datasets.load("linreg", n=2000, features=4, noise=0.1, seed=3, dtype="float64")
    assert (data.n_train, data.n_test, data.input_shape) == (1600, 400, (4,))
    assert data.task == "regression" and data.n_classes is None and data.outputs == 1
    w, b = data.info["true_weights"], data.info["true_bias"]
    assert w.shape == (4,) and data.info["noise"] == 0.1 and b != 0.0
    x, y = _all_rows(data)
    residual = y - (x @ w + b)
    assert abs(residual.mean()) < 0.01 and 0.09 < residual.std() < 0.11


@pytest.mark.parametrize("bias", [True, False])
def test_linreg_without_noise_is_exactly_linear(bias: bool) -> None:
    data = gd.datasets.load(
        "linreg", n=50, features=3, noise=0.0, seed=1, bias=bias, dtype="float64"
    )
    x, y = _all_rows(data)
    np.testing.assert_allclose(
        y, x @ data.info["true_weights"] + data.info["true_bias"], rtol=0, atol=1e-12
    )
    assert (data.info["true_bias"] == 0.0) is (not bias)


def test_linreg_is_reproducible_by_seed() -> None:
    a, b = (gd.datasets.load("linreg", n=100, features=2, seed=5) for _ in range(2))
    _assert_same_arrays(a, b)
    np.testing.assert_array_equal(a.info["true_weights"], b.info["true_weights"])
    c = gd.datasets.load("linreg", n=100, features=2, seed=6)
    assert not np.array_equal(a.x_train, c.x_train)
    assert not np.array_equal(a.info["true_weights"], c.info["true_weights"])


def test_linreg_dtype_float64_and_default_float32_hold_the_same_numbers() -> None:
    d64 = gd.datasets.load("linreg", n=30, features=2, dtype="float64")
    d32 = gd.datasets.load("linreg", n=30, features=2)
    assert d64.x_train.dtype == d64.y_test.dtype == np.float64
    assert d32.x_train.dtype == d32.y_test.dtype == np.float32
    np.testing.assert_array_equal(d32.x_train, d64.x_train.astype(np.float32))
    np.testing.assert_array_equal(d32.y_test, d64.y_test.astype(np.float32))
    assert d64.n_test == 6  # int(30 * 0.2)


@pytest.mark.parametrize(
    ("options", "pattern"),
    [
        ({"dtype": "float16"}, r"dtype must be one of \{'float32', 'float64'\}; got 'float16'"),
        ({"n": 1}, r"n must be an integer in \[2, inf\]; got 1"),
        ({"features": 0}, r"features must be an integer in \[1, inf\]; got 0"),
        ({"noise": -0.5}, r"noise must be a float in \[0.0, inf\); got -0.5"),
        ({"test_fraction": 1.0}, r"test_fraction must be a float in \[0.0, 1.0\); got 1.0"),
        ({"seed": -1}, r"seed must be an integer in \[0, 4294967295\]; got -1"),
    ],
)
def test_linreg_rejects_bad_options(options: dict, pattern: str) -> None:
    with pytest.raises(ValueError, match=pattern):
        gd.datasets.load("linreg", **options)


def test_linreg_bias_must_be_a_bool() -> None:
    """bias="no" was truthy: a bias was drawn."""
    with pytest.raises(TypeError, match=r"bias must be a bool \(True or False\); got 'no'"):
        gd.datasets.load("linreg", bias="no")


# --- from_arrays --------------------------------------------------------------------------


def _ids(n: int) -> tuple[np.ndarray, np.ndarray]:
    """x holds the row id (and 10*id); y = 100*id, so every row can be traced after the split."""
    ids = np.arange(n, dtype=np.float64)
    return np.stack([ids, 10 * ids], axis=1), 100 * ids


def test_from_arrays_splits_disjointly_covering_every_row_and_keeps_pairs() -> None:
    x, y = _ids(10)
    data = gd.datasets.from_arrays(x, y, test_fraction=0.3, seed=4)
    assert (data.n_train, data.n_test) == (7, 3)
    train, test = data.x_train[:, 0], data.x_test[:, 0]
    assert set(train).isdisjoint(test)
    np.testing.assert_array_equal(np.sort(np.concatenate([train, test])), np.arange(10))
    for xs, ys in ((data.x_train, data.y_train), (data.x_test, data.y_test)):
        np.testing.assert_array_equal(xs[:, 1], 10 * xs[:, 0])
        np.testing.assert_array_equal(ys, 100 * xs[:, 0])
    assert not np.array_equal(np.sort(train), train)  # shuffled, not the first rows


def test_from_arrays_split_is_reproducible_by_seed() -> None:
    x, y = _ids(50)
    a, b = (gd.datasets.from_arrays(x, y, seed=3) for _ in range(2))
    _assert_same_arrays(a, b)
    c = gd.datasets.from_arrays(x, y, seed=4)
    assert not np.array_equal(a.x_test, c.x_test)
    assert (a.n_train, a.n_test) == (40, 10)


def test_from_arrays_test_fraction_zero_keeps_every_row_for_training() -> None:
    x, y = _ids(9)
    data = gd.datasets.from_arrays(x, y, test_fraction=0.0)
    assert (data.n_train, data.n_test) == (9, 0) and data.x_test.shape == (0, 2)


def test_from_arrays_infers_the_task_from_the_label_dtype() -> None:
    x = np.arange(12.0).reshape(6, 2)
    labels = gd.datasets.from_arrays(x, np.array([0, 1, 4, 1, 0, 2]))
    assert (labels.task, labels.n_classes, labels.y_train.dtype) == ("classification", 5, np.int64)
    values = gd.datasets.from_arrays(x, np.array([0.5, 1, 4, 1, 0, 2]))
    assert (values.task, values.n_classes) == ("regression", None)
    assert values.y_train.dtype == np.float64
    flags = gd.datasets.from_arrays(x, np.array([True, False] * 3))
    assert (flags.task, flags.n_classes) == ("classification", 2)
    one_class = gd.datasets.from_arrays(x, np.zeros(6, dtype=int))
    assert one_class.n_classes == 2


def test_from_arrays_takes_a_column_of_labels_and_names_y_for_other_shapes() -> None:
    x = np.arange(12.0).reshape(6, 2)
    column = gd.datasets.from_arrays(x, np.array([[0], [1], [2], [1], [0], [2]]), test_fraction=0.5)
    assert (column.task, column.n_classes, column.y_train.shape) == ("classification", 3, (3,))
    with pytest.raises(ValueError, match=r"^y must be one class label per sample, shape \(n,\) or \(n, 1\), for "
                                         r"classification; got shape \(6, 2\)\.$"):
        gd.datasets.from_arrays(x, np.zeros((6, 2), int))


def test_from_arrays_task_and_n_classes_override_the_inference() -> None:
    x = np.arange(12.0).reshape(6, 2)
    data = gd.datasets.from_arrays(x, np.array([0, 1, 2, 1, 0, 2]), task="regression")
    assert data.task == "regression" and data.y_train.dtype == np.float32
    data = gd.datasets.from_arrays(
        x, np.array([0.0, 1, 2, 1, 0, 2]), task="classification", n_classes=7
    )
    assert (data.task, data.n_classes, data.outputs, data.y_train.dtype) == (
        "classification",
        7,
        7,
        np.int64,
    )


def test_from_arrays_makes_integer_features_float_and_a_vector_one_feature() -> None:
    data = gd.datasets.from_arrays(np.arange(10), np.arange(10) % 2, test_fraction=0.0)
    assert data.x_train.shape == (10, 1) and data.x_train.dtype == np.float32
    np.testing.assert_array_equal(data.y_train, data.x_train[:, 0].astype(int) % 2)


@pytest.mark.parametrize(
    ("x", "y", "options", "pattern"),
    [
        (np.ones((5, 2)), np.arange(4), {}, r"x and y must have the same length; got 5 and 4"),
        (
            np.array([[1.0, 2.0], [3.0, np.nan], [1.0, 1.0]]),
            np.array([0, 1, 0]),
            {},
            r"x must hold finite values; got nan at index \(1, 1\)",
        ),
        (
            np.array([[1.0], [np.inf], [1.0]]),
            np.array([0.5, 1.0, 2.0]),
            {},
            r"x must hold finite values; got inf at index \(1, 0\)",
        ),
        (
            np.ones((3, 2)),
            np.array([0.5, -np.inf, 1.0]),
            {},
            r"y must hold finite values; got -inf at index 1",
        ),
        (
            np.ones((3, 2)),
            np.array([0.0, np.nan, 1.0]),
            {"task": "classification"},
            r"y must hold integer class labels for classification; got nan at index 1",
        ),
        (
            np.ones((3, 2)),
            np.array([0.0, 1.0, 2.5]),
            {"task": "classification"},
            r"y must hold integer class labels for classification; got 2.5 at index 2",
        ),
        (
            np.ones((4, 2)),
            np.array([0, 1, 5, 2]),
            {"n_classes": 3},
            r"y labels must be in \[0, 3\) \(n_classes=3\); got 5 at index 2",
        ),
        (
            np.ones((3, 2)),
            np.array([0, -1, 1]),
            {},
            (r"y labels must be in \[0, 2\) \(n_classes=2\); got -1 at index 1 \(whole numbers read as class labels; "
            r"pass task=\"regression\" if y is a quantity\)\.$"),
        ),
        (
            np.ones((3, 2)),
            np.array([100_000, 101_000, 129_000]),  # prices, say: not 129001 classes
            {},
            (r"y must be class labels 0 \.\. n_classes - 1 when its whole numbers are read as labels; its largest, "
            r"129000 at index 2, would make 129001 classes for 3 samples \(pass task=\"regression\" if y is a quantity, or "
            r"n_classes if it is labels\)\.$"),
        ),
        (
            np.ones((3, 2)),
            np.arange(3),
            {"n_classes": 1},
            r"n_classes must be an integer in \[2, inf\]; got 1",
        ),
        (
            np.ones((3, 2)),
            np.arange(3),
            {"task": "ranking"},
            r"task must be one of .*; got 'ranking'",
        ),
        (
            np.ones((3, 2)),
            np.arange(3),
            {"test_fraction": 1.0},
            r"test_fraction must be .*; got 1.0",
        ),
        (np.ones((3, 2)), np.arange(3), {"seed": -2}, r"seed must be .*; got -2"),
        (
            np.float64(1.0),
            np.int64(0),
            {},
            r"x and y must be arrays of samples .*; got shapes \(\) and \(\)",
        ),
    ],
    ids=[
        "length",
        "nan_x",
        "inf_x",
        "inf_y",
        "nan_label",
        "fractional_label",
        "label_too_big",
        "negative_label",
        "too_many_classes",
        "n_classes_1",
        "task",
        "test_fraction",
        "seed",
        "scalars",
    ],
)
def test_from_arrays_rejects_bad_input_naming_parameter_and_value(
    x: np.ndarray, y: np.ndarray, options: dict, pattern: str
) -> None:
    with pytest.raises(ValueError, match=pattern):
        gd.datasets.from_arrays(x, y, **options)


def test_from_arrays_rejects_non_numeric_features() -> None:
    with pytest.raises(TypeError, match=r"x must be a numeric array; got dtype <U1"):
        gd.datasets.from_arrays(np.array([["a"], ["b"]]), np.array([0, 1]))


@pytest.mark.parametrize(
    ("x", "y", "match", "dataset_match"),
    [
        (np.zeros((5, 0)), np.arange(5) % 2, r"x must have at least one feature; got shape \(5, 0\)",
         r"x_train must have shape \(n, features...\) with features >= 1; got shape \(5, 0\)"),
        (np.zeros((5, 2)), np.zeros((5, 0)), r"y must have shape \(n,\) or \(n, k\) with k >= 1 for regression; got shape",
         r"y_train must have shape .*; got shape \(5, 0\)"),
        (np.zeros((5, 2)), np.zeros((5, 2, 2)), r"y must have shape .* for regression; got shape \(5, 2, 2\)",
         r"y_train must have shape \(n,\) or \(n, k\) .*; got shape \(5, 2, 2\)"),
    ],
)
def test_from_arrays_and_dataset_reject_shapes_no_model_can_fit(x, y, match, dataset_match) -> None:
    """These made Datasets that failed only in fit ("input_shape[0] must be ...", "outputs must be ...",
    or a (2, 2) target read as 2 outputs and reported as a feature mismatch)."""
    with pytest.raises(ValueError, match=match):
        gd.datasets.from_arrays(x, y)
    arrays = {"x_train": np.asarray(x, np.float32), "y_train": np.asarray(y, np.float32)}
    arrays |= {"x_test": arrays["x_train"][:0], "y_test": arrays["y_train"][:0]}
    with pytest.raises(ValueError, match=dataset_match):
        gd.Dataset(**arrays, task="regression", n_classes=None)


def test_from_arrays_shows_a_huge_label_as_given_not_wrapped_round() -> None:
    """astype(int64) turned 2**63 (uint64) and 1e20 (a whole float) into -2**63 in the message."""
    for y, shown in ((np.array([0, 2**63], np.uint64), "9223372036854775808"), (np.array([0.0, 1e20]), "1e\\+20")):
        with pytest.raises(ValueError, match=rf"y labels must be integers in \[0, 2\*\*62\); got {shown} at index 1"):
            gd.datasets.from_arrays(np.zeros((2, 1)), y, task="classification")


def test_from_arrays_rejects_complex_arrays_and_empty_ones_naming_x_and_y() -> None:
    """Complex x used to become float32 with its imaginary part dropped (only a ComplexWarning);
    empty arrays were reported as x_train, a name the caller never gave."""
    with pytest.raises(TypeError, match=r"x must be a real array; got dtype complex128"):
        gd.datasets.from_arrays(np.array([[1 + 2j], [3 + 0j]]), np.array([0, 1]))
    with pytest.raises(TypeError, match=r"y must be a real array; got dtype complex64"):
        gd.datasets.from_arrays(np.zeros((2, 1)), np.array([1 + 1j, 2], np.complex64))
    with pytest.raises(ValueError, match=r"x and y must hold at least one sample; got shapes \(0, 3\) and \(0,\)"):
        gd.datasets.from_arrays(np.zeros((0, 3)), np.zeros(0, int))


# --- Dataset -----------------------------------------------------------------------------


def _dataset(**changes: object) -> gd.Dataset:
    """A valid 3-class Dataset with the given fields replaced."""
    fields: dict[str, Any] = {
        "x_train": np.zeros((5, 2), np.float32),
        "y_train": np.array([0, 1, 2, 0, 1]),
        "x_test": np.zeros((2, 2), np.float32),
        "y_test": np.array([2, 0]),
        "task": "classification",
        "n_classes": 3,
    }
    return gd.Dataset(**{**fields, **changes})


def test_dataset_accepts_consistent_arrays() -> None:
    data = _dataset()
    assert (data.n_train, data.n_test, data.input_shape, data.outputs) == (5, 2, (2,), 3)


@pytest.mark.parametrize(
    ("changes", "pattern"),
    [
        (
            {"y_train": np.array([0, 1, 2, 0])},
            r"x_train and y_train must have the same length; got 5 and 4",
        ),
        (
            {"x_test": np.zeros((3, 2), np.float32)},
            r"x_test and y_test must have the same length; got 3 and 2",
        ),
        (
            {"y_train": np.array([0, 1, 5, 0, 1])},
            r"y_train labels must be in \[0, 3\) \(n_classes=3\); got 5",
        ),
        (
            {"y_test": np.array([-1, 0])},
            r"y_test labels must be in \[0, 3\) \(n_classes=3\); got -1",
        ),
        ({"n_classes": 1}, r"n_classes must be an integer >= 2 for classification; got 1"),
        ({"n_classes": 2.5}, r"n_classes must be an integer >= 2 for classification; got 2\.5"),
        ({"task": "regression", "y_train": np.zeros(5, np.float32), "y_test": np.zeros(2, np.float32)},
         r"n_classes must be None for a regression data set; got 3"),
        ({"task": "ranking"}, r"task must be one of .*; got 'ranking'"),
        (
            {"x_test": np.zeros((2, 3), np.float32)},
            r"x_test must have the feature shape of x_train \(2,\); got \(3,\)",
        ),
    ],
    ids=[
        "train_length",
        "test_length",
        "label_too_big",
        "negative_label",
        "n_classes",
        "n_classes_float",
        "n_classes_regression",
        "task",
        "features",
    ],
)
def test_dataset_rejects_bad_input_naming_parameter_and_value(changes: dict, pattern: str) -> None:
    with pytest.raises(ValueError, match=pattern):
        _dataset(**changes)


def test_dataset_rejects_non_finite_data_naming_the_array() -> None:
    x = np.zeros((5, 2), np.float32)
    x[3, 1] = np.nan
    with pytest.raises(ValueError, match=r"x_train must hold finite floats"):
        _dataset(x_train=x)
    y = np.array([0.5, np.inf], np.float32)
    with pytest.raises(ValueError, match=r"y_test must hold finite floats"):
        _dataset(task="regression", n_classes=None, y_train=np.zeros(5, np.float32), y_test=y)


def test_dataset_non_finite_message_shows_the_value() -> None:
    x = np.zeros((5, 2), np.float32)
    x[3, 1] = np.nan
    with pytest.raises(ValueError, match=r"x_train must hold finite floats; got nan at index \(3, 1\)"):
        _dataset(x_train=x)


# --- from_file: CSV ----------------------------------------------------------------------


def _csv(tmp_path: Path, text: str, name: str = "data.csv", encoding: str = "utf-8") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding=encoding)
    return path


def _traced_csv(tmp_path: Path, n: int = 12) -> Path:
    """Columns a (row id), label (a % 3) and b (10 * a): each row is checkable after the split."""
    lines = ["a,label,b"] + [f"{i},{i % 3},{10 * i}" for i in range(n)]
    return _csv(tmp_path, "\n".join(lines) + "\n")


def test_csv_target_by_name_is_removed_from_the_features(tmp_path: Path) -> None:
    data = gd.datasets.from_file(_traced_csv(tmp_path), target="label", test_fraction=0.25, seed=1)
    assert (data.n_train, data.n_test, data.input_shape) == (9, 3, (2,))
    assert (data.task, data.n_classes, data.name) == ("classification", 3, "data")
    assert data.x_train.dtype == np.float32 and data.y_train.dtype == np.int64
    for xs, ys in ((data.x_train, data.y_train), (data.x_test, data.y_test)):
        np.testing.assert_array_equal(xs[:, 1], 10 * xs[:, 0])  # columns a, b in file order
        np.testing.assert_array_equal(ys, xs[:, 0].astype(int) % 3)
    ids = np.sort(np.concatenate([data.x_train[:, 0], data.x_test[:, 0]]))
    np.testing.assert_array_equal(ids, np.arange(12))


def test_a_csv_target_given_as_a_number_says_column_names_are_text(tmp_path: Path) -> None:
    """pandas' to_csv of an unnamed frame writes the header 0,1,2,3; target=3 said "must be one of the CSV columns
    ['0', '1', '2', '3']; got 3", which reads as if 3 were among them."""
    path = tmp_path / "frame.csv"
    path.write_text("0,1,2,3\n" + "".join(f"{i},{2 * i},{i % 3},{i % 2}\n" for i in range(12)))
    with pytest.raises(TypeError, match=r"^target must be a column or array name \(text\), such as target='3'; "
                                        r"got 3 \(int\)\.$"):
        gd.datasets.from_file(path, target=3)  # type: ignore[arg-type]
    assert gd.datasets.from_file(path, target="3").n_classes == 2


def test_csv_target_defaults_to_the_last_column(tmp_path: Path) -> None:
    data = gd.datasets.from_file(_traced_csv(tmp_path), test_fraction=0.0)
    np.testing.assert_array_equal(data.y_train, 10 * data.x_train[:, 0])
    np.testing.assert_array_equal(data.x_train[:, 1], data.x_train[:, 0] % 3)
    # b holds whole numbers, so the inferred task is classification with max(b) + 1 classes
    assert (data.task, data.n_classes) == ("classification", 111)


def test_csv_float_target_is_regression_and_task_overrides(tmp_path: Path) -> None:
    path = _csv(tmp_path, "a,b,y\n1,2,0.5\n2,1,1.25\n3,3,-2\n4,0,0\n")
    data = gd.datasets.from_file(path, test_fraction=0.0)
    assert data.task == "regression" and data.y_train.dtype == np.float32
    np.testing.assert_array_equal(np.sort(data.y_train), [-2.0, 0.0, 0.5, 1.25])
    whole = gd.datasets.from_file(_traced_csv(tmp_path), target="b", task="regression")
    assert whole.task == "regression" and whole.n_classes is None


def test_csv_whole_numbers_too_big_for_labels_are_a_regression_target(tmp_path: Path) -> None:
    """1e20 used to become the int64 label -2**63 and fail as 'labels must be in [0, 2)'."""
    data = gd.datasets.from_file(_csv(tmp_path, "a,y\n1,1e20\n2,3\n"), test_fraction=0.0)
    assert data.task == "regression"
    np.testing.assert_array_equal(np.sort(data.y_train), np.array([3.0, 1e20], np.float32))


def test_csv_with_a_byte_order_mark_keeps_the_first_column_name(tmp_path: Path) -> None:
    path = _csv(tmp_path, "y,a\n1,2\n0,3\n", encoding="utf-8-sig")
    data = gd.datasets.from_file(path, target="y", test_fraction=0.0)
    np.testing.assert_array_equal(np.sort(data.x_train[:, 0]), [2.0, 3.0])


@pytest.mark.parametrize(
    ("text", "task", "pattern"),
    [  # the label's index from 0 ('at index 2'), where the other CSV errors count data rows from 1
        ("a,label\n1,0\n2,1\n3,-1\n4,1\n", None,
         r"y labels must be in \[0, 2\) \(n_classes=2\); got -1 in '.*data.csv' data row 3, column 'label' \(whole"),
        ("label,a\n0,1\n1.5,2\n1,3\n", "classification",
         (r"y must hold integer class labels for classification; got 1.5 in '.*data.csv' data row 2, column "
         r"'label'\.$")),
        ("a,label\n\n1,0\n\n2,-3\n", "classification",  # blank lines are skipped, as the other errors count
         r"got -3 in '.*data.csv' data row 2, column 'label'\.$"),
        ("a,label\n1,0\n2,5000\n3,1\n", None,  # it named neither the file nor the row
         r"its largest, 5000 in '.*data.csv' data row 2, column 'label', would make 5001 classes for 3 samples"),
    ],
    ids=["outside_the_classes", "not_whole", "after_blank_lines", "too_many_classes"],
)
def test_a_csv_label_error_names_its_data_row_from_1(tmp_path: Path, text: str, task: str | None,
                                                    pattern: str) -> None:
    with pytest.raises(ValueError, match=pattern):
        gd.datasets.from_file(_csv(tmp_path, text), target="label", task=task)


def test_a_csv_header_with_some_numeric_names_is_a_header(tmp_path: Path) -> None:
    data = gd.datasets.from_file(_csv(tmp_path, "x,2024,y\n1,2,0.5\n3,4,1.5\n"), target="2024", test_fraction=0.0)
    assert data.n_train == 2 and np.sort(data.y_train).tolist() == [2, 4]  # both data rows kept


def test_a_csv_column_without_a_name_is_refused(tmp_path: Path) -> None:
    """pandas' to_csv() (index=True) writes the row index as a first column with no name: it was read as a
    feature, the row numbers in x_train[:, 0]."""
    path = _csv(tmp_path, ",a,y\n0,1,0\n1,3,1\n2,5,0\n")
    with pytest.raises(ValueError, match=r"path must be a CSV file whose columns all have names; column 1 of .* has "
                                         r"none \(pandas' to_csv writes its row index so: write it with index=False"):
        gd.datasets.from_file(path)
    with pytest.raises(ValueError, match=r"whose columns all have names; column 3 of .* has none\.$"):
        gd.datasets.from_file(_csv(tmp_path, "a,y,\n1,0,\n3,1,\n"))  # a trailing comma: no pandas index


def test_pandas_header_of_unnamed_columns_is_a_header(tmp_path: Path) -> None:
    """pandas.DataFrame(array).to_csv(index=False) names the columns 0, 1, ..., k-1: all numbers, yet a
    header (it was refused as data once headerless files were)."""
    data = gd.datasets.from_file(_csv(tmp_path, "0,1,2\n1.5,2,0\n3.5,4,1\n"), target="2", test_fraction=0.0)
    assert data.n_train == 2 and np.sort(data.y_train).tolist() == [0, 1]
    assert np.sort(data.x_train[:, 0]).tolist() == [1.5, 3.5]


@pytest.mark.parametrize(
    ("text", "options", "pattern"),
    [
        (
            "a,b\n1,2\n",
            {"target": "c"},
            r"target must be one of the CSV columns \['a', 'b'\]; got 'c'",
        ),
        (
            "a,b\n1,2\n3,x\n",
            {},
            r"path must hold numeric CSV values; .*data row 2, column 'b' has 'x'",
        ),
        ("a,b\n1,2\n3\n", {}, r"path must have 2 values on every CSV row; .*data row 2 has 1"),
        ("a,b\n", {}, r"path must be a CSV file with a header row and data rows; .* has only a header row\.$"),  # '1 rows'
        ("", {}, r"path must be a CSV file with a header row and data rows; .* has no rows\.$"),
        ("a\n1\n", {}, r"path must be a CSV file with at least two columns; .* has \['a'\]"),
        # it was 'y must hold finite values; got nan at index 0': neither file, column nor row (counted from 1)
        ("a,b\n1,2\n2, nan\n", {}, r"path must hold finite CSV values; .*data row 2, column 'b' has ' nan'\.$"),
        ("a,b\n1,2\n-inf,3\n", {}, r"path must hold finite CSV values; .*data row 2, column 'a' has '-inf'\.$"),
        # it was 'x must hold finite values; got inf at index (1, 1)' (float32's inf), with a RuntimeWarning
        ("a,b,y\n1,2,0\n3,1e300,1\n", {}, (r"path must hold CSV values within float32's range \(\|v\| <= "
         r"3\.403e\+38\); '.*data.csv' data row 2, column 'b' has '1e300'\.$")),
        ("a,b\n1,2\n", {"test_fraction": 1.5}, r"test_fraction must be .*; got 1.5"),
        ("y,a,y\n1,2,3\n", {"target": "y"},
         r"target must name one CSV column; got 'y', which names 2 of the columns \['y', 'a', 'y'\]\."),
        # no header: its first data row was taken for the header and silently lost
        ("1,2\n3,4\n5,6\n", {}, (r"path must be a CSV file whose first line is a header row of column names; the "
         r"first line of '.*data.csv' looks like data \('1,2': every field is a number\): add a header row naming "
         r"the columns\.$")),
        ("1.5, -2e3 ,7\n", {}, r"the first line of '.*data.csv' looks like data \('1.5, -2e3 ,7': every field"),
        (",".join(map(str, range(1, 9))) + "\n" + ",".join(["1"] * 8) + "\n", {},
         r"looks like data \('1,2,3,4,5,6,\.\.\.': every field is a number\)"),
    ],
    ids=[
        "missing_target",
        "non_numeric",
        "ragged",
        "header_only",
        "empty",
        "one_column",
        "nan",
        "inf",
        "beyond_float32",
        "test_fraction",
        "ambiguous_target",
        "no_header",
        "no_header_one_row",
        "no_header_long",
    ],
)
def test_csv_rejects_bad_files_naming_the_problem(
    tmp_path: Path, text: str, options: dict, pattern: str
) -> None:
    with pytest.raises(ValueError, match=pattern):
        gd.datasets.from_file(_csv(tmp_path, text), **options)


def test_from_file_rejects_missing_paths_directories_and_other_suffixes(tmp_path: Path) -> None:
    with pytest.raises(
        ValueError, match=r"path must be an existing file; got '.*nope.csv' \(not found\)"
    ):
        gd.datasets.from_file(tmp_path / "nope.csv")
    (tmp_path / "folder.csv").mkdir()
    with pytest.raises(
        ValueError, match=r"path must be an existing file; got '.*folder.csv' \(a directory\)"
    ):
        gd.datasets.from_file(tmp_path / "folder.csv")
    text = _csv(tmp_path, "a,b\n1,2\n", name="data.txt")
    with pytest.raises(
        ValueError, match=r"path must end in one of \('.csv', '.npz'\); got '.*data.txt'"
    ):
        gd.datasets.from_file(text)


# --- from_file: NPZ ----------------------------------------------------------------------


def test_npz_x_and_y_are_split_like_from_arrays(tmp_path: Path) -> None:
    x, y = _ids(20)
    np.savez(tmp_path / "xy.npz", x=x, y=y)
    data = gd.datasets.from_file(tmp_path / "xy.npz", seed=2)
    _assert_same_arrays(data, gd.datasets.from_arrays(x, y, seed=2))
    assert data.name == "xy" and (data.n_train, data.n_test) == (16, 4)


def test_npz_target_names_the_y_array(tmp_path: Path) -> None:
    x, y = _ids(10)
    np.savez(tmp_path / "named.npz", x=x, price=y)
    data = gd.datasets.from_file(tmp_path / "named.npz", target="price")
    np.testing.assert_array_equal(data.y_train, 100 * data.x_train[:, 0])
    with pytest.raises(ValueError, match=r"target must name the .npz array of targets, not the features 'x'; "
                                         r"got 'x'\."):  # x was both the features and the target
        gd.datasets.from_file(tmp_path / "named.npz", target="x")


def test_npz_with_a_split_keeps_it_in_order(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    arrays = {
        "x_train": rng.normal(size=(7, 3)),
        "y_train": np.array([0, 1, 2, 3, 0, 1, 2]),
        "x_test": rng.normal(size=(3, 3)),
        "y_test": np.array([3, 2, 1]),
    }
    np.savez(tmp_path / "split.npz", **arrays)
    data = gd.datasets.from_file(tmp_path / "split.npz")
    assert (data.task, data.n_classes, data.n_train, data.n_test) == ("classification", 4, 7, 3)
    for key in ("x_train", "y_train", "x_test", "y_test"):
        np.testing.assert_array_equal(getattr(data, key), arrays[key], err_msg=key)
    with pytest.raises(ValueError, match=r"target must be left out for an .npz file with x_train, y_train, "
                                         r"x_test, y_test .*; got 'y_train'\."):  # it was ignored
        gd.datasets.from_file(tmp_path / "split.npz", target="y_train")
    for given, value in (({"test_fraction": 0.5}, "0.5"), ({"seed": 9}, "9"), ({"seed": 0}, "0")):
        name = next(iter(given))  # they were ignored silently, even when not the default
        with pytest.raises(ValueError, match=rf"^{name} must be left out for an .npz file with x_train, y_train, "
                                             rf"x_test, y_test \(it keeps its own train/test split\); got {value}\.$"):
            gd.datasets.from_file(tmp_path / "split.npz", **given)


@pytest.mark.parametrize(
    ("arrays", "pattern"),
    [
        (
            {"a": np.ones((3, 2)), "b": np.arange(3)},
            (
                r"path must hold arrays 'x' and 'y' \(or x_train, y_train, x_test, y_test\); "
                r".* holds \['a', 'b'\]"
            ),
        ),
        (  # 10 + 5 = 9 + 6 samples: joining first would hide the mismatch and shift labels
            {
                "x_train": np.ones((10, 2)),
                "y_train": np.arange(9),
                "x_test": np.ones((5, 2)),
                "y_test": np.arange(6),
            },
            r"x_train and y_train must have the same length; got shapes \(10, 2\) and \(9,\)",
        ),
        (
            {
                "x_train": np.ones((4, 2)),
                "y_train": np.arange(4),
                "x_test": np.ones((2, 3)),
                "y_test": np.arange(2),
            },
            r"x_test must have the per-sample shape of x_train; got \(2, 3\) and \(4, 2\)",
        ),
    ],
    ids=["missing_keys", "split_lengths", "split_features"],
)
def test_npz_rejects_wrong_arrays(tmp_path: Path, arrays: dict, pattern: str) -> None:
    np.savez(tmp_path / "bad.npz", **arrays)
    with pytest.raises(ValueError, match=pattern):
        gd.datasets.from_file(tmp_path / "bad.npz")


def _npy_bytes() -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, np.ones(3))
    return buffer.getvalue()


NOT_ZIP = r"it is not an .npz \(zip\) archive, or it is cut short\.$"


@pytest.mark.parametrize(
    ("content", "why"),
    [
        (b"", NOT_ZIP),
        (b"PK\x03\x04 truncated", NOT_ZIP),
        (b"plain text", NOT_ZIP),  # np.load's own reason: 'This file contains pickled (object) data'
        (_npy_bytes(), r"it holds a single .npy array, not an .npz archive of named arrays\.$"),
    ],
    ids=["empty", "truncated", "text", "npy"],
)
def test_unreadable_npz_is_a_value_error(tmp_path: Path, content: bytes, why: str) -> None:
    (tmp_path / "bad.npz").write_bytes(content)
    with pytest.raises(
        ValueError, match=r"path must be a readable .npz file; could not read '.*bad.npz': " + why
    ):
        gd.datasets.from_file(tmp_path / "bad.npz")


def test_a_split_that_leaves_no_test_sample_warns() -> None:
    """A one-row file trained with NaN test metrics and no word why."""
    with pytest.warns(UserWarning, match=r"^test_fraction 0.2 of 4 samples rounds down to no test sample: the test "
                                         r"metrics will be NaN \(at least 5 samples give one; test_fraction=0 asks"):
        data = gd.datasets.from_arrays(np.arange(4.0), np.arange(4) % 2)
    assert (data.n_train, data.n_test) == (4, 0)
    with pytest.warns(UserWarning, match=r"^test_fraction 0.2 of 1 sample rounds down"):  # was '1 samples'
        gd.datasets.from_arrays(np.arange(1.0), np.arange(1))
    assert gd.datasets.from_arrays(np.arange(5.0), np.arange(5) % 2).n_test == 1  # no warning (warnings are errors)
    assert gd.datasets.from_arrays(np.arange(4.0), np.arange(4) % 2, test_fraction=0).n_test == 0  # asked for
