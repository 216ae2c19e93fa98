"""DigitParity checkpoints in PyTorch.

A DigitParity model is a plain torch.nn.Module built from the checkpoint's own configuration (the `config`
metadata): Conv2d -> ReLU -> max_pool2d(2) (-> BatchNorm2d with "batch_norm") per convolution, flatten(1),
Linear -> ReLU (-> dropout) per hidden layer,
and one Linear `heads` whose outputs are every task's logits side by side. The file holds every tensor in the layout
and order this module expects, so load_state_dict takes it as it is.

Only the standard library and torch (Debian's python3-torch); safetensors is read and written here (the format is a
little-endian u64 header length, a JSON header, then the raw tensors).
"""
import gzip
import json
import math
import os
import struct
import tempfile

import torch
import torch.nn as nn
import torch.nn.functional as F

FORMAT = "digitparity/2"
DTYPES = {"F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16}
NAMES = {dtype: name for name, dtype in DTYPES.items()}


class CheckpointError(Exception):
    """A file that is not a DigitParity checkpoint this module can load; the message names the file."""


def read_safetensors(path):
    """(tensors by name, metadata) of a safetensors file."""
    with open(path, "rb") as f:
        data = f.read()
    if len(data) < 8:
        raise CheckpointError(f"{path}: {len(data)} bytes, expected a safetensors file")
    (length,) = struct.unpack("<Q", data[:8])
    if length > len(data) - 8:
        raise CheckpointError(f"{path}: a header of {length} bytes, expected at most {len(data) - 8}")
    header = json.loads(data[8:8 + length])
    metadata = header.pop("__metadata__", {})
    body = memoryview(data)[8 + length:]
    tensors = {}
    for name, entry in header.items():
        if entry["dtype"] not in DTYPES:
            raise CheckpointError(f"{path}: tensor {name} of dtype {entry['dtype']}, expected F32, F16 or BF16")
        begin, end = entry["data_offsets"]
        flat = torch.frombuffer(bytearray(body[begin:end]), dtype=DTYPES[entry["dtype"]])
        tensors[name] = flat.reshape(entry["shape"]).float()
    return tensors, metadata


def write_safetensors(path, tensors, metadata):
    """Writes F32, F16 or BF16 tensors (others as F32) and string metadata to a temporary file beside path, then
    renames it into place."""
    header, offset, blobs = {"__metadata__": metadata}, 0, []
    for name, tensor in tensors.items():
        tensor = tensor.detach().cpu().contiguous()
        if tensor.dtype not in NAMES:
            tensor = tensor.to(torch.float32)
        bits = tensor.view(torch.int16) if tensor.element_size() == 2 else tensor.view(torch.int32)
        blob = bits.numpy().astype("<i2" if tensor.element_size() == 2 else "<i4").tobytes()
        header[name] = {"dtype": NAMES[tensor.dtype], "shape": list(tensor.shape), "data_offsets": [offset, offset + len(blob)]}
        offset += len(blob)
        blobs.append(blob)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-(8 + len(text)) % 8)  # the data starts 8-byte aligned
    directory = os.path.dirname(os.path.abspath(path))
    with tempfile.NamedTemporaryFile(dir=directory, prefix=".tmp-", delete=False) as f:
        f.write(struct.pack("<Q", len(text)) + text)
        for blob in blobs:
            f.write(blob)
        f.flush()
        os.fsync(f.fileno())
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(f.name, 0o666 & ~umask)  # a temporary file is private; the model is not
    os.replace(f.name, path)


class DigitParityNet(nn.Module):
    """The network a DigitParity configuration describes; forward takes (N, input_size) pixels / 255."""

    def __init__(self, config):
        super().__init__()
        self.config = config
        self.input_size = config["input_size"]
        self.side = math.isqrt(self.input_size)
        self.convolutions = len(config.get("convolutions", []))
        self.hidden = len(config["hidden"])
        self.dropout = config.get("dropout", 0.0)
        self.batch_norm = config.get("batch_norm", False)
        self.tasks = [(t["name"], t["classes"]) for t in config["tasks"]]
        kernel, channels, side, width = config.get("kernel", 5), 1, self.side, self.input_size
        for i, out in enumerate(config.get("convolutions", [])):
            setattr(self, f"conv{i + 1}", nn.Conv2d(channels, out, kernel))
            if self.batch_norm:
                setattr(self, f"bn{i + 1}", nn.BatchNorm2d(out))
            channels, side = out, (side - kernel + 1) // 2
            width = channels * side * side
        for i, out in enumerate(config["hidden"]):
            setattr(self, f"fc{i + 1}", nn.Linear(width, out))
            width = out
        self.heads = nn.Linear(width, sum(classes for _, classes in self.tasks))

    def forward(self, x):
        """Every task's logits side by side, (N, sum of classes)."""
        if self.convolutions:
            x = x.view(-1, 1, self.side, self.side)
            for i in range(self.convolutions):
                x = F.max_pool2d(F.relu(getattr(self, f"conv{i + 1}")(x)), 2)
                if self.batch_norm:
                    x = getattr(self, f"bn{i + 1}")(x)
            x = x.flatten(1)
        for i in range(self.hidden):
            x = F.dropout(F.relu(getattr(self, f"fc{i + 1}")(x)), self.dropout, self.training)
        return self.heads(x)

    def split(self, logits):
        """The logits per task, {name: (N, classes)}."""
        return dict(zip([name for name, _ in self.tasks], logits.split([classes for _, classes in self.tasks], dim=1)))


