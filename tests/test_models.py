"""The model zoo: parameter counts from the architectures' formulas, key names, forward and backward.

Where torch is installed, the same architectures are built in torch (torchvision's code, written
out), our state_dict is loaded into them and the outputs compared.
"""
from collections import OrderedDict

import numpy as np
import pytest

import minicnn as mc
import minicnn.functional as F
import minicnn.nn as nn
from minicnn.models import (GoogLeNetOutputs, Inception, NaiveInception, alexnet, get_model, googlenet,
                            lenet1, lenet4, lenet5, list_models, nin, plainnet, resnet, resnet18, resnet20,
                            resnet32, resnet56, vgg, vgg11, vgg16, vgg19, zfnet)


def count(model):
    return sum(p.numel() for p in model.parameters())


# ----------------------------------------------------------- formulas, one layer at a time
def conv(cin, cout, k, bias=True):
    return cout * (cin * k * k + (1 if bias else 0))


def fc(n_in, n_out):
    return n_out * (n_in + 1)


def bn(c):
    return 2 * c


def s(c, w):
    return max(1, int(round(c * w)))


def test_lenet_parameter_counts():
    assert count(lenet5()) == 61_706 == 156 + 2_416 + 48_120 + 10_164 + 850
    assert count(lenet5(modern=True)) == 61_706
    assert count(lenet5(pad=2)) == 61_706
    assert count(lenet1()) == conv(1, 4, 5) + conv(4, 12, 5) + fc(12 * 4 * 4, 10) == 3_246
    assert count(lenet4()) == conv(1, 4, 5) + conv(4, 16, 5) + fc(400, 120) + fc(120, 10) == 51_050
    assert count(lenet5(num_classes=5, in_channels=3)) == 61_706 + 2 * 6 * 25 - 5 * 85


def test_zero_padding_layer():
    pad = nn.ZeroPad2d(2)
    y = pad(mc.ones(1, 1, 28, 28))
    assert y.shape == (1, 1, 32, 32) and y.numpy().sum() == 28 * 28 and y.numpy()[0, 0, 0, 0] == 0
    assert repr(pad) == "ZeroPad2d((2, 2, 2, 2))"
    assert nn.ConstantPad2d((1, 0, 2, 0), 3.0)(mc.zeros(1, 1, 2, 2)).shape == (1, 1, 4, 3)
    assert repr(nn.ConstantPad2d((1, 2, 3, 4), 0.5)) == "ConstantPad2d(padding=(1, 2, 3, 4), value=0.5)"
    with pytest.raises(ValueError, match="left, right, top, bottom"):
        nn.ZeroPad2d((1, 2))


def test_lenet5_layers_follow_the_lecture_table():
    m = lenet5()
    assert [type(l).__name__ for l in m.features] == ["Conv2d", "Tanh", "AvgPool2d"] * 2 + ["Conv2d", "Tanh"]
    assert list(m.state_dict()) == [f"{part}.{layer}.{p}" for part, layer in
                                    [("features", "c1"), ("features", "c3"), ("features", "c5"),
                                     ("classifier", "f6"), ("classifier", "output")] for p in ("weight", "bias")]
    modern = lenet5(modern=True)
    assert [type(l).__name__ for l in modern.features][:3] == ["Conv2d", "ReLU", "MaxPool2d"]
    assert lenet5(pad=2)(mc.randn(2, 1, 28, 28)).shape == (2, 10)
    with pytest.raises(ValueError, match="pad=2"):
        lenet5()(mc.randn(2, 1, 28, 28))
    assert lenet1()(mc.randn(2, 1, 28, 28)).shape == (2, 10)
    assert lenet4(pad=2)(mc.randn(2, 1, 28, 28)).shape == (2, 10)


