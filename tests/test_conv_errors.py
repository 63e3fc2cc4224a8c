"""Bad input to convolution and pooling gets an error that names the op or layer and the numbers."""
import numpy as np
import pytest

import minicnn as mc
import minicnn.functional as F
import minicnn.nn as nn


def test_wrong_channel_count_names_layer_expected_and_got():
    layer = nn.Conv2d(3, 8, 3)
    with pytest.raises(ValueError, match=r"Conv2d\(3, 8.*expected input with 3 channels.*got 1 channels"):
        layer(mc.randn(2, 1, 8, 8))
    with pytest.raises(ValueError, match=r"conv2d: expected input with 4 channels.*groups=2.*got 3"):
        F.conv2d(mc.randn(1, 3, 5, 5), mc.randn(6, 2, 3, 3), groups=2)


@pytest.mark.parametrize("shape", [(8, 8), (1, 2, 3, 8, 8)])
def test_wrong_rank(shape):
    with pytest.raises(ValueError, match=r"Conv2d.*4-D input \(N, C, H, W\) or a 3-D one"):
        nn.Conv2d(3, 4, 3)(mc.randn(*shape))
    with pytest.raises(ValueError, match=r"MaxPool2d.*4-D input"):
        nn.MaxPool2d(2)(mc.randn(*shape))


def test_kernel_larger_than_padded_input_shows_rule_and_numbers():
    with pytest.raises(ValueError, match=r"Conv2d\(1, 6.*size 5.*4 \+ 2\*0 = 4.*floor\(\(n_in \+ 2p - k\) / s\) \+ 1"):
        nn.Conv2d(1, 6, 5)(mc.randn(1, 1, 4, 4))
    with pytest.raises(ValueError, match=r"max_pool2d.*larger than the padded input"):
        F.max_pool2d(mc.randn(1, 1, 1, 1), 2)


def test_groups_must_divide_channels():
    with pytest.raises(ValueError, match=r"groups=2 must divide in_channels=3"):
        nn.Conv2d(3, 4, 3, groups=2)
    with pytest.raises(ValueError, match=r"conv2d: groups=4 must divide out_channels=6"):
        F.conv2d(mc.randn(1, 4, 5, 5), mc.randn(6, 1, 3, 3), groups=4)


def test_integer_and_mismatched_dtypes():
    with pytest.raises(TypeError, match=r"conv2d: expected a float32 or float64 input, got dtype int64"):
        F.conv2d(mc.tensor(np.ones((1, 1, 4, 4), np.int64)), mc.randn(1, 1, 3, 3))
    with pytest.raises(TypeError, match=r"Conv2d.*float32 or float64"):
        nn.Conv2d(1, 1, 3)(mc.tensor(np.ones((1, 1, 4, 4), np.int32)))
    with pytest.raises(TypeError, match=r"avg_pool2d.*int64"):
        F.avg_pool2d(mc.tensor(np.ones((1, 1, 4, 4), np.int64)), 2)
    with pytest.raises(TypeError, match=r"input \(float64\) and weight \(float32\)"):
        F.conv2d(mc.randn(1, 1, 4, 4, dtype=np.float64), mc.randn(1, 1, 3, 3))


def test_padding_rules():
    with pytest.raises(ValueError, match=r"padding='same' is not supported for strided"):
        nn.Conv2d(1, 1, 3, stride=2, padding="same")
    with pytest.raises(ValueError, match=r"padding must be an int, a pair, 'same' or 'valid'"):
        F.conv2d(mc.randn(1, 1, 4, 4), mc.randn(1, 1, 3, 3), padding="full")
    with pytest.raises(ValueError, match=r"MaxPool2d.*padding should be at most half of the kernel size"):
        nn.MaxPool2d(2, padding=2)(mc.randn(1, 1, 8, 8))
    with pytest.raises(ValueError, match=r"pad: widths must be non-negative"):
        F.pad(mc.randn(1, 1, 2, 2), (-1, 0))
    with pytest.raises(ValueError, match=r"output_padding .* must be smaller"):
        F.conv_transpose2d(mc.randn(1, 1, 3, 3), mc.randn(1, 1, 3, 3), stride=2, output_padding=2)


def test_bad_weight_and_bias_shapes():
    with pytest.raises(ValueError, match=r"4-D weight"):
        F.conv2d(mc.randn(1, 1, 4, 4), mc.randn(1, 3, 3))
    with pytest.raises(ValueError, match=r"bias of shape \(2,\), got \(3,\)"):
        F.conv2d(mc.randn(1, 1, 4, 4), mc.randn(2, 1, 3, 3), mc.randn(3))
