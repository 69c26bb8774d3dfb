"""The model zoo: every model's contract, the seed study's one-factor rule, sizes and mixup."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from k49.errors import K49Error
from k49.models import count_flops, count_params, create_model, get_entry, list_models, model_info
from k49.models.resnet import MixSpec, PreActResNet, mix_targets, sample_mix

TORCH_MODELS = [n for n in list_models() if get_entry(n).is_torch]
SEED_MODELS = [
    "NN_1_sgd", "NN_2_sgd", "NN_1_adam", "NN_2_adam", "NN_dense", "NN_dense_batch_norm",
    "CNN_1_sgd", "CNN_2_sgd", "CNN_1_adam", "CNN_2_adam", "CNN_dense", "CNN_dense_batch_norm",
]


def _images(n: int, seed: int = 0) -> torch.Tensor:
    return torch.rand(n, 1, 28, 28, generator=torch.Generator().manual_seed(seed))


def _shapes(name: str) -> dict[str, tuple[int, ...]]:
    return {k: tuple(v.shape) for k, v in create_model(name).state_dict().items()}


@pytest.mark.parametrize("name", TORCH_MODELS)
def test_forward_backward(name):
    torch.manual_seed(0)
    for num_classes in (49, 10):
        model = create_model(name, num_classes=num_classes).train()
        logits = model(_images(4))
        assert logits.shape == (4, num_classes)
        assert torch.isfinite(logits).all()
    logits.logsumexp(1).mean().backward()  # the num_classes=10 model
    for pname, p in model.named_parameters():
        assert p.grad is not None, f"{name}: no gradient for {pname}"
        assert torch.isfinite(p.grad).all(), f"{name}: non-finite gradient for {pname}"


def test_registry_contents():
    names = list_models()
    assert list_models(tag="original") == SEED_MODELS
    assert set(list_models(tag="paper")) >= {"knn4", "keras_simple_cnn", "preact_resnet18"}
    assert "resnet_small" in names
    assert list_models(family="knn") == ["knn4"]
    for name in names:
        entry = get_entry(name)
        assert entry.description, name
        assert entry.is_torch == (entry.family != "knn")


def test_optimizer_defaults():
    assert get_entry("NN_1_sgd").optimizer == "sgd" and get_entry("NN_1_sgd").lr == 0.01
    assert dict(get_entry("NN_1_sgd").optimizer_kwargs) == {}  # Keras SGD: no momentum
    assert get_entry("CNN_1_adam").optimizer == "adam" and get_entry("CNN_1_adam").lr == 1e-3
    assert get_entry("CNN_dense").optimizer == "adam"
    simple = get_entry("keras_simple_cnn")
    assert (simple.optimizer, simple.lr, simple.optimizer_kwargs["rho"]) == ("adadelta", 1.0, 0.95)
    r18 = get_entry("preact_resnet18")
    assert (r18.optimizer, r18.lr) == ("sgd", 0.1)
    assert dict(r18.optimizer_kwargs) == {"momentum": 0.9, "weight_decay": 5e-4}
    with pytest.raises(TypeError):
        r18.optimizer_kwargs["momentum"] = 0.0  # read-only


def test_optimizers_build_from_entries():
    from k49.models.optimizers import build_optimizer

    for name in ["NN_1_sgd", "NN_1_adam", "keras_simple_cnn", "resnet_small"]:
        entry = get_entry(name)
        model = create_model(name)
        opt = build_optimizer(entry.optimizer, model.parameters(), entry.lr,
                              **entry.optimizer_kwargs)
        assert opt.param_groups[0]["lr"] == entry.lr
    opt = build_optimizer("AdamW", create_model("NN_1_adam").parameters(), 1e-3)
    assert isinstance(opt, torch.optim.AdamW)
    with pytest.raises(K49Error, match="sgd, adam, adamw, adadelta"):
        build_optimizer("rmsprop", create_model("NN_1_adam").parameters(), 1e-3)
    with pytest.raises(K49Error, match="momentum"):
        build_optimizer("adam", create_model("NN_1_adam").parameters(), 1e-3, momentum=0.9)


def test_aliases_resolve():
    assert get_entry("CNN_dense_batch_form").name == "CNN_dense_batch_norm"
    assert get_entry("NN_dense_batch_form").name == "NN_dense_batch_norm"
    assert _shapes("CNN_dense_batch_form") == _shapes("CNN_dense_batch_norm")


def test_typo_suggests_close_names():
    with pytest.raises(K49Error, match="CNN_1_adam") as info:
        get_entry("CNN_1_adma")
    assert len(str(info.value).splitlines()) == 1
    with pytest.raises(K49Error):
        create_model("no_such_model")


@pytest.mark.parametrize("a, b", [
    ("NN_1_sgd", "NN_1_adam"), ("NN_2_sgd", "NN_2_adam"),
    ("CNN_1_sgd", "CNN_1_adam"), ("CNN_2_sgd", "CNN_2_adam"),
])
def test_optimizer_is_the_only_difference(a, b):
    assert _shapes(a) == _shapes(b)
    assert get_entry(a).optimizer != get_entry(b).optimizer


@pytest.mark.parametrize("plain, bn", [
    ("NN_dense", "NN_dense_batch_norm"), ("CNN_dense", "CNN_dense_batch_norm"),
])
def test_batch_norm_is_the_only_difference(plain, bn):
    s_plain, s_bn = _shapes(plain), _shapes(bn)
    extra = set(s_bn) - set(s_plain)
    assert set(s_plain) <= set(s_bn)
    assert all(s_plain[k] == s_bn[k] for k in s_plain)
    assert extra and all(".norm." in k for k in extra)
    assert (get_entry(plain).optimizer, get_entry(plain).lr) == (
        get_entry(bn).optimizer, get_entry(bn).lr)
    for name in (plain, bn):
        has_bn = any(isinstance(m, torch.nn.modules.batchnorm._BatchNorm)
                     for m in create_model(name).modules())
        assert has_bn == (name == bn)


def test_depth_differs_between_1_and_2():
    assert _shapes("NN_1_adam") != _shapes("NN_2_adam")
    assert _shapes("CNN_1_adam") != _shapes("CNN_2_adam")
    # CNN_2 is CNN_1 plus one conv layer: CNN_1's conv is CNN_2's first conv.
    s1, s2 = _shapes("CNN_1_adam"), _shapes("CNN_2_adam")
    assert s1["features.0.convs.0.conv.weight"] == s2["features.0.convs.0.conv.weight"]
    assert "features.0.convs.1.conv.weight" in s2 and "features.0.convs.1.conv.weight" not in s1
    assert count_params(create_model("NN_dense")) > 5 * count_params(create_model("NN_2_adam"))
    assert count_params(create_model("CNN_dense")) > 2 * count_params(create_model("CNN_2_adam"))


@pytest.mark.parametrize("name, published", [
    ("CNN_1_adam", 201_073), ("CNN_2_adam", 922_225), ("CNN_dense_batch_norm", 2_888_719),
])
def test_param_counts_match_the_seed(name, published):
    assert abs(count_params(create_model(name)) - published) / published < 0.15


def test_keras_simple_cnn_size():
    # conv32 (320) + conv64 (18,496) + dense 9216->128 (1,179,776) + 128->49 (6,321)
    assert count_params(create_model("keras_simple_cnn")) == 1_204_913


def test_resnet_small_is_much_cheaper():
    small, big = create_model("resnet_small"), create_model("preact_resnet18")
    assert count_flops(small) < 0.15 * count_flops(big)
    assert count_params(small) < 0.1 * count_params(big)


def test_count_flops_per_image_and_keeps_mode():
    model = create_model("NN_1_adam").train()
    flops = count_flops(model)
    assert flops == 2 * (784 * 256 + 256 * 49)  # two matmuls, 2 FLOPs per multiply-add
    assert count_flops(model, (8, 1, 28, 28)) == flops
    assert model.training


def test_model_info():
    info = model_info("CNN_dense_batch_form")
    assert {"name", "family", "params", "flops", "description", "optimizer", "lr", "loss",
            "tags"} <= set(info)
    assert info["name"] == "CNN_dense_batch_norm" and info["family"] == "cnn"
    assert info["params"] == count_params(create_model("CNN_dense_batch_norm"))
    assert info["flops"] > 0 and info["tags"] == ["original"]
    assert model_info("NN_1_adam", num_classes=10)["params"] == 784 * 256 + 256 + 257 * 10
    knn = model_info("knn4")
    assert knn["params"] == 0 and knn["flops"] is None and "FLOPs" in knn["description"]


def test_resnet_grid_classifier_sees_where_features_are():
    h = torch.randn(2, 128, 7, 7, generator=torch.Generator().manual_seed(0))
    moved = h.flatten(2)[..., torch.randperm(49, generator=torch.Generator().manual_seed(1))]
    moved = moved.view_as(h)
    pooled = PreActResNet(widths=(32, 64, 128), depths=(1, 1, 1), strides=(2, 2, 1)).eval()
    grid = create_model("resnet_fast").eval()
    assert pooled.fc.in_features == 128 and grid.fc.in_features == 128 * 7 * 7
    with torch.no_grad():
        # Global average pooling cannot tell the positions apart; the 7x7 grid can.
        torch.testing.assert_close(pooled._classify(moved), pooled._classify(h))
        assert not torch.allclose(grid._classify(moved), grid._classify(h), atol=1e-3)
    with pytest.raises(ValueError, match="grid must be >= 1"):
        PreActResNet(grid=0)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["preact_resnet18", "resnet_small", "resnet_fast"])
def test_mixup_forward(name):
    torch.manual_seed(0)
    model = create_model(name).eval()
    x = _images(4)
    perm = torch.tensor([2, 3, 0, 1])
    with torch.no_grad():
        plain = model(x)
        # lam = 1 is the plain forward, at every mix position.
        for layer in range(model.num_mix_layers):
            torch.testing.assert_close(model(x, mix=MixSpec(1.0, perm, layer)), plain)
        # Input mixup mixes the images themselves.
        torch.testing.assert_close(model(x, mix=(0.3, perm, 0)),
                                   model(0.3 * x + 0.7 * x[perm]), rtol=1e-4, atol=1e-4)
        # lam = 0 replaces every hidden state by its partner's (eval mode: per-example maps).
        torch.testing.assert_close(model(x, mix=(0.0, perm, 2)), plain[perm],
                                   rtol=1e-4, atol=1e-4)
        # A manifold mix really changes the output.
        assert not torch.allclose(model(x, mix=(0.5, perm, 1)), plain, atol=1e-4)
    # Train mode with sampled specs: both modes, gradients flow.
    model.train()
    gen = torch.Generator().manual_seed(0)
    for mode in ("input", "manifold"):
        spec = sample_mix(4, mode, 1.0, gen)
        logits = model(x, mix=spec)
        assert logits.shape == (4, 49) and torch.isfinite(logits).all()
        logits.sum().backward()


def test_sample_mix():
    gen = torch.Generator().manual_seed(1)
    specs = [sample_mix(8, "manifold", 2.0, gen, n_layers=3) for _ in range(60)]
    assert {s.layer for s in specs} == {0, 1, 2}
    assert all(0.0 <= s.lam <= 1.0 for s in specs)
    assert all(sorted(s.perm.tolist()) == list(range(8)) for s in specs)
    assert all(sample_mix(8, "input", 1.0, gen).layer == 0 for _ in range(10))
    a = sample_mix(8, "manifold", 1.0, torch.Generator().manual_seed(5))
    b = sample_mix(8, "manifold", 1.0, torch.Generator().manual_seed(5))
    assert a.lam == b.lam and a.layer == b.layer and torch.equal(a.perm, b.perm)
    c = sample_mix(8, "input", 1.0, np.random.default_rng(0))
    assert sorted(c.perm.tolist()) == list(range(8))
    assert sample_mix(8, "input", 0.0, gen).lam == 1.0
    with pytest.raises(K49Error, match="input, manifold"):
        sample_mix(8, "cutmix", 1.0, gen)


def test_mix_targets_are_convex():
    y = torch.tensor([0, 1, 2, 3])
    spec = MixSpec(0.25, torch.tensor([1, 0, 3, 2]), 0)
    t = mix_targets(y, spec, 5)
    assert t.shape == (4, 5)
    torch.testing.assert_close(t.sum(1), torch.ones(4))
    assert t[0, 0] == 0.25 and t[0, 1] == 0.75


def test_knn4_fits_and_predicts():
    from k49.models.knn import TorchKNN

    knn = create_model("knn4")
    assert isinstance(knn, TorchKNN)
    assert knn.n_neighbors == 4 and knn.weights == "distance"
    rng = np.random.default_rng(0)
    x = rng.random((30, 784)).astype(np.float32)
    y = np.arange(30) % 3
    knn.fit(x, y)
    proba = knn.predict_proba(x[:5] + 0.01)
    assert proba.shape == (5, 3)
    np.testing.assert_allclose(proba.sum(1), 1.0, rtol=1e-6)
    np.testing.assert_array_equal(knn.predict(x[:5]), y[:5])  # nearest is itself


@pytest.mark.parametrize("weights", ["distance", "uniform"])
def test_knn4_on_torch_finds_scikit_learns_neighbours(weights):
    from sklearn.neighbors import KNeighborsClassifier

    rng = np.random.default_rng(1)
    x = (rng.random((700, 784)) < 0.3) * rng.random((700, 784))
    x = x.astype(np.float32)
    y = rng.integers(0, 7, 700) * 3 + 2  # labels need not be 0..n-1
    q = x[:120] + rng.normal(0, 0.05, (120, 784)).astype(np.float32)
    q[:4] = x[200:204]  # exact copies of training rows: distance 0
    ours = create_model("knn4", weights=weights, query_chunk=50, train_chunk=256).fit(x, y)
    ref = create_model("knn4", sklearn=True, weights=weights).fit(x, y)
    assert isinstance(ref, KNeighborsClassifier)
    d, i = ours.kneighbors(q)
    d_ref, i_ref = ref.kneighbors(q)
    np.testing.assert_array_equal(i, i_ref)
    np.testing.assert_allclose(d, d_ref, atol=1e-5)
    np.testing.assert_array_equal(ours.classes_, ref.classes_)
    np.testing.assert_allclose(ours.predict_proba(q), ref.predict_proba(q), atol=1e-6)
    if weights == "distance":  # an exact copy outvotes every other neighbour
        assert np.all(ours.predict(q[:4]) == y[200:204])


@pytest.mark.parametrize("kwargs, x_shape, message", [
    ({"weights": "gaussian"}, (10, 4), "weights"),
    ({"n_neighbors": 0}, (10, 4), "n_neighbors"),
    ({}, (3, 4), "at least n_neighbors=4"),
    ({}, (10,), "x must be"),
])
def test_knn4_on_torch_names_bad_arguments(kwargs, x_shape, message):
    from k49.models.knn import TorchKNN

    with pytest.raises(ValueError, match=message):
        TorchKNN(**kwargs).fit(np.zeros(x_shape, dtype=np.float32), np.zeros(x_shape[0]))