@pytest.mark.parametrize("w", [1.0, 0.25])
@pytest.mark.parametrize("lrn", [True, False])
def test_alexnet_and_zfnet_parameter_counts(w, lrn):
    c = [s(n, w) for n in (64, 192, 384, 256, 256)]
    h = s(1024, w)
    rest = (conv(c[0], c[1], 5) + conv(c[1], c[2], 3) + conv(c[2], c[3], 3) + conv(c[3], c[4], 3)
            + fc(c[4] * 9, h) + fc(h, h) + fc(h, 10))
    assert count(alexnet(width_mult=w, lrn=lrn)) == conv(3, c[0], 5) + rest
    assert count(zfnet(width_mult=w, lrn=lrn)) == conv(3, c[0], 3) + rest
    n_lrn = sum(isinstance(m, nn.LocalResponseNorm) for m in alexnet(width_mult=w, lrn=lrn).modules())
    assert n_lrn == (2 if lrn else 0)


# The paper's table (Simonyan & Zisserman, Table 1): convs per block, "1" marks a 1x1 conv
PAPER_VGG = {
    "A": [[64], [128], [256, 256], [512, 512], [512, 512]],
    "B": [[64, 64], [128, 128], [256, 256], [512, 512], [512, 512]],
    "C": [[64, 64], [128, 128], [256, 256, "1"], [512, 512, "1"], [512, 512, "1"]],
    "D": [[64, 64], [128, 128], [256] * 3, [512] * 3, [512] * 3],
    "E": [[64, 64], [128, 128], [256] * 4, [512] * 4, [512] * 4],
}


def vgg_formula(config, w, batch_norm, classes=10):
    total, cin = 0, 3
    for block in PAPER_VGG[config]:
        for item in block:
            k, cout = (1, cin) if item == "1" else (3, s(item, w))
            total += conv(cin, cout, k) + (bn(cout) if batch_norm else 0)
            cin = cout
    h = s(4096, w)
    return total + fc(cin, h) + fc(h, h) + fc(h, classes)


@pytest.mark.parametrize("config", ["A", "B", "C", "D", "E"])
@pytest.mark.parametrize("batch_norm", [False, True])
def test_vgg_parameter_counts(config, batch_norm):
    assert count(vgg(config, width_mult=1 / 8, batch_norm=batch_norm)) == vgg_formula(config, 1 / 8, batch_norm)


def test_vgg_layout_and_helpers():
    m = vgg16(width_mult=1 / 8)
    keys = list(m.state_dict())
    assert keys[:2] == ["features.0.weight", "features.0.bias"]
    assert [k for k in keys if k.startswith("classifier")] == [
        f"classifier.{i}.{p}" for i in (0, 3, 6) for p in ("weight", "bias")]
    assert sum(isinstance(l, nn.Conv2d) for l in vgg11(width_mult=1 / 8).features) == 8
    assert sum(isinstance(l, nn.Conv2d) for l in m.features) == 13
    assert sum(isinstance(l, nn.Conv2d) for l in vgg19(width_mult=1 / 8).features) == 16
    c = vgg("C", width_mult=1 / 8)
    assert [l.kernel_size for l in c.features if isinstance(l, nn.Conv2d)].count((1, 1)) == 3
    lrn = vgg("A-LRN", width_mult=1 / 8)
    assert isinstance(lrn.features[2], nn.LocalResponseNorm)
    assert count(lrn) == count(vgg11(width_mult=1 / 8))
    assert isinstance(m.avgpool, nn.AdaptiveAvgPool2d)
    with pytest.raises(ValueError, match="A-LRN"):
        vgg("F")


def basic_conv(cin, cout, k, batch_norm=True):
    return conv(cin, cout, k, bias=not batch_norm) + (bn(cout) if batch_norm else 0)


GOOGLENET_TABLE = [  # (ch1x1, ch3x3red, ch3x3, ch5x5red, ch5x5, pool_proj), the paper's Table 1
    (64, 96, 128, 16, 32, 32), (128, 128, 192, 32, 96, 64), (192, 96, 208, 16, 48, 64),
    (160, 112, 224, 24, 64, 64), (128, 128, 256, 24, 64, 64), (112, 144, 288, 32, 64, 64),
    (256, 160, 320, 32, 128, 128), (256, 160, 320, 32, 128, 128), (384, 192, 384, 48, 128, 128)]


