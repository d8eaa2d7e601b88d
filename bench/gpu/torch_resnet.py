"""PyTorch's own training step of grownet's CIFAR ResNet-18 (issue 15), for the throughput
comparison with examples/resnet_throughput.rs: the same network, batch, optimiser and random
32x32 images, images per second in fp32, with bf16 autocast, and with bf16 autocast plus
channels-last memory and cuDNN's benchmark mode (PyTorch's usual fast path).

The network is src/nn/spec.rs's Architecture::resnet18 written out: a 3x3 stem to 64 channels
with BatchNorm and ReLU (no max pooling); four stages of two basic blocks (64, 128, 256, 512;
stride 2 on the first conv of stages 2-4); a block is conv3x3 -> BN -> ReLU -> conv3x3 ->
(+ shortcut) -> ReLU with NO BatchNorm after the second conv (GroMo's growing blocks), the
shortcut the identity or a strided 1x1 conv with BatchNorm; global average pooling; a linear
head. Convolutions have no bias. SGD, lr 0.01, Nesterov momentum 0.9, weight decay 5e-4,
mean cross-entropy.

    python bench/gpu/torch_resnet.py [--device cuda] [--batch 128] [--steps 30] [--warmup 5]
        [--modes fp32,bf16,bf16-cl]

Prints one RESULT line per mode, in the format of the Rust example.
"""
import argparse
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


class Block(nn.Module):
    def __init__(self, c_in, c_out, stride, fraction):
        super().__init__()
        hidden = max(1, round(c_out * fraction)) if fraction > 0 else 0
        self.conv1 = nn.Conv2d(c_in, hidden, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(hidden)
        self.conv2 = nn.Conv2d(hidden, c_out, 3, 1, 1, bias=False)
        self.shortcut = None
        if stride != 1 or c_in != c_out:
            self.shortcut = nn.Sequential(
                nn.Conv2d(c_in, c_out, 1, stride, 0, bias=False), nn.BatchNorm2d(c_out)
            )

    def forward(self, x):
        h = F.relu(self.bn1(self.conv1(x)))
        skip = x if self.shortcut is None else self.shortcut(x)
        return F.relu(self.conv2(h) + skip)


class ResNet18(nn.Module):
    def __init__(self, classes=10, fraction=1.0):
        super().__init__()
        self.stem = nn.Conv2d(3, 64, 3, 1, 1, bias=False)
        self.bn = nn.BatchNorm2d(64)
        blocks, c_in = [], 64
        for i, c_out in enumerate([64, 128, 256, 512]):
            for b in range(2):
                stride = 2 if i > 0 and b == 0 else 1
                blocks.append(Block(c_in, c_out, stride, fraction))
                c_in = c_out
        self.blocks = nn.Sequential(*blocks)
        self.head = nn.Linear(c_in, classes)

    def forward(self, x):
        x = F.relu(self.bn(self.stem(x)))
        x = self.blocks(x)
        return self.head(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def run(mode, device, batch, steps, warmup):
    torch.manual_seed(0)
    bf16 = mode.startswith("bf16")
    channels_last = mode == "bf16-cl"
    torch.backends.cudnn.benchmark = channels_last
    model = ResNet18().to(device)
    x = torch.randn(batch, 3, 32, 32, device=device)
    y = torch.randint(0, 10, (batch,), device=device)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
        x = x.to(memory_format=torch.channels_last)
    opt = torch.optim.SGD(
        model.parameters(), lr=0.01, momentum=0.9, nesterov=True, weight_decay=5e-4
    )
    model.train()

    def step():
        opt.zero_grad(set_to_none=True)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
            loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()

    for _ in range(warmup):
        step()
    sync(device)
    t = time.perf_counter()
    for _ in range(steps):
        step()
    sync(device)
    s = time.perf_counter() - t
    params = sum(p.numel() for p in model.parameters())
    print(
        f"RESULT impl=pytorch precision={mode} loop=async "
        f"cudnn_benchmark={channels_last} batch={batch} steps={steps} "
        f"ms_per_step={1e3 * s / steps:.2f} images_per_s={steps * batch / s:.0f} "
        f"parameters={params}",
        flush=True,
    )


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--steps", type=int, default=30)
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--modes", default="fp32,bf16,bf16-cl")
    p.add_argument("--threads", type=int, default=0)
    a = p.parse_args()
    if a.threads > 0:
        torch.set_num_threads(a.threads)
    device = torch.device(a.device)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    print(
        f"torch {torch.__version__} on {name}; cuDNN {torch.backends.cudnn.version()}, "
        f"TF32 for convolutions {torch.backends.cudnn.allow_tf32}, "
        f"for matmuls {torch.backends.cuda.matmul.allow_tf32}",
        flush=True,
    )
    for mode in a.modes.split(","):
        run(mode, device, a.batch, a.steps, a.warmup)


if __name__ == "__main__":
    main()
