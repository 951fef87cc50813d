"""Tensors and numpy: zero-copy both ways, errors instead of silent copies, ops and their
gradients against numpy references and finite differences (and PyTorch when present)."""
import numpy as np
import pytest

import normgrad as ng


def test_numpy_round_trip_shares_memory():
    a = np.arange(12, dtype=np.float32).reshape(3, 4)
    t = ng.from_numpy(a)
    assert t.shape == (3, 4) and t.dtype == "float32" and t.device == "cpu"
    assert t.strides == (4, 1) and t.is_contiguous()
    b = t.to_numpy()
    assert np.shares_memory(a, b)
    a[1, 2] = 100.0  # one memory: the tensor sees numpy's write
    assert t.to_numpy()[1, 2] == 100.0
    np.testing.assert_array_equal(b, a)


def test_strided_views_stay_zero_copy():
    a = np.arange(24, dtype=np.float64).reshape(4, 6)
    t = ng.from_numpy(a[:, ::2])  # non-contiguous: a view with strides (6, 2)
    assert t.strides == (6, 2) and not t.is_contiguous()
    np.testing.assert_array_equal(t.numpy_copy(), a[:, ::2])
    tt = t.transpose(0, 1)
    v = tt.to_numpy()
    assert np.shares_memory(v, a)
    np.testing.assert_array_equal(v, a[:, ::2].T)
    assert t.sum().item() == a[:, ::2].sum()


def test_no_silent_copies():
    with pytest.raises(ng.Error, match="zero-copy"):
        ng.from_numpy(np.zeros(3, dtype=np.int32))
    with pytest.raises(ng.Error, match="negative strides"):
        ng.from_numpy(np.arange(4.0)[::-1])
    x = ng.zeros([2], requires_grad=True)
    with pytest.raises(ng.Error, match="requires grad"):
        x.to_numpy()
    # The explicit copies.
    t = ng.tensor(np.array([1, 2, 3], dtype=np.int32), dtype="float64")
    assert t.dtype == "float64" and t.tolist() == [1.0, 2.0, 3.0]
    np.testing.assert_array_equal(x.numpy_copy(), [0.0, 0.0])


def test_errors_carry_the_cpp_message():
    a, b = ng.zeros([2, 3]), ng.zeros([4, 5])
    with pytest.raises(ng.Error) as e:
        ng.matmul(a, b)
    assert str(e.value).startswith("[matmul]")
    assert issubclass(ng.Error, RuntimeError)
    with pytest.raises(ng.Error, match="unknown norm kind"):
        ng.nn.Norm("no-such-kind", 8)


def _softmax_ce_numpy(x, w, target):
    z = x @ w
    z = np.tanh(z)
    p = np.exp(z - z.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    return -np.log(p[np.arange(len(target)), target]).mean()


def test_op_and_gradient_vs_numpy_and_finite_differences():
    rng = np.random.default_rng(0)
    xn, wn = rng.standard_normal((5, 4)), rng.standard_normal((4, 3))
    tn = np.array([0, 2, 1, 1, 0], dtype=np.int64)
    x = ng.tensor(xn, dtype="float64", requires_grad=True)
    w = ng.tensor(wn, dtype="float64", requires_grad=True)
    target = ng.from_numpy(tn)
    loss = ng.cross_entropy(ng.tanh(x @ w), target)
    assert loss.item() == pytest.approx(_softmax_ce_numpy(xn, wn, tn), rel=1e-12)
    loss.backward()
    # Central differences of the numpy reference.
    eps, num = 1e-6, np.zeros_like(wn)
    for i in np.ndindex(wn.shape):
        d = np.zeros_like(wn)
        d[i] = eps
        num[i] = (_softmax_ce_numpy(xn, wn + d, tn) - _softmax_ce_numpy(xn, wn - d, tn)) / (2 * eps)
    np.testing.assert_allclose(w.grad.to_numpy(), num, rtol=1e-6, atol=1e-9)
    # And normgrad's own gradcheck, with a Python function.
    r = ng.gradcheck(lambda a, b: ng.softmax(ng.exp(a) @ b / 3.0, 1).square().sum(),
                     [x.detach().requires_grad_(), w.detach().requires_grad_()])
    assert r, r.message


def test_op_and_gradient_vs_torch():
    try:
        import torch
    except Exception as e:  # noqa: BLE001 (any import failure means: no reference)
        pytest.skip(f"PyTorch is not importable ({e.__class__.__name__}: {e})")
    rng = np.random.default_rng(1)
    xn, wn = rng.standard_normal((6, 5)), rng.standard_normal((5, 4))
    x = ng.tensor(xn, dtype="float64", requires_grad=True)
    w = ng.tensor(wn, dtype="float64", requires_grad=True)
    y = (ng.log_softmax(x @ w, 1) * ng.sigmoid(x @ w)).mean()
    y.backward()
    xt = torch.tensor(xn, requires_grad=True)
    wt = torch.tensor(wn, requires_grad=True)
    yt = (torch.log_softmax(xt @ wt, 1) * torch.sigmoid(xt @ wt)).mean()
    yt.backward()
    assert y.item() == pytest.approx(yt.item(), rel=1e-12)
    np.testing.assert_allclose(x.grad.to_numpy(), xt.grad.numpy(), rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(w.grad.to_numpy(), wt.grad.numpy(), rtol=1e-10, atol=1e-14)


def test_no_grad_and_operators():
    x = ng.ones([2, 2], requires_grad=True)
    with ng.no_grad():
        assert not ng.is_grad_enabled()
        y = x * 2.0 + 1.0
    assert ng.is_grad_enabled() and not y.requires_grad
    z = (1.0 - x) / 2.0 + (x ** 2.0) - (-x)
    assert z.requires_grad and z.grad_fn
    np.testing.assert_array_equal(z.detach().to_numpy(), np.full((2, 2), 2.0, np.float32))
    assert x.reshape([4]).shape == (4,) and x.T.shape == (2, 2)
    assert ng.mean(x, 0).shape == (2,) and x.sum(dims=[0, 1], keepdim=True).shape == (1, 1)