def googlenet_formula(w, aux, batch_norm=True, classes=10):
    b = lambda cin, cout, k: basic_conv(cin, cout, k, batch_norm)  # noqa: E731
    total = b(3, s(64, w), 3) + b(s(64, w), s(64, w), 1) + b(s(64, w), s(192, w), 3)
    cin, widths = s(192, w), []
    for row in GOOGLENET_TABLE:
        c1, r3, c3, r5, c5, pp = (s(c, w) for c in row)
        total += b(cin, c1, 1) + b(cin, r3, 1) + b(r3, c3, 3) + b(cin, r5, 1) + b(r5, c5, 5) + b(cin, pp, 1)
        cin = c1 + c3 + c5 + pp
        widths.append(cin)
    if aux:
        for c in (widths[2], widths[5]):      # after inception4a and inception4d
            total += b(c, s(128, w), 1) + fc(s(128, w) * 16, s(1024, w)) + fc(s(1024, w), classes)
    return total + fc(cin, classes)


@pytest.mark.parametrize("w, aux, batch_norm", [(1 / 8, True, True), (1 / 8, False, False), (1.0, True, True)])
def test_googlenet_parameter_count(w, aux, batch_norm):
    assert count(googlenet(width_mult=w, aux_logits=aux, batch_norm=batch_norm)) == googlenet_formula(w, aux, batch_norm)


def test_inception_costs_and_widths():
    naive = NaiveInception(192, 64, 128, 32)
    assert naive.out_channels == 64 + 128 + 32 + 192
    assert naive(mc.randn(1, 192, 8, 8)).shape == (1, 416, 8, 8)
    reduced = Inception(192, 64, 96, 128, 16, 32, 32, batch_norm=False)
    assert reduced(mc.randn(1, 192, 8, 8)).shape == (1, 256, 8, 8)
    # the reductions make the module cheaper: fewer weights than the naive 3x3 and 5x5 convs
    assert count(reduced) < count(NaiveInception(192, 64, 128, 32, batch_norm=False))


def resnet_cifar_formula(n, shortcut=True, classes=10, widths=(16, 32, 64)):
    total, cin = conv(3, widths[0], 3, bias=False) + bn(widths[0]), widths[0]
    for stage, c in enumerate(widths):
        for i in range(n):
            total += conv(cin, c, 3, False) + bn(c) + conv(c, c, 3, False) + bn(c)
            if shortcut and cin != c:
                total += conv(cin, c, 1, False) + bn(c)
            cin = c
    return total + fc(cin, classes)


def test_resnet_parameter_counts():
    assert count(resnet20()) == resnet_cifar_formula(3) == 272_474
    assert count(resnet32()) == resnet_cifar_formula(5)
    assert count(resnet56()) == resnet_cifar_formula(9)
    assert count(plainnet(20)) == resnet_cifar_formula(3, shortcut=False) == 269_722
    # torchvision's resnet18 (7x7 stem, 1000 classes) has 11,689,512 parameters
    assert count(resnet(18, num_classes=1000, stem="imagenet")) == 11_689_512
    small_stem = count(resnet18())
    assert small_stem == 11_689_512 - conv(3, 64, 7, False) + conv(3, 64, 3, False) - fc(512, 1000) + fc(512, 10)


def test_resnet_keys_follow_torchvision():
    keys = resnet20().state_dict()
    for k in ["conv1.weight", "bn1.running_var", "layer1.0.conv1.weight", "layer1.2.bn2.bias",
              "layer2.0.downsample.0.weight", "layer2.0.downsample.1.num_batches_tracked", "layer3.2.conv2.weight",
              "fc.weight", "fc.bias"]:
        assert k in keys, k
    assert "layer1.0.downsample.0.weight" not in keys       # same size: identity shortcut
    assert not any("downsample" in k for k in plainnet(20).state_dict())
    assert set(plainnet(20).state_dict()) < set(keys)
    assert keys["layer2.0.downsample.0.weight"].shape == (32, 16, 1, 1)
    bottleneck = resnet(50, width_mult=1 / 8)
    assert "layer1.0.conv3.weight" in bottleneck.state_dict()
    with pytest.raises(ValueError, match="6n\\+2"):
        resnet(21)


def test_shortcuts_change_the_function():
    """Same weights, with and without the `+ x`: different outputs (so the shortcut is really used)."""
    res, plain = resnet20(), plainnet(20)
    plain.load_state_dict(res.state_dict(), strict=False)
    res.eval()
    plain.eval()
    x = mc.randn(2, 3, 32, 32)
    assert not np.allclose(res(x).numpy(), plain(x).numpy())


