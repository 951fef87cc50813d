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
    with pytest.raises(ng.Error, match=r"\[getitem\] index of type list .*index_select"):
        t[[0, 1]]
    with pytest.raises(ng.Error, match=r"index of type bool"):
        t[True]
    with pytest.raises(ValueError):
        t[::0]
