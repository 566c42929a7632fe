"""The converted int8 graph as checked data and back (see :mod:`.int8_cache`): every function,
method and module type must be in the allowlists below; nothing from the file is evaluated."""
from __future__ import annotations

import operator
import re
import warnings
from typing import Any

import numpy as np

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_PATH = re.compile(r"^[A-Za-z0-9_]+(\.[A-Za-z0-9_]+)*$")
_TORCH_DTYPES = ("quint8", "qint8", "qint32", "float32")
_ATTRIBUTES = ("shape",)
"""The only attribute names a ``getattr`` node may read."""


class CacheInvalid(Exception):
    """The cache file cannot be trusted or used (the message says why)."""


class Unsupported(Exception):
    """The built model holds something this format cannot describe (nothing is cached)."""


# -- the allowlists ------------------------------------------------------------------------------
def _functions() -> dict[str, Any]:
    import torch

    return {"torch.quantize_per_tensor": torch.quantize_per_tensor, "torch.cat": torch.cat,
            "torch.flatten": torch.flatten, "torch.nn.functional.normalize": torch.nn.functional.normalize,
            "quantized.add": torch.ops.quantized.add, "quantized.add_relu": torch.ops.quantized.add_relu,
            "quantized.mul": torch.ops.quantized.mul, "quantized.cat": torch.ops.quantized.cat,
            "operator.getitem": operator.getitem, "builtins.getattr": getattr}


FUNCTIONS = ("torch.quantize_per_tensor", "torch.cat", "torch.flatten", "torch.nn.functional.normalize",
             "quantized.add", "quantized.add_relu", "quantized.mul", "quantized.cat", "operator.getitem",
             "builtins.getattr")
"""Functions a ``call_function`` node may name."""
METHODS = ("dequantize", "view", "reshape", "flatten", "size", "contiguous")
"""Tensor methods a ``call_method`` node may name."""
MODULES = ("qconv2d", "qlinear", "qdropout", "relu", "identity", "maxpool2d", "adaptiveavgpool2d")
"""Module types a ``call_module`` node may name (see :func:`_describe_module`)."""


def _describe_module(module) -> tuple[str, dict, dict[str, np.ndarray]]:
    """``(type, constructor arguments, arrays)`` of one module of the converted graph."""
    import torch
    import torch.ao.nn.quantized as nnq
    from torch import nn

    kind = type(module)
    if kind is nnq.Conv2d or kind is nnq.Linear:
        weight, bias = module.weight(), module.bias()
        if weight.qscheme() not in (torch.per_channel_affine, torch.per_channel_symmetric):
            raise Unsupported(f"{kind.__name__} with {weight.qscheme()} weights")
        arrays = {"weight": weight.int_repr().numpy(), "scales": weight.q_per_channel_scales().numpy(),
                  "zero_points": weight.q_per_channel_zero_points().numpy()}
        if bias is not None:
            arrays["bias"] = bias.detach().numpy()
        args = {"scale": float(module.scale), "zero_point": int(module.zero_point),
                "axis": int(weight.q_per_channel_axis()), "bias": bias is not None}
        if kind is nnq.Linear:
            return "qlinear", {**args, "in_features": module.in_features,
                               "out_features": module.out_features}, arrays
        if module.padding_mode != "zeros" or module.transposed:
            raise Unsupported("a transposed or padded-by-copy quantized convolution")
        return "qconv2d", {**args, "in_channels": module.in_channels, "out_channels": module.out_channels,
                           "kernel_size": list(module.kernel_size), "stride": list(module.stride),
                           "padding": list(module.padding), "dilation": list(module.dilation),
                           "groups": module.groups}, arrays
    if kind is nnq.Dropout:
        return "qdropout", {"p": float(module.p)}, {}
    if kind is nn.ReLU:
        return "relu", {}, {}
    if kind is nn.Identity:
        return "identity", {}, {}
    if kind is nn.MaxPool2d:
        if module.return_indices:
            raise Unsupported("max pooling that returns indices")
        return "maxpool2d", {k: _plain(getattr(module, k)) for k in
                             ("kernel_size", "stride", "padding", "dilation", "ceil_mode")}, {}
    if kind is nn.AdaptiveAvgPool2d:
        return "adaptiveavgpool2d", {"output_size": _plain(module.output_size)}, {}
    raise Unsupported(f"module type {kind.__module__}.{kind.__name__}")