def test_nin_parameter_count_and_no_fully_connected_layer():
    w = 0.25
    c = lambda n: s(n, w)  # noqa: E731
    want = (conv(3, c(192), 5) + conv(c(192), c(160), 1) + conv(c(160), c(96), 1)
            + conv(c(96), c(192), 5) + conv(c(192), c(192), 1) * 2
            + conv(c(192), c(192), 3) + conv(c(192), c(192), 1) + conv(c(192), 10, 1))
    m = nin(width_mult=w)
    assert count(m) == want
    assert not any(isinstance(l, nn.Linear) for l in m.modules())


# ------------------------------------------------------------------ forward and backward
SMALL = [
    ("lenet5", lambda: lenet5(), (1, 32, 32)),
    ("lenet5-modern", lambda: lenet5(modern=True), (1, 32, 32)),
    ("lenet1", lambda: lenet1(), (1, 28, 28)),
    ("lenet4", lambda: lenet4(), (1, 32, 32)),
    ("alexnet", lambda: alexnet(width_mult=1 / 8), (3, 32, 32)),
    ("zfnet", lambda: zfnet(width_mult=1 / 8, lrn=False), (3, 32, 32)),
    ("vgg11-bn", lambda: vgg11(width_mult=1 / 16, batch_norm=True), (3, 32, 32)),
    ("vgg16-c", lambda: vgg("C", width_mult=1 / 16), (3, 32, 32)),
    ("googlenet", lambda: googlenet(width_mult=1 / 16, aux_logits=False), (3, 32, 32)),
    ("resnet20", lambda: resnet20(), (3, 32, 32)),
    ("resnet50", lambda: resnet(50, width_mult=1 / 16), (3, 32, 32)),
    ("plainnet20", lambda: plainnet(20, width_mult=0.5), (3, 32, 32)),
    ("nin", lambda: nin(width_mult=1 / 8), (3, 32, 32)),
]


@pytest.mark.parametrize("name, build, shape", SMALL, ids=[n for n, _, _ in SMALL])
def test_forward_and_backward(name, build, shape):
    model = build()
    x = mc.randn(2, *shape)
    out = model(x)
    assert out.shape == (2, 10) and out.dtype == np.float32
    F.cross_entropy(out, np.array([1, 7])).backward()
    for key, p in model.named_parameters():
        assert p.grad is not None and p.grad.shape == p.shape, key
        assert np.isfinite(p.grad.numpy()).all(), key
    assert any(np.abs(p.grad.numpy()).sum() > 0 for p in model.parameters())


def test_googlenet_auxiliary_outputs():
    model = googlenet(width_mult=1 / 16)
    out = model(mc.randn(2, 3, 32, 32))
    assert isinstance(out, GoogLeNetOutputs) and [o.shape for o in out] == [(2, 10)] * 3
    loss = F.cross_entropy(out.logits, np.array([0, 1])) + 0.3 * (
        F.cross_entropy(out.aux_logits1, np.array([0, 1])) + F.cross_entropy(out.aux_logits2, np.array([0, 1])))
    loss.backward()
    assert all(p.grad is not None for p in model.parameters())     # the aux heads are trained too
    model.eval()
    assert model(mc.randn(2, 3, 32, 32)).shape == (2, 10)           # eval: logits only
    assert "aux1.fc2.weight" in model.state_dict()
    assert "aux1.fc2.weight" not in googlenet(width_mult=1 / 16, aux_logits=False).state_dict()


def test_dropout_and_batchnorm_follow_the_model_mode():
    model = alexnet(width_mult=1 / 8)
    x = mc.randn(2, 3, 32, 32)
    model.eval()
    np.testing.assert_array_equal(model(x).numpy(), model(x).numpy())
    model.train()
    assert not np.array_equal(model(x).numpy(), model(x).numpy())