def load(path, config=None):
    """(model, metadata, optimizer state {state: {tensor: value}}) from a DigitParity checkpoint, or, given its
    configuration (a dict, as the config metadata), from a plain state_dict."""
    tensors, metadata = read_safetensors(path)
    if config is not None:
        metadata = dict(metadata, format=FORMAT, config=json.dumps(config))
    if metadata.get("format") != FORMAT:
        raise CheckpointError(f"{path}: format {metadata.get('format')!r}, expected {FORMAT}"
                              " (a file of an older format loads in DigitParity; save it again there to convert it)")
    model = DigitParityNet(json.loads(metadata["config"]))
    state = {name: value for name, value in tensors.items() if not name.startswith("optimizer.")}
    # DigitParity keeps no batch count (its running estimates move by a fixed momentum, as BatchNorm2d's default does).
    for name, buffer in model.state_dict().items():
        if name.endswith(".num_batches_tracked"):
            state.setdefault(name, torch.zeros_like(buffer))
    model.load_state_dict(state, strict=True)
    optimizer = {}
    for name, value in tensors.items():
        if name.startswith("optimizer."):
            kind, tensor = name[len("optimizer."):].split(".", 1)
            optimizer.setdefault(kind, {})[tensor] = value
    return model, metadata, optimizer


def save(path, model, metadata, momentum=None):
    """Writes model (and SGD's momentum buffers by parameter name) as a DigitParity checkpoint DigitParity loads."""
    tensors = {name: value for name, value in model.state_dict().items() if not name.endswith(".num_batches_tracked")}
    for name, value in (momentum or {}).items():
        tensors[f"optimizer.momentum.{name}"] = value
    meta = dict(metadata)
    meta.update({"format": FORMAT, "config": json.dumps(model.config, separators=(",", ":")),
                 "input_normalization": "pixel / 255"})
    write_safetensors(path, tensors, meta)


def read_idx(path):
    """An IDX file (raw or gzip) as a uint8 tensor of its shape."""
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        data = f.read()
    dims = data[3]
    shape = struct.unpack(f">{dims}I", data[4:4 + 4 * dims])
    return torch.frombuffer(bytearray(data[4 + 4 * dims:]), dtype=torch.uint8).reshape(shape)


def mnist(directory, part):
    """(pixels / 255 as (N, 784) float32, digit labels (N,)) of MNIST's train or t10k part."""
    images = read_idx(os.path.join(directory, f"{part}-images-idx3-ubyte.gz"))
    labels = read_idx(os.path.join(directory, f"{part}-labels-idx1-ubyte.gz"))
    return images.reshape(len(images), -1).float() / 255, labels.long()


# Each built-in task as a function of the digit (DigitParity's TaskDefinition).
TASK_LABELS = {
    "digit": lambda d: d,
    "parity": lambda d: d % 2,
    "gt4": lambda d: (d > 4).long(),
    "prime": lambda d: sum((d == p).long() for p in (2, 3, 5, 7)),
    "mod3": lambda d: d % 3,
    "loop": lambda d: sum((d == p).long() for p in (0, 6, 8, 9)),
    "class": lambda d: d,  # another dataset's classes: the label itself
}


def task_labels(model, digits):
    """{task: labels} for digit labels, for the model's tasks."""
    return {name: TASK_LABELS[name](digits) for name, _ in model.tasks}


@torch.no_grad()
def accuracy(model, pixels, digits, batch=1000):
    """{task: accuracy} on a labelled set, and the logits (N, sum of classes)."""
    model.eval()
    logits = torch.cat([model(pixels[i:i + batch]) for i in range(0, len(pixels), batch)])
    labels = task_labels(model, digits)
    return {name: (part.argmax(1) == labels[name]).sum().item() / len(digits)
            for name, part in model.split(logits).items()}, logits
