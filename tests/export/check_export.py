"""Loads a `cerebra export` file with Python's torch and prints its logits.

  /usr/bin/python3 check_export.py FORMAT FILE INPUT.safetensors ARCHITECTURE CLASSES SIZE SOURCE_DIR [ARGUMENTS]

FORMAT is pth, safetensors or torchscript. The state dicts are loaded,
strictly, into torchvision.models.ARCHITECTURE(num_classes=CLASSES), or for
`cnn` into tools/bench-train/reference.py's Cnn(CLASSES, SIZE) under
SOURCE_DIR; ARGUMENTS, a JSON object, adds keyword arguments to torchvision's
constructor (Inception v3's aux_logits, transform_input). A .pth is read both with torch.load(f) and with
torch.load(f, weights_only=True). The loading code of the MODEL_CARD.md
beside FILE (its first python block), when there is one, is run too. Nothing of Cerebra is
imported, nor the safetensors package (Debian has none): safetensors files
are parsed here. Prints one JSON line: the tensors' names, the logits of the
input tensor "input" from the module, and the logits from the card's code.
"""
import importlib.util
import json
import os
import struct
import sys
import types

import torch

DTYPES = {"F32": torch.float32, "F64": torch.float64, "F16": torch.float16, "BF16": torch.bfloat16,
          "I64": torch.int64, "I32": torch.int32, "I16": torch.int16, "I8": torch.int8, "U8": torch.uint8,
          "BOOL": torch.bool}


def read_safetensors(path):
    """8-byte little-endian header length, a JSON header, then raw tensor data."""
    with open(path, "rb") as f:
        data = f.read()
    (length,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + length])
    base = 8 + length
    tensors = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        begin, end = info["data_offsets"]
        dtype = DTYPES[info["dtype"]]
        if end > begin:
            flat = torch.frombuffer(bytearray(data[base + begin:base + end]), dtype=dtype)
        else:
            flat = torch.empty(0, dtype=dtype)
        tensors[name] = flat.reshape(info["shape"])
    return tensors


def python_module(architecture, classes, size, source_dir, arguments):
    if architecture == "cnn":
        path = os.path.join(source_dir, "tools", "bench-train", "reference.py")
        spec = importlib.util.spec_from_file_location("reference", path)
        reference = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(reference)
        return reference.Cnn(classes, size)
    import torchvision
    return getattr(torchvision.models, architecture)(num_classes=classes, **arguments)


def card_model(file):
    """Runs the first python block of the MODEL_CARD.md beside `file` in its folder; returns its `model`."""
    folder = os.path.dirname(os.path.abspath(file))
    text = open(os.path.join(folder, "MODEL_CARD.md")).read()
    start = text.index("```python\n") + len("```python\n")
    code = text[start:text.index("```", start)]
    # What `from safetensors.torch import load_file` needs, since Debian has no safetensors package.
    package = types.ModuleType("safetensors")
    package.torch = types.ModuleType("safetensors.torch")
    package.torch.load_file = read_safetensors
    sys.modules.setdefault("safetensors", package)
    sys.modules.setdefault("safetensors.torch", package.torch)
    here = os.getcwd()
    os.chdir(folder)
    try:
        namespace = {}
        exec(compile(code, "MODEL_CARD.md", "exec"), namespace)
    finally:
        os.chdir(here)
    return namespace["model"]


def main():
    fmt, file, input_file, architecture, classes, size, source_dir = sys.argv[1:8]
    arguments = json.loads(sys.argv[8]) if len(sys.argv) > 8 else {}
    classes, size = int(classes), int(size)
    x = read_safetensors(input_file)["input"]
    result = {"format": fmt}
    if fmt == "torchscript":
        model = torch.jit.load(file)
        result["tensors"] = sorted(model.state_dict().keys())
    else:
        if fmt == "pth":
            state = torch.load(file, weights_only=True)
            unrestricted = torch.load(file)
            assert list(state.keys()) == list(unrestricted.keys())
            for name in state:
                assert torch.equal(state[name], unrestricted[name]), name
                assert state[name].is_contiguous(), name
            result["type"] = type(state).__name__
        else:
            state = read_safetensors(file)
        model = python_module(architecture, classes, size, source_dir, arguments)
        model.load_state_dict(state, strict=True)
        result["tensors"] = sorted(state.keys())
    model.eval()
    with torch.no_grad():
        result["logits"] = model(x).tolist()
        if os.path.exists(os.path.join(os.path.dirname(os.path.abspath(file)), "MODEL_CARD.md")):
            result["card_logits"] = card_model(file)(x).tolist()
    print(json.dumps(result))


if __name__ == "__main__":
    main()