# ------------------------------------------------------------------ registry
def test_registry_names_and_errors():
    names = list_models()
    for name in ["lenet5", "lenet5-modern", "lenet1", "lenet4", "alexnet", "zfnet", "vgg11", "vgg13", "vgg16",
                 "vgg19", "googlenet", "resnet20", "resnet32", "resnet56", "resnet18", "plainnet20", "nin"]:
        assert name in names
    assert count(get_model("lenet5")) == 61_706
    assert isinstance(get_model("lenet5-modern").features.act1, nn.ReLU)
    assert count(get_model("VGG16_BN", width_mult=1 / 8)) == vgg_formula("D", 1 / 8, True)
    assert get_model("resnet20", num_classes=100).fc.out_features == 100
    with pytest.raises(ValueError, match="known models: .*lenet5"):
        get_model("lenet6")
    with pytest.raises(ValueError, match="does not take width_mult"):
        get_model("lenet5", width_mult=0.5)


@pytest.mark.parametrize("name", list_models())
def test_every_registered_model_runs(name):
    kwargs = {} if name.startswith("lenet") else {"width_mult": 1 / 16}
    model = get_model(name, **kwargs).eval()
    size = 28 if name == "lenet1" else 32
    channels = 1 if name.startswith("lenet") else 3
    with mc.no_grad():
        assert model(mc.randn(1, channels, size, size)).shape == (1, 10)


