#!/usr/bin/env python3
"""Our networks and the tutorial's recipe in PyTorch, as the peer for benchmarks/compare.sh.

--model mlp (the tutorial's): 784 -> 128 -> 64 (ReLU) -> heads digit (10) and parity (2) as one 64 -> 12 layer split
10|2 (the same math as two layers, one matrix multiply fewer).
--model cnn: conv 1->32 5x5, ReLU, max-pool 2, conv 32->64 5x5, ReLU, max-pool 2, fc 1024->128, ReLU, the same heads.
Both: softmax cross-entropy per head, summed; SGD lr 0.1, momentum 0.9, weight decay
1e-5 on weights only; batch 100; shuffled every epoch; PyTorch's default Linear initialization. The data is decoded
once and kept as one float tensor, so each step only indexes it: the peer's best case.

Prints one JSON object: per-epoch training seconds, samples/sec and validation accuracies.
"""
import argparse
import gzip
import json
import os
import struct
import time

import numpy as np
import torch
import torch.nn.functional as F


def read_idx(path):
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        data = f.read()
    magic, = struct.unpack(">I", data[:4])
    dims = data[3]
    shape = struct.unpack(">" + "I" * dims, data[4:4 + 4 * dims])
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * dims).reshape(shape)


def load(directory, prefix):
    def find(name):
        for candidate in (name, name + ".gz"):
            path = os.path.join(directory, candidate)
            if os.path.exists(path):
                return path
        raise FileNotFoundError(os.path.join(directory, name))
    images = read_idx(find(f"{prefix}-images-idx3-ubyte")).reshape(-1, 784)
    labels = read_idx(find(f"{prefix}-labels-idx1-ubyte"))
    return torch.from_numpy(images.astype(np.float32) / 255.0), torch.from_numpy(labels.astype(np.int64))


class Cnn(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = torch.nn.Conv2d(1, 32, 5)
        self.conv2 = torch.nn.Conv2d(32, 64, 5)
        self.fc1 = torch.nn.Linear(1024, 128)
        self.heads = torch.nn.Linear(128, 12)

    def forward(self, x):
        h = F.max_pool2d(F.relu(self.conv1(x.view(-1, 1, 28, 28))), 2)
        h = F.max_pool2d(F.relu(self.conv2(h)), 2)
        logits = self.heads(F.relu(self.fc1(h.flatten(1))))
        return logits[:, :10], logits[:, 10:]


class Net(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = torch.nn.Linear(784, 128)
        self.fc2 = torch.nn.Linear(128, 64)
        self.heads = torch.nn.Linear(64, 12)

    def forward(self, x):
        h = F.relu(self.fc2(F.relu(self.fc1(x))))
        logits = self.heads(h)
        return logits[:, :10], logits[:, 10:]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", default=os.path.join(os.path.dirname(__file__), "..", "..", "data", "mnist"))
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--model", choices=["mlp", "cnn"], default="mlp")
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    x_train, y_train = load(args.data, "train")
    x_test, y_test = load(args.data, "t10k")
    p_train, p_test = y_train % 2, y_test % 2

    net = Cnn() if args.model == "cnn" else Net()
    weights = [p for n, p in net.named_parameters() if n.endswith("weight")]
    biases = [p for n, p in net.named_parameters() if n.endswith("bias")]
    optimizer = torch.optim.SGD([{"params": weights, "weight_decay": 1e-5}, {"params": biases, "weight_decay": 0.0}],
                                lr=0.1, momentum=0.9)
    epochs = []
    n = x_train.shape[0]
    for epoch in range(1, args.epochs + 1):
        order = torch.randperm(n)
        start = time.perf_counter()
        net.train()
        for first in range(0, n, args.batch_size):
            index = order[first:first + args.batch_size]
            digit_logits, parity_logits = net(x_train[index])
            loss = F.cross_entropy(digit_logits, y_train[index]) + F.cross_entropy(parity_logits, p_train[index])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        seconds = time.perf_counter() - start
        with torch.no_grad():
            digit_logits, parity_logits = (torch.cat(parts) for parts in zip(*(net(x_test[i:i + 1000]) for i in range(0, x_test.shape[0], 1000))))
            digit = (digit_logits.argmax(1) == y_test).float().mean().item()
            parity = (parity_logits.argmax(1) == p_test).float().mean().item()
        epochs.append({"epoch": epoch, "seconds": seconds, "samples_per_sec": n / seconds,
                       "validation": {"digit": digit, "parity": parity}})
    print(json.dumps({"peer": "pytorch", "model": args.model, "torch": torch.__version__, "threads": args.threads,
                      "batch_size": args.batch_size, "epochs": epochs}))


if __name__ == "__main__":
    main()
