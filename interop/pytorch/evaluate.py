#!/usr/bin/python3
"""Evaluates a DigitParity checkpoint in PyTorch on the MNIST test set.

    python3 interop/pytorch/evaluate.py MODEL [--config FILE] [--data data/mnist] [--compare LOGITS] [--json]

Prints each task's accuracy. With --compare, also the largest difference between PyTorch's logits and the ones in
LOGITS (raw little-endian float32, 10000 x heads, as DigitParity computed them), relative to max(1, |logit|): float32
resolves a logit near 30 to 2e-6, and two correct float32 implementations differ by a few of those. Fails above
--tolerance.
"""
import argparse
import json
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import digitparity_torch as dp  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model")
    parser.add_argument("--data", default=os.path.join(os.path.dirname(__file__), "..", "..", "data", "mnist"))
    parser.add_argument("--config", metavar="FILE", help="for a plain state_dict: the configuration JSON")
    parser.add_argument("--compare", metavar="LOGITS")
    parser.add_argument("--tolerance", type=float, default=1e-5)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    try:
        config = None
        if args.config:
            with open(args.config) as f:
                config = json.load(f)
        model, _, _ = dp.load(args.model, config)
    except (dp.CheckpointError, OSError, ValueError, KeyError, RuntimeError) as e:
        sys.exit(f"evaluate.py: {e}")
    pixels, digits = dp.mnist(args.data, "t10k")
    accuracies, logits = dp.accuracy(model, pixels, digits)
    result = {"samples": len(pixels), "accuracy": accuracies}
    if args.compare:
        with open(args.compare, "rb") as f:
            ours = torch.frombuffer(bytearray(f.read()), dtype=torch.float32).reshape(logits.shape)
        result["max_logit_difference"] = ((logits - ours).abs() / logits.abs().clamp(min=1)).max().item()
    if args.json:
        print(json.dumps(result))
    else:
        print(f"{args.model}: {len(pixels)} test images")
        for task, value in accuracies.items():
            print(f"  {task:8} {value:.2%}")
        if args.compare:
            print(f"  largest logit difference from {args.compare}: {result['max_logit_difference']:.2e}")
    if args.compare and not result["max_logit_difference"] <= args.tolerance:
        sys.exit(f"evaluate.py: logits differ by {result['max_logit_difference']:.2e}, more than {args.tolerance:g}")


if __name__ == "__main__":
    main()
