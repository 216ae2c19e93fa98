#!/usr/bin/python3
"""Continues a DigitParity checkpoint with PyTorch's DistributedDataParallel and writes one DigitParity loads.

    torchrun --standalone --nproc_per_node 2 interop/pytorch/train_ddp.py --resume MODEL --out OUT [--epochs 1]

(With Debian 12's torch 1.13 on Python 3.11, add --redirects 1 --tee 1 after --nproc_per_node: torchrun's default
of 0 for both fails there, an IntFlag change in Python 3.11.)

The recipe is DigitParity's: the checkpoint's network and tasks, loss = sum over tasks of w_t * cross-entropy, SGD with
momentum and weight decay on weights only (not biases), continuing the momentum saved in the file, and the same
augmentation (shift, rotation, scale, elastic) when the checkpoint's command had --augment. Learning rate, momentum,
weight decay, batch size, task weights and augmentation come from that command unless given here; the rate is held
constant (a schedule the command named is not continued). --batch-size is the global batch, split over the processes.
Runs on the gloo backend on CPUs, or NCCL on GPUs (--backend nccl, one process per GPU). Rank 0 evaluates the result
on the MNIST test set and writes OUT with test_accuracy in its metadata.
"""
import argparse
import math
import os
import shlex
import sys
import time

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch.nn.parallel import DistributedDataParallel

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import digitparity_torch as dp  # noqa: E402

GRID_SPACING = 7  # pixels between the elastic field's control points, as DigitParity's Augmentation


def recipe(command):
    """DigitParity's training options as the checkpoint's command gave them (its defaults otherwise)."""
    found = {"lr": 0.1, "momentum": 0.9, "weight_decay": 1e-5, "batch_size": 100, "augment": False, "elastic": 0.0,
             "task_weight": {}}
    words = shlex.split(command or "")
    for i, word in enumerate(words):
        value = words[i + 1] if i + 1 < len(words) else None
        if word in ("--lr", "--momentum", "--weight-decay", "--elastic"):
            found[word[2:].replace("-", "_")] = float(value)
        elif word == "--batch-size":
            found["batch_size"] = int(value)
        elif word == "--augment":
            found["augment"] = True
        elif word == "--preset" and value != "tutorial":
            raise SystemExit(f"train_ddp.py: the checkpoint's command starts from --preset {value}, whose settings this "
                             "script does not know; give them as options (--lr, --weight-decay, ...)")
        elif word == "--task-weight":
            name, weight = value.split("=", 1)
            found["task_weight"][name] = float(weight)
    return found


