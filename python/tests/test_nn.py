"""Norm layers of the registry, a norm written from ops in Python against the fused kind,
GPT, AdamW."""
import numpy as np
import pytest

import normgrad as ng


def test_kinds_come_from_the_registry():
    kinds = ng.nn.norm_kinds()
    assert {"layernorm", "rmsnorm", "dyt", "dyisru"} <= set(kinds)
    for k in kinds:
        n = ng.nn.Norm(k, 8)
        assert n.kind == k and n.channels == 8
        y = n(ng.randn([2, 3, 8]))
        assert y.shape == (2, 3, 8)


def test_rmsnorm_from_python_ops_matches_the_fused_kind():
    rng = np.random.default_rng(3)
    C = 16
    norm = ng.nn.Norm("rmsnorm", C, eps=1e-5)
    norm.to("float64")
    with ng.no_grad():
        norm.weight.copy_(ng.tensor(rng.uniform(0.5, 1.5, C), dtype="float64"))
    xn = rng.standard_normal((3, 5, C))
    gn = rng.standard_normal((3, 5, C))
    w2 = ng.tensor(norm.weight.numpy_copy(), dtype="float64", requires_grad=True)

    x1 = ng.tensor(xn, dtype="float64", requires_grad=True)
    y1 = norm(x1)  # the fused kernel
    (y1 * ng.from_numpy(gn)).sum().backward()

    x2 = ng.tensor(xn, dtype="float64", requires_grad=True)
    y2 = x2 * ng.rsqrt(ng.mean(ng.square(x2), [-1], keepdim=True) + 1e-5) * w2
    (y2 * ng.from_numpy(gn)).sum().backward()

    np.testing.assert_allclose(y1.detach().to_numpy(), y2.detach().to_numpy(), rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(x1.grad.to_numpy(), x2.grad.to_numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(norm.weight.grad.to_numpy(), w2.grad.to_numpy(), rtol=1e-10, atol=1e-12)


def test_dyt_options_and_composed_reference():
    n = ng.nn.Norm("dyt", 8, alpha0=0.25)
    assert n.scalars()["alpha"] == pytest.approx(0.25)
    x = ng.randn([4, 8])
    np.testing.assert_allclose(n(x).detach().to_numpy(), n.forward_composed(x).detach().to_numpy(),
                               rtol=1e-5, atol=1e-6)
    with pytest.raises(TypeError, match="unknown option 'alpha_zero'"):
        ng.nn.Norm("dyt", 8, alpha_zero=1.0)


def test_gpt_loss_backward_and_adamw_step():
    ng.manual_seed(0)
    model = ng.nn.GPT(vocab=11, n_layer=1, n_head=2, n_embd=16, block_size=8, norm="dyt", alpha0=0.5)
    assert model.config.norm == "dyt" and model.config.norm_options.alpha0 == 0.5
    params = model.named_parameters()
    assert "transformer.wte.weight" in params and "transformer.ln_f.alpha" in params
    x = ng.tensor(np.random.default_rng(0).integers(0, 11, (2, 8)), dtype="int64")
    y = ng.tensor(np.random.default_rng(1).integers(0, 11, (2, 8)), dtype="int64")
    assert model(x).shape == (2, 8, 11)
    opt = ng.optim.AdamW(model, lr=1e-2, betas=(0.9, 0.95), weight_decay=0.1)
    first = None
    for _ in range(5):
        loss = model.loss(x, y)
        first = first if first is not None else loss.item()
        opt.zero_grad()
        loss.backward()
        ng.optim.clip_grad_norm(model, 1.0)
        opt.step()
    assert opt.steps == 5 and model.loss(x, y).item() < first
