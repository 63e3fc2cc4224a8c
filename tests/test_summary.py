"""summary(): the lecture's Inception arithmetic, LeNet-5's totals, the table's format; feature maps."""
import re

import numpy as np
import pytest

import minicnn as mc
import minicnn.nn as nn
from minicnn.models import googlenet, lenet5, resnet20
from minicnn.summary import summary
from minicnn.viz import feature_maps, plot_feature_maps, plot_filters


def test_inception_5x5_costs_120_million_multiplications():
    s = summary(nn.Conv2d(192, 32, 5, padding=2), (192, 28, 28))
    assert s.total_macs == (28 * 28 * 32) * (5 * 5 * 192) == 120_422_400
    assert "120,422,400" in str(s)
    assert s.rows[0].output_shape == (1, 32, 28, 28)


def test_a_1x1_reduction_cuts_it_to_12_million():
    reduced = nn.Sequential(nn.Conv2d(192, 16, 1), nn.Conv2d(16, 32, 5, padding=2))
    s = summary(reduced, (192, 28, 28))
    assert [r.macs for r in s.rows] == [(28 * 28 * 16) * 192, (28 * 28 * 32) * (5 * 5 * 16)]
    assert s.total_macs == 2_408_448 + 10_035_200 == 12_443_648
    assert "12,443,648" in str(s)


def test_lenet5_totals_and_rows():
    s = summary(lenet5(), (1, 32, 32))
    assert s.total_params == s.trainable_params == 61_706
    assert s.non_trainable_params == 0
    assert s.total_macs == 28 * 28 * 6 * 25 + 10 * 10 * 16 * 150 + 120 * 400 + 120 * 84 + 84 * 10 == 416_520
    assert [r.name for r in s.rows][:3] == ["features.c1", "features.act1", "features.s2"]
    assert [r.output_shape for r in s.rows if r.type == "Conv2d"] == [(1, 6, 28, 28), (1, 16, 10, 10),
                                                                       (1, 120, 1, 1)]
    assert [r.params for r in s.rows if r.params] == [156, 2_416, 48_120, 10_164, 850]
    floats = 6 * 28 * 28 * 2 + 6 * 14 * 14 + 16 * 10 * 10 * 2 + 16 * 5 * 5 + 120 * 2 + 84 * 2 + 10
    assert s.activation_bytes == 4 * floats
    text = str(s)
    assert "Total params: 61,706" in text and "Total MACs: 416,520" in text
    assert re.search(r"features\.c3 \(Conv2d\)\s+\[1, 16, 10, 10\]\s+2,416\s+240,000", text)
    assert repr(s) == text


def test_depth_groups_layers_and_keeps_totals():
    model = resnet20()
    full, grouped = summary(model, (3, 32, 32)), summary(model, (3, 32, 32), depth=1)
    assert [r.name for r in grouped.rows] == ["conv1", "bn1", "relu", "layer1", "layer2", "layer3", "avgpool", "fc"]
    assert sum(r.params for r in grouped.rows) == full.total_params == grouped.total_params == 272_474
    assert sum(r.macs for r in grouped.rows) == full.total_macs == sum(r.macs for r in full.rows)
    assert grouped.rows[3].output_shape == (1, 16, 32, 32)


def test_float64_models_are_summarized_in_float64():
    s = summary(nn.Conv2d(1, 2, 3).double(), (1, 5, 5))
    assert s.activation_bytes == 2 * 3 * 3 * 8 and s.total_macs == 2 * 3 * 3 * 9


def test_summary_leaves_the_model_alone():
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2), nn.Dropout(0.5))
    model.train()
    summary(model, (1, 5, 5))
    assert all(m.training for m in model.modules())
    assert model[1].num_batches_tracked.item() == 0
    assert not model[0]._forward_hooks


def test_parameters_that_did_not_run_are_reported():
    model = googlenet(width_mult=1 / 16)
    s = summary(model, (3, 32, 32))          # eval: the auxiliary classifiers do not run
    aux = sum(p.numel() for name, p in model.named_parameters() if name.startswith("aux"))
    assert s.params_not_run == aux > 0
    assert f"{aux:,}" in str(s)
    assert model.training


def test_a_batch_dimension_in_input_shape_gets_a_hint():
    with pytest.raises(Exception) as info:
        summary(lenet5(), (1, 1, 32, 32))
    assert "batch dimension" in "".join(getattr(info.value, "__notes__", []))


def test_feature_maps_and_plots():
    model = lenet5()
    maps = feature_maps(model, np.random.default_rng(0).standard_normal((1, 32, 32)).astype(np.float32))
    assert list(maps)[:3] == ["features.c1", "features.act1", "features.s2"]
    assert maps["features.c1"].shape == (1, 6, 28, 28)
    assert maps["classifier.output"].shape == (1, 10)
    fig = plot_feature_maps(maps["features.c1"], title="C1")
    assert len([ax for ax in fig.axes if ax.images]) == 6
    fig = plot_filters(model.features.c3)
    assert len([ax for ax in fig.axes if ax.images]) == 16 * 6
    fig = plot_filters(nn.Conv2d(3, 5, 3))
    assert len([ax for ax in fig.axes if ax.images]) == 5
    res_maps = feature_maps(resnet20(), mc.randn(1, 3, 32, 32))
    assert "layer1.0.relu#2" in res_maps      # the block's ReLU runs twice