def _plain(value):
    if isinstance(value, (tuple, list)):
        return [_plain(v) for v in value]
    if isinstance(value, (bool, int, float)) or value is None:
        return value
    raise Unsupported(f"module argument {value!r}")


def _int_list(value, name: str, length: int | None = None) -> tuple[int, ...]:
    if isinstance(value, bool) or not isinstance(value, list) or not all(
            isinstance(v, int) and not isinstance(v, bool) for v in value):
        raise CacheInvalid(f"{name} must be a list of integers")
    if length is not None and len(value) != length:
        raise CacheInvalid(f"{name} must have {length} entries")
    return tuple(value)


def _int_or_pair(value, name: str):
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    return _int_list(value, name, 2)


def _number(args: dict, name: str, kind=(int, float)):
    value = args.get(name)
    if isinstance(value, bool) or not isinstance(value, kind):
        raise CacheInvalid(f"module argument {name} must be a number")
    return value


def _build_module(kind: str, args: dict, arrays: dict[str, np.ndarray]):
    """One module from its checked description (the inverse of :func:`_describe_module`)."""
    import torch
    import torch.ao.nn.quantized as nnq
    from torch import nn

    if not isinstance(args, dict):
        raise CacheInvalid("module arguments must be an object")
    if kind in ("qconv2d", "qlinear"):
        weight = arrays.get("weight")
        scales, zero_points = arrays.get("scales"), arrays.get("zero_points")
        if weight is None or scales is None or zero_points is None or weight.dtype != np.int8:
            raise CacheInvalid(f"{kind} without int8 weights and their scales")
        axis = _number(args, "axis", int)
        if axis != 0 or scales.shape != (weight.shape[0],) or zero_points.shape != scales.shape:
            raise CacheInvalid(f"{kind}: scales do not fit the weights")
        qweight = torch._make_per_channel_quantized_tensor(
            torch.from_numpy(weight.copy()), torch.from_numpy(scales.astype(np.float64)),
            torch.from_numpy(zero_points.astype(np.int64)), axis)
        has_bias = args.get("bias") is True
        bias = arrays.get("bias")
        if has_bias != (bias is not None):
            raise CacheInvalid(f"{kind}: the bias is missing or unexpected")
        if kind == "qlinear":
            shape = (_number(args, "out_features", int), _number(args, "in_features", int))
            if tuple(weight.shape) != shape:
                raise CacheInvalid("qlinear: weights do not fit its size")
            module = nnq.Linear(shape[1], shape[0], bias_=has_bias, dtype=torch.qint8)
        else:
            kernel = _int_list(args.get("kernel_size"), "kernel_size", 2)
            groups = _number(args, "groups", int)
            shape = (_number(args, "out_channels", int), _number(args, "in_channels", int) // max(groups, 1), *kernel)
            if tuple(weight.shape) != shape:
                raise CacheInvalid("qconv2d: weights do not fit its size")
            module = nnq.Conv2d(shape[1] * groups, shape[0], kernel, stride=_int_list(args.get("stride"), "stride", 2),
                                padding=_int_list(args.get("padding"), "padding", 2),
                                dilation=_int_list(args.get("dilation"), "dilation", 2), groups=groups, bias=has_bias)
        module.set_weight_bias(qweight, None if bias is None else torch.from_numpy(bias.astype(np.float32)))
        module.scale = float(_number(args, "scale"))
        module.zero_point = int(_number(args, "zero_point", int))
        return module
    if arrays:
        raise CacheInvalid(f"{kind} takes no arrays")
    if kind == "qdropout":
        return nnq.Dropout(float(_number(args, "p")))
    if kind == "relu":
        return nn.ReLU()
    if kind == "identity":
        return nn.Identity()
    if kind == "maxpool2d":
        if not isinstance(args.get("ceil_mode"), bool):
            raise CacheInvalid("maxpool2d: ceil_mode must be a bool")
        return nn.MaxPool2d(_int_or_pair(args.get("kernel_size"), "kernel_size"),
                            _int_or_pair(args.get("stride"), "stride"), _int_or_pair(args.get("padding"), "padding"),
                            _int_or_pair(args.get("dilation"), "dilation"), ceil_mode=args["ceil_mode"])
    if kind == "adaptiveavgpool2d":
        return nn.AdaptiveAvgPool2d(_int_or_pair(args.get("output_size"), "output_size"))
    raise CacheInvalid(f"module type {kind!r} is not allowed")


# -- graph nodes <-> JSON ------------------------------------------------------------------------
def _encode(value, names: set[str]):
    import torch
    import torch.fx

    if isinstance(value, torch.fx.Node):
        return {"node": value.name}
    if isinstance(value, tuple):
        return {"tuple": [_encode(v, names) for v in value]}
    if isinstance(value, list):
        return {"list": [_encode(v, names) for v in value]}
    if isinstance(value, torch.dtype):
        name = str(value).removeprefix("torch.")
        if name not in _TORCH_DTYPES:
            raise Unsupported(f"dtype {value}")
        return {"dtype": name}
    if isinstance(value, str):
        if value not in _ATTRIBUTES:
            raise Unsupported(f"string constant {value!r}")
        return {"attribute": value}
    if isinstance(value, float) and not np.isfinite(value):
        raise Unsupported("a non-finite constant")
    if value is None or isinstance(value, (bool, int, float)):
        return value
    raise Unsupported(f"constant of type {type(value).__name__}")


def _decode(value, nodes: dict):
    import torch

    if value is None or isinstance(value, (bool, int, float)):
        return value
    if isinstance(value, dict) and len(value) == 1:
        (tag, inner), = value.items()
        if tag == "node" and isinstance(inner, str) and inner in nodes:
            return nodes[inner]
        if tag in ("tuple", "list") and isinstance(inner, list):
            items = [_decode(v, nodes) for v in inner]
            return tuple(items) if tag == "tuple" else items
        if tag == "dtype" and inner in _TORCH_DTYPES:
            return getattr(torch, inner)
        if tag == "attribute" and inner in _ATTRIBUTES:
            return inner
    raise CacheInvalid(f"argument {str(value)[:80]!r} is not allowed")


def _function_name(target) -> str:
    for name, fn in _functions().items():
        if target is fn:
            return name
    raise Unsupported(f"function {target!r}")


def describe(model) -> tuple[dict, dict[str, np.ndarray]]:
    """The JSON-able description of a converted ``GraphModule`` and its arrays by name."""
    import torch

    if getattr(model, "graph", None) is None:
        raise Unsupported("the model is not an FX graph module")
    names = {n.name for n in model.graph.nodes}
    nodes, modules, arrays = [], {}, {}
    for node in model.graph.nodes:
        record = {"op": node.op, "name": node.name}
        if node.op == "call_function":
            record["target"] = _function_name(node.target)
        elif node.op in ("call_method", "call_module", "get_attr"):
            record["target"] = str(node.target)
        if node.op == "call_method" and node.target not in METHODS:
            raise Unsupported(f"method {node.target!r}")
        if node.op == "call_module" and node.target not in modules:
            kind, args, own = _describe_module(model.get_submodule(node.target))
            modules[node.target] = {"type": kind, "args": args}
            arrays.update({f"module:{node.target}:{k}": v for k, v in own.items()})
        if node.op == "get_attr":
            value = operator.attrgetter(node.target)(model)
            if not isinstance(value, torch.Tensor) or value.is_quantized:
                raise Unsupported(f"attribute {node.target} of type {type(value).__name__}")
            arrays[f"attr:{node.target}"] = value.detach().numpy()
        record["args"] = _encode(tuple(node.args), names)
        record["kwargs"] = {k: _encode(v, names) for k, v in node.kwargs.items()}
        nodes.append(record)
    return {"nodes": nodes, "modules": modules}, arrays


def rebuild(graph: dict, arrays: dict[str, np.ndarray]):
    """A ``GraphModule`` from :func:`describe`'s output, every part checked against the allowlists."""
    import torch
    import torch.fx
    from torch import nn

    if not isinstance(graph, dict) or not isinstance(graph.get("nodes"), list) or not isinstance(
            graph.get("modules"), dict):
        raise CacheInvalid("the header has no graph")
    functions = _functions()
    root = nn.Module()
    per_module: dict[str, dict[str, np.ndarray]] = {}
    for name, array in arrays.items():
        if name.startswith("module:"):
            path, _, part = name[len("module:"):].rpartition(":")
            per_module.setdefault(path, {})[part] = array
    if set(per_module) - set(graph["modules"]):
        raise CacheInvalid("arrays of modules the graph does not describe")
    with warnings.catch_warnings():
        # torch deprecates making quantised tensors by hand in favour of torchao; the pinned
        # torch builds them as its own converter does
        warnings.simplefilter("ignore", UserWarning)
        for path, spec in graph["modules"].items():
            if not isinstance(path, str) or not _PATH.match(path) or not isinstance(spec, dict):
                raise CacheInvalid(f"module path {str(path)[:80]!r} is not allowed")
            _attach(root, path, _build_module(spec.get("type"), spec.get("args"), per_module.get(path, {})))
    fx_graph = torch.fx.Graph()
    nodes: dict[str, torch.fx.Node] = {}
    outputs = 0
    for record in graph["nodes"]:
        if not isinstance(record, dict):
            raise CacheInvalid("a node is not an object")
        op, name, target = record.get("op"), record.get("name"), record.get("target")
        if not isinstance(name, str) or not _IDENT.match(name) or name in nodes:
            raise CacheInvalid(f"node name {str(name)[:80]!r} is not allowed")
        args = _decode(record.get("args", {"tuple": []}), nodes)
        kwargs_in = record.get("kwargs", {})
        if not isinstance(args, tuple) or not isinstance(kwargs_in, dict) or not all(
                isinstance(k, str) and _IDENT.match(k) for k in kwargs_in):
            raise CacheInvalid(f"node {name}: bad arguments")
        kwargs = {k: _decode(v, nodes) for k, v in kwargs_in.items()}
        if op == "placeholder":
            if args or kwargs:
                raise CacheInvalid("the input node takes no arguments")
            target = name
        elif op == "get_attr":
            if not isinstance(target, str) or not _IDENT.match(target) or f"attr:{target}" not in arrays:
                raise CacheInvalid(f"node {name}: attribute {str(target)[:80]!r} is not allowed")
            if not hasattr(root, target):
                root.register_buffer(target, torch.from_numpy(arrays[f"attr:{target}"].copy()))
        elif op == "call_function":
            if target not in FUNCTIONS:
                raise CacheInvalid(f"node {name}: function {str(target)[:80]!r} is not allowed")
            if target == "builtins.getattr" and not (len(args) == 2 and args[1] in _ATTRIBUTES):
                raise CacheInvalid(f"node {name}: getattr of {args[1:]!r} is not allowed")
            target = functions[target]
        elif op == "call_method":
            if target not in METHODS:
                raise CacheInvalid(f"node {name}: method {str(target)[:80]!r} is not allowed")
        elif op == "call_module":
            if target not in graph["modules"]:
                raise CacheInvalid(f"node {name}: module {str(target)[:80]!r} is not described")
        elif op == "output":
            if len(args) != 1 or kwargs:
                raise CacheInvalid("the output node takes one argument")
            target = "output"
            outputs += 1
        else:
            raise CacheInvalid(f"node {name}: op {str(op)[:40]!r} is not allowed")
        node = fx_graph.create_node(op, target, args, kwargs, name=name)
        if node.name != name:
            raise CacheInvalid(f"node name {name!r} is not allowed")
        nodes[name] = node
    if outputs != 1 or not any(r.get("op") == "placeholder" for r in graph["nodes"]):
        raise CacheInvalid("the graph needs one input and one output")
    try:
        fx_graph.lint()
    except Exception as exc:  # FX raises RuntimeError and others for a malformed graph
        raise CacheInvalid(f"the graph does not check out: {exc}") from None
    return torch.fx.GraphModule(root, fx_graph).eval()


def _attach(root, path: str, module) -> None:
    from torch import nn

    parent = root
    parts = path.split(".")
    for part in parts[:-1]:
        child = parent._modules.get(part)
        if child is None:
            child = nn.Module()
            parent.add_module(part, child)
        parent = child
    if parts[-1] in parent._modules:
        raise CacheInvalid(f"module {path} is described twice")
    parent.add_module(parts[-1], module)