def augment(images, side, shift, degrees, scale, elastic, generator):
    """Each (side x side) image shifted, rotated and scaled about its centre at random, bilinear, zeros outside."""
    n = len(images)
    u = lambda: torch.rand(n, generator=generator) * 2 - 1  # noqa: E731
    dx, dy, angle, factor = shift * u(), shift * u(), degrees * math.pi / 180 * u(), 1 + scale * u()
    # Output pixel p samples the input at R(-angle)/factor (p - centre - shift) + centre, in normalized coordinates.
    cos, sin = torch.cos(angle) / factor, torch.sin(angle) / factor
    theta = torch.stack([torch.stack([cos, sin, -(cos * dx + sin * dy) * 2 / side], 1),
                         torch.stack([-sin, cos, (sin * dx - cos * dy) * 2 / side], 1)], 1)
    grid = F.affine_grid(theta, (n, 1, side, side), align_corners=False)
    if elastic > 0:
        points = (side - 1) // GRID_SPACING + 2
        field = (torch.rand(n, 2, points, points, generator=generator) * 2 - 1) * elastic
        size = (points - 1) * GRID_SPACING + 1
        field = F.interpolate(field, size=(size, size), mode="bilinear", align_corners=True)[:, :, :side, :side]
        grid = grid + field.permute(0, 2, 3, 1) * 2 / side
    return F.grid_sample(images.view(n, 1, side, side), grid, align_corners=False).view(n, -1)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--resume", required=True, metavar="MODEL", help="a DigitParity checkpoint (format 2)")
    parser.add_argument("--out", required=True, help="the checkpoint to write")
    parser.add_argument("--data", default=os.path.join(os.path.dirname(__file__), "..", "..", "data", "mnist"))
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--lr", type=float)
    parser.add_argument("--momentum", type=float)
    parser.add_argument("--weight-decay", type=float)
    parser.add_argument("--batch-size", type=int, help="global batch, over all processes")
    parser.add_argument("--limit", type=int, help="train on the first N training images only (a quick trial)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--backend", default="gloo", choices=["gloo", "nccl"])
    args = parser.parse_args()

    dist.init_process_group(args.backend)
    rank, world = dist.get_rank(), dist.get_world_size()
    device = torch.device(f"cuda:{int(os.environ.get('LOCAL_RANK', 0))}" if args.backend == "nccl" else "cpu")
    try:
        model, metadata, optimizer_state = dp.load(args.resume)
    except (dp.CheckpointError, OSError, ValueError, KeyError, RuntimeError) as e:
        sys.exit(f"train_ddp.py: {e}")
    settings = recipe(metadata.get("command"))
    for key in ("lr", "momentum", "weight_decay", "batch_size"):
        if getattr(args, key) is not None:
            settings[key] = getattr(args, key)
    if settings["batch_size"] % world:
        sys.exit(f"train_ddp.py: --batch-size {settings['batch_size']} does not split over {world} processes")
    model.to(device)
    weights = [p for n, p in model.named_parameters() if n.endswith(".weight")]
    biases = [p for n, p in model.named_parameters() if not n.endswith(".weight")]
    optimizer = torch.optim.SGD([{"params": weights, "weight_decay": settings["weight_decay"]},
                                 {"params": biases, "weight_decay": 0.0}],
                                lr=settings["lr"], momentum=settings["momentum"])
    for name, p in model.named_parameters():
        if name in optimizer_state.get("momentum", {}):
            optimizer.state[p]["momentum_buffer"] = optimizer_state["momentum"][name].to(device).clone()
    ddp = DistributedDataParallel(model)

    pixels, digits = dp.mnist(args.data, "train")
    if args.limit:
        pixels, digits = pixels[:args.limit], digits[:args.limit]
    labels = dp.task_labels(model, digits)
    task_weight = {name: settings["task_weight"].get(name, 1.0) for name, _ in model.tasks}
    per_rank = settings["batch_size"] // world
    generator = torch.Generator().manual_seed(args.seed * 1000 + rank)
    first_epoch = int(metadata.get("epoch", "0")) + 1
    steps = int(metadata.get("optimizer_steps", "0"))
    for epoch in range(first_epoch, first_epoch + args.epochs):
        start = time.time()
        order = torch.randperm(len(pixels), generator=torch.Generator().manual_seed(args.seed + epoch))
        batches = len(order) // settings["batch_size"]
        ddp.train()
        total = 0.0
        for b in range(batches):
            # This process's share of the global batch.
            index = order[b * settings["batch_size"] + rank * per_rank:b * settings["batch_size"] + (rank + 1) * per_rank]
            x = pixels[index]
            if settings["augment"]:
                x = augment(x, model.side, 2.0, 10.0, 0.1, settings["elastic"], generator)
            logits = model.split(ddp(x.to(device)))
            loss = sum(task_weight[name] * F.cross_entropy(part, labels[name][index].to(device)) for name, part in logits.items())
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            steps += 1
            total += loss.item()
        if rank == 0:
            print(f"epoch {epoch}: loss {total / batches:.4f}, {batches * settings['batch_size'] / (time.time() - start):,.0f} samples/s"
                  f" on {world} processes", flush=True)

    if rank == 0:
        test_pixels, test_digits = dp.mnist(args.data, "t10k")
        accuracies, _ = dp.accuracy(model.cpu(), test_pixels, test_digits)
        momentum = {name: optimizer.state[p]["momentum_buffer"].cpu() for name, p in model.named_parameters()
                    if "momentum_buffer" in optimizer.state[p]}
        out = {key: value for key, value in metadata.items() if key in ("seed",)}
        out.update({
            "epoch": str(first_epoch + args.epochs - 1),
            "optimizer_steps": str(steps),
            "command": "torchrun --nproc_per_node " + str(world) + " " + " ".join(shlex.quote(a) for a in sys.argv),
            "trained_with": f"PyTorch {torch.__version__} DistributedDataParallel, {world} processes, {args.backend}",
            "test_accuracy": ",".join(f"{name}={value!r}" for name, value in accuracies.items()),
            "test_samples": str(len(test_pixels)),
        })
        dp.save(args.out, model, out, momentum)
        print("test accuracy: " + ", ".join(f"{name} {value:.2%}" for name, value in accuracies.items()))
        print(f"written to {args.out}")
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
