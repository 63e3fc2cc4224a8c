"""Models by name: `get_model('resnet20', num_classes=10)` and `list_models()` (used by the CLI).

Names are lower case with dashes; underscores are accepted too ('vgg16_bn' == 'vgg16-bn').
"""
from __future__ import annotations

import inspect
from functools import partial

from .alexnet import alexnet, zfnet
from .googlenet import googlenet
from .lenet import lenet1, lenet4, lenet5
from .nin import nin
from .resnet import plainnet, resnet
from .vgg import vgg

_MODELS = {
    "lenet1": lenet1,
    "lenet4": lenet4,
    "lenet5": lenet5,
    "lenet5-modern": partial(lenet5, modern=True),
    "alexnet": alexnet,
    "zfnet": zfnet,
    "vgg11": partial(vgg, "A"),
    "vgg11-lrn": partial(vgg, "A-LRN"),
    "vgg13": partial(vgg, "B"),
    "vgg16-c": partial(vgg, "C"),
    "vgg16": partial(vgg, "D"),
    "vgg19": partial(vgg, "E"),
    "vgg11-bn": partial(vgg, "A", batch_norm=True),
    "vgg13-bn": partial(vgg, "B", batch_norm=True),
    "vgg16-bn": partial(vgg, "D", batch_norm=True),
    "vgg19-bn": partial(vgg, "E", batch_norm=True),
    "googlenet": googlenet,
    "nin": nin,
}
for _depth in (18, 34, 50):
    _MODELS[f"resnet{_depth}"] = partial(resnet, _depth)
for _depth in (20, 32, 44, 56, 110):
    _MODELS[f"resnet{_depth}"] = partial(resnet, _depth)
    _MODELS[f"plainnet{_depth}"] = partial(plainnet, _depth)


def list_models() -> list:
    """Every name get_model knows, sorted."""
    return sorted(_MODELS)


def get_model(name: str, **kwargs):
    """Build the model called `name` with keyword arguments such as num_classes, in_channels, width_mult."""
    key = str(name).lower().replace("_", "-")
    if key not in _MODELS:
        raise ValueError(f"unknown model {name!r}; known models: {', '.join(list_models())}")
    builder = _MODELS[key]
    accepted = inspect.signature(builder).parameters
    takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in accepted.values())
    unknown = [k for k in kwargs if k not in accepted and not takes_any]
    if unknown:
        options = [p for p, v in accepted.items() if v.kind is not inspect.Parameter.VAR_KEYWORD]
        raise ValueError(f"model {key!r} does not take {', '.join(unknown)}; it takes: {', '.join(options)}")
    return builder(**kwargs)