# ------------------------------------------------------------------ against torch
def _torch_outputs_match(ours, theirs, shape, atol=1e-4):
    torch = pytest.importorskip("torch")
    ours_state = ours.state_dict()
    theirs_state = theirs.state_dict()
    assert list(ours_state) == list(theirs_state)
    for k, v in theirs_state.items():
        assert tuple(v.shape) == tuple(ours_state[k].shape), k
    theirs.load_state_dict({k: torch.from_numpy(np.array(v.numpy())) for k, v in ours_state.items()})
    ours.eval()
    theirs.eval()
    x = np.random.default_rng(0).standard_normal((2, *shape)).astype(np.float32)
    with torch.no_grad():
        want = theirs(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(ours(mc.tensor(x)).numpy(), want, rtol=1e-4, atol=atol)


def test_lenet5_matches_torch():
    torch = pytest.importorskip("torch")
    tn = torch.nn

    class TorchLeNet5(tn.Module):
        def __init__(self):
            super().__init__()
            self.features = tn.Sequential(OrderedDict([
                ("c1", tn.Conv2d(1, 6, 5)), ("act1", tn.Tanh()), ("s2", tn.AvgPool2d(2, 2)),
                ("c3", tn.Conv2d(6, 16, 5)), ("act3", tn.Tanh()), ("s4", tn.AvgPool2d(2, 2)),
                ("c5", tn.Conv2d(16, 120, 5)), ("act5", tn.Tanh())]))
            self.classifier = tn.Sequential(OrderedDict([
                ("f6", tn.Linear(120, 84)), ("act6", tn.Tanh()), ("output", tn.Linear(84, 10))]))

        def forward(self, x):
            return self.classifier(torch.flatten(self.features(x), 1))

    theirs = TorchLeNet5()
    assert sum(p.numel() for p in theirs.parameters()) == 61_706
    _torch_outputs_match(lenet5(), theirs, (1, 32, 32))


@pytest.mark.parametrize("config, batch_norm", [("C", True), ("A-LRN", False)])
def test_vgg_matches_torchvision_layout(config, batch_norm):
    torch = pytest.importorskip("torch")
    tn = torch.nn
    from minicnn.models.vgg import CONFIGS

    layers, cin = [], 3       # torchvision's make_layers, with the 1x1 and LRN entries of the paper
    for item in CONFIGS[config]:
        if item == "M":
            layers.append(tn.MaxPool2d(2, 2))
        elif item == "LRN":
            layers.append(tn.LocalResponseNorm(5, 1e-4, 0.75, 2.0))
        else:
            c, k = item if isinstance(item, tuple) else (item, 3)
            c = s(c, 1 / 8)
            layers += [tn.Conv2d(cin, c, k, padding=k // 2)] + ([tn.BatchNorm2d(c)] if batch_norm else []) + [tn.ReLU()]
            cin = c

    class TorchVGG(tn.Module):
        def __init__(self):
            super().__init__()
            self.features = tn.Sequential(*layers)
            self.avgpool = tn.AdaptiveAvgPool2d((1, 1))
            self.classifier = tn.Sequential(tn.Linear(cin, 512), tn.ReLU(), tn.Dropout(), tn.Linear(512, 512),
                                            tn.ReLU(), tn.Dropout(), tn.Linear(512, 10))

        def forward(self, x):
            return self.classifier(torch.flatten(self.avgpool(self.features(x)), 1))

    ours = vgg(config, width_mult=1 / 8, batch_norm=batch_norm)
    if batch_norm:   # move the running statistics away from 0/1 so that eval-mode BN is exercised
        ours.train()
        ours(mc.randn(4, 3, 32, 32))
    _torch_outputs_match(ours, TorchVGG(), (3, 32, 32), atol=1e-3)


def _torch_resnet(torch, block_kind, layers, widths, stem, classes=10):
    """torchvision's BasicBlock / Bottleneck / ResNet, written out (with the 3x3 stem option)."""
    tn = torch.nn

    class BasicBlock(tn.Module):
        expansion = 1

        def __init__(self, cin, planes, stride=1, downsample=None):
            super().__init__()
            self.conv1 = tn.Conv2d(cin, planes, 3, stride, 1, bias=False)
            self.bn1 = tn.BatchNorm2d(planes)
            self.relu = tn.ReLU()
            self.conv2 = tn.Conv2d(planes, planes, 3, 1, 1, bias=False)
            self.bn2 = tn.BatchNorm2d(planes)
            self.downsample = downsample

        def forward(self, x):
            out = self.bn2(self.conv2(self.relu(self.bn1(self.conv1(x)))))
            return self.relu(out + (x if self.downsample is None else self.downsample(x)))

    class Bottleneck(tn.Module):
        expansion = 4

        def __init__(self, cin, planes, stride=1, downsample=None):
            super().__init__()
            self.conv1 = tn.Conv2d(cin, planes, 1, bias=False)
            self.bn1 = tn.BatchNorm2d(planes)
            self.conv2 = tn.Conv2d(planes, planes, 3, stride, 1, bias=False)
            self.bn2 = tn.BatchNorm2d(planes)
            self.conv3 = tn.Conv2d(planes, planes * 4, 1, bias=False)
            self.bn3 = tn.BatchNorm2d(planes * 4)
            self.relu = tn.ReLU()
            self.downsample = downsample

        def forward(self, x):
            out = self.relu(self.bn1(self.conv1(x)))
            out = self.bn3(self.conv3(self.relu(self.bn2(self.conv2(out)))))
            return self.relu(out + (x if self.downsample is None else self.downsample(x)))

    block = BasicBlock if block_kind == "basic" else Bottleneck

    class ResNet(tn.Module):
        def __init__(self):
            super().__init__()
            self.inplanes = widths[0]
            if stem == "imagenet":
                self.conv1 = tn.Conv2d(3, widths[0], 7, 2, 3, bias=False)
            else:
                self.conv1 = tn.Conv2d(3, widths[0], 3, 1, 1, bias=False)
            self.bn1 = tn.BatchNorm2d(widths[0])
            self.relu = tn.ReLU()
            self.maxpool = tn.MaxPool2d(3, 2, 1) if stem == "imagenet" else tn.Identity()
            for i, (planes, n) in enumerate(zip(widths, layers)):
                setattr(self, f"layer{i + 1}", self._make_layer(planes, n, 1 if i == 0 else 2))
            self.avgpool = tn.AdaptiveAvgPool2d((1, 1))
            self.fc = tn.Linear(self.inplanes, classes)

        def _make_layer(self, planes, n, stride):
            downsample = None
            if stride != 1 or self.inplanes != planes * block.expansion:
                downsample = tn.Sequential(tn.Conv2d(self.inplanes, planes * block.expansion, 1, stride, bias=False),
                                           tn.BatchNorm2d(planes * block.expansion))
            blocks = [block(self.inplanes, planes, stride, downsample)]
            self.inplanes = planes * block.expansion
            blocks += [block(self.inplanes, planes) for _ in range(1, n)]
            return tn.Sequential(*blocks)

        def forward(self, x):
            x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
            for i in range(len(layers)):
                x = getattr(self, f"layer{i + 1}")(x)
            return self.fc(torch.flatten(self.avgpool(x), 1))

    return ResNet()


@pytest.mark.parametrize("case", ["resnet20", "resnet50-small", "resnet18-imagenet-small"])
def test_resnet_matches_torchvision_layout(case):
    torch = pytest.importorskip("torch")
    if case == "resnet20":
        ours, theirs = resnet20(), _torch_resnet(torch, "basic", [3, 3, 3], (16, 32, 64), "small")
    elif case == "resnet50-small":
        ours = resnet(50, width_mult=1 / 16)
        theirs = _torch_resnet(torch, "bottleneck", [3, 4, 6, 3], (4, 8, 16, 32), "small")
    else:
        ours = resnet(18, width_mult=1 / 8, stem="imagenet")
        theirs = _torch_resnet(torch, "basic", [2, 2, 2, 2], (8, 16, 32, 64), "imagenet")
    ours.train()
    ours(mc.randn(4, 3, 32, 32))        # non-trivial running statistics
    _torch_outputs_match(ours, theirs, (3, 32, 32), atol=1e-3)


def test_googlenet_matches_torch():
    torch = pytest.importorskip("torch")
    tn = torch.nn
    w = 1 / 16

    class BasicConv2d(tn.Module):
        def __init__(self, cin, cout, k, stride=1, padding=0):
            super().__init__()
            self.conv = tn.Conv2d(cin, cout, k, stride, padding, bias=False)
            self.bn = tn.BatchNorm2d(cout, eps=0.001)
            self.relu = tn.ReLU()

        def forward(self, x):
            return self.relu(self.bn(self.conv(x)))

    class TorchInception(tn.Module):
        def __init__(self, cin, c1, r3, c3, r5, c5, pp):
            super().__init__()
            self.branch1 = BasicConv2d(cin, c1, 1)
            self.branch2 = tn.Sequential(BasicConv2d(cin, r3, 1), BasicConv2d(r3, c3, 3, padding=1))
            self.branch3 = tn.Sequential(BasicConv2d(cin, r5, 1), BasicConv2d(r5, c5, 5, padding=2))
            self.branch4 = tn.Sequential(tn.MaxPool2d(3, 1, 1), BasicConv2d(cin, pp, 1))

        def forward(self, x):
            return torch.cat([self.branch1(x), self.branch2(x), self.branch3(x), self.branch4(x)], 1)

    class TorchGoogLeNet(tn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = BasicConv2d(3, s(64, w), 3, padding=1)
            self.conv2 = BasicConv2d(s(64, w), s(64, w), 1)
            self.conv3 = BasicConv2d(s(64, w), s(192, w), 3, padding=1)
            self.maxpool2 = tn.MaxPool2d(3, 2, 1)
            cin = s(192, w)
            names = ["3a", "3b", "4a", "4b", "4c", "4d", "4e", "5a", "5b"]
            for name, row in zip(names, GOOGLENET_TABLE):
                row = [s(c, w) for c in row]
                setattr(self, "inception" + name, TorchInception(cin, *row))
                cin = row[0] + row[2] + row[4] + row[5]
                if name == "3b":
                    self.maxpool3 = tn.MaxPool2d(3, 2, 1)
                if name == "4e":
                    self.maxpool4 = tn.MaxPool2d(3, 2, 1)
            self.avgpool = tn.AdaptiveAvgPool2d((1, 1))
            self.dropout = tn.Dropout(0.2)
            self.fc = tn.Linear(cin, 10)

        def forward(self, x):
            x = self.maxpool2(self.conv3(self.conv2(self.conv1(x))))
            x = self.maxpool3(self.inception3b(self.inception3a(x)))
            x = self.inception4d(self.inception4c(self.inception4b(self.inception4a(x))))
            x = self.maxpool4(self.inception4e(x))
            x = self.inception5b(self.inception5a(x))
            return self.fc(self.dropout(torch.flatten(self.avgpool(x), 1)))

    ours = googlenet(width_mult=w, aux_logits=False)
    ours.train()
    ours(mc.randn(4, 3, 32, 32))
    _torch_outputs_match(ours, TorchGoogLeNet(), (3, 32, 32), atol=1e-3)
