"""Tensor.__getitem__ against numpy: the same values and shapes for every basic index, views
that share storage (a negative step copies), gradients that scatter back, errors that name
the op and the shape."""
import numpy as np
import pytest

import normgrad as ng

KEYS = [
    1, -1, (2, 3), (-4, -1), slice(None), slice(1, 3), slice(None, None, 2), slice(-3, None),
    slice(5, 1), slice(10, 20), (slice(None), 2), (Ellipsis, 1), (1, Ellipsis, slice(0, 4, 3)),
    (None, 1), (slice(1, None), None, slice(None, None, 3)), (Ellipsis, None), (),
    np.int64(2), (slice(None, None, -1),), (slice(None), slice(4, 0, -2)),
    (slice(None, None, -2), Ellipsis, -1), slice(1, 3, -1), (Ellipsis,),
]


@pytest.mark.parametrize("key", KEYS, ids=repr)
def test_getitem_matches_numpy(key):
    a = np.arange(4 * 5 * 6, dtype=np.float64).reshape(4, 5, 6)
    t = ng.from_numpy(a)
    r = t[key]
    assert r.shape == a[key].shape
    np.testing.assert_array_equal(r.numpy_copy(), a[key])


def test_positive_steps_are_views():
    a = np.arange(24, dtype=np.float32).reshape(4, 6)
    t = ng.from_numpy(a)
    v = t[1:, ::2]
    assert v.strides == (6, 2)
    assert np.shares_memory(v.to_numpy(), a)
    v.fill_(-1.0)  # writes through the view into numpy's memory
    assert (a[1:, ::2] == -1).all() and a[0, 0] == 0 and a[1, 1] == 7
    assert not np.shares_memory(t[::-1].to_numpy(), a)  # reversed: a copy


def test_getitem_gradient_scatters_back():
    x = ng.tensor(np.arange(12.0).reshape(3, 4), dtype="float64", requires_grad=True)
    y = (x[1:, ::2] * 2.0).sum() + x[0, -1] * 3.0 + x[::-1, 1].sum()
    y.backward()
    g = np.zeros((3, 4))
    g[1:, ::2] += 2.0
    g[0, -1] += 3.0
    g[:, 1] += 1.0
    np.testing.assert_array_equal(x.grad.to_numpy(), g)
    r = ng.gradcheck(lambda a: (a[::-2, 1:3] * a[0, 1:3]).square().sum(),
                     [ng.tensor(np.random.default_rng(0).standard_normal((5, 4)), dtype="float64",
                                requires_grad=True)])
    assert r, r.message


def test_getitem_errors_name_the_op_and_shape():
    t = ng.zeros([3, 4])
    with pytest.raises(ng.Error, match=r"\[getitem\] index 3 out of range for dim 0 .*\[3, 4\]"):
        t[3]
    with pytest.raises(ng.Error, match=r"\[getitem\] index -5 out of range for dim 1"):
        t[0, -5]
    with pytest.raises(ng.Error, match=r"\[getitem\] too many indices \(3\) .*\[3, 4\]"):
        t[0, 0, 0]
    with pytest.raises(ng.Error, match=r"one ellipsis"):
        t[..., 0, ...]
    with pytest.raises(ng.Error, match=r"\[getitem\] index of type dict .*one integer index array"):
        t[{0: 1}]
    with pytest.raises(ng.Error, match=r"index of type bool"):
        t[True]
    with pytest.raises(ValueError):
        t[::0]


SET_KEYS = [1, -1, (2, 3), slice(1, 3), (slice(None), 2), (Ellipsis, 1), (1, Ellipsis, slice(0, 4, 3)),
            (None, 1), (slice(1, None), None, slice(None, None, 3)), (), slice(5, 1)]


@pytest.mark.parametrize("key", SET_KEYS, ids=repr)
def test_setitem_matches_numpy(key):
    a = np.arange(4 * 5 * 6, dtype=np.float32).reshape(4, 5, 6)
    t = ng.from_numpy(a.copy())
    t[key] = 7.5  # a number fills the view
    a[key] = 7.5
    np.testing.assert_array_equal(t.numpy_copy(), a)
    value = np.linspace(-1, 1, a[key].shape[-1] if a[key].ndim else 1, dtype=np.float64)
    value = value.reshape(a[key].shape[-1:]) if a[key].ndim else value.reshape(())
    t[key] = ng.from_numpy(value)  # a tensor broadcasts over the view and takes its dtype
    a[key] = value
    np.testing.assert_array_equal(t.numpy_copy(), a)
    assert t.dtype == "float32"


def test_setitem_writes_through_shared_memory_and_refuses_what_it_cannot_do():
    a = np.zeros((3, 4), dtype=np.float32)
    t = ng.from_numpy(a)
    t[1, ::2] = 5
    assert a[1].tolist() == [5, 0, 5, 0]  # zero-copy: numpy sees the write
    with pytest.raises(RuntimeError, match=r"\[setitem\] a slice with step -1 on dim 0 of shape \[3, 4\]"):
        t[::-1] = 1.0
    with pytest.raises(RuntimeError, match=r"\[setitem\] value of type list"):
        t[0] = [1, 2, 3, 4]
    with pytest.raises(RuntimeError, match="setitem.*1 \\(size 3\\)|out of range"):
        t[5] = 1.0
    w = ng.tensor(np.ones((4,)), dtype="float32", requires_grad=True)
    with pytest.raises(RuntimeError, match=r"\[setitem\] the value \(shape \[4\]\) requires grad"):
        t[0] = w
    t[0] = w.detach()
    assert a[0].tolist() == [1, 1, 1, 1]
    with pytest.raises(RuntimeError, match=r"\[fill_\] in-place write to a tensor that requires grad"):
        w[0] = 2.0
    with ng.no_grad():  # as torch: initialise a parameter in place
        w[1:3] = 2.0
    assert w.numpy_copy().tolist() == [1, 2, 2, 1]


ARRAY_KEYS = [[0, 2], [-1, 0, 0], (slice(None), [4, 1]), (1, Ellipsis, [5, 0, 5]),
              (np.array([[0, 1], [3, 2]]), 1), (slice(1, 3), np.array([0, 4], dtype=np.uint8)),
              (None, [2]), np.array([], dtype=np.int64), (Ellipsis, [[1], [2]]),
              (0, slice(None), [1, 2]), (0, None, [[1], [2]]), ([1, 0], 2)]


@pytest.mark.parametrize("key", ARRAY_KEYS, ids=repr)
def test_one_index_array_matches_numpy(key):
    a = np.arange(4 * 5 * 6, dtype=np.float64).reshape(4, 5, 6)
    r = ng.from_numpy(a)[key]
    assert r.shape == a[key].shape
    np.testing.assert_array_equal(r.numpy_copy(), a[key])


def test_index_array_from_a_tensor_and_its_gradient():
    x = ng.tensor(np.arange(12.0).reshape(3, 4), dtype="float64", requires_grad=True)
    idx = ng.from_numpy(np.array([2, 0, 2], dtype=np.int64))
    y = x[idx]  # rows 2, 0, 2: row 2's gradient is the sum of both picks
    np.testing.assert_array_equal(y.numpy_copy(), np.arange(12.0).reshape(3, 4)[[2, 0, 2]])
    (y * ng.from_numpy(np.arange(12.0).reshape(3, 4))).sum().backward()
    w = np.arange(12.0).reshape(3, 4)
    np.testing.assert_array_equal(x.grad.numpy_copy(), np.stack([w[1], np.zeros(4), w[0] + w[2]]))


def test_index_arrays_refused_where_they_cannot_mean_one_thing():
    t = ng.from_numpy(np.zeros((3, 4), dtype=np.float32))
    with pytest.raises(RuntimeError, match=r"\[getitem\] a key with 2 index arrays for a tensor of shape \[3, 4\]"):
        t[[0, 1], [1, 2]]
    with pytest.raises(RuntimeError, match=r"\[getitem\] a boolean mask \(dtype bool\)"):
        t[np.array([True, False, True])]
    with pytest.raises(RuntimeError, match=r"\[getitem\] an index array of dtype float64"):
        t[np.array([0.0, 1.0])]
    with pytest.raises(RuntimeError, match=r"\[getitem\] index 3 out of range for dim 0 \(size 3\)"):
        t[[0, 3]]
    with pytest.raises(RuntimeError, match=r"\[setitem\] an index array selects a copy"):
        t[[0, 1]] = 1.0
