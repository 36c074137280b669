#!/usr/bin/python3
"""Trains BNN-PYNQ's LFC (binarized MNIST MLP) and exports it as BinaryDense layers.

    OPENBLAS_NUM_THREADS=1 /usr/bin/python3 models/train/train_mnist_lfc.py \
        --data-dir ../shared/datasets --activation-bits 1 --out models/zoo/mnist-lfc-w1a1/1
    OPENBLAS_NUM_THREADS=1 /usr/bin/python3 models/train/train_mnist_lfc.py \
        --data-dir ../shared/datasets --activation-bits 2 --out models/zoo/mnist-lfc-w1a2/1

Network (BNN-PYNQ LFC, 8-bit input):
    uint8 784 -> bdense 1024 -> BN -> act -> bdense 1024 -> BN -> act -> bdense 1024 -> BN -> act
              -> bdense 10 -> BN (the logits)
Every dense layer has +-1 weights (sign of latent float weights clipped to [-1, 1], straight-
through gradient) and no bias. The hidden activations are sign (-1/+1, W1A1) or 2-bit unsigned
round-half-up(clamp(x, 0, 3)) (0..3, W1A2), with straight-through gradients inside their range.
The first layer reads the pixel values 0..255 themselves, so in evaluation every layer's
pre-BatchNorm output is exactly the integer accumulator of the BinaryDense kernel.

Float training on the full 60,000-image training set (defaults: 20 epochs of batch 200, Adam at
3e-3 with a cosine schedule to 0, cross entropy, dropout 0.2 on the input and after each hidden
activation, random +-1 pixel shifts), then the BatchNorm statistics are recomputed without
dropout over the training set. The export (export_mnist_lfc.py) folds
each hidden BatchNorm and activation into integer thresholds that reproduce the float decisions
for every integer accumulator, and the last BatchNorm into int8 requantization of the logits;
checked on all 10,000 test images with the integer forward pass (quant.py, binary.py).
Deterministic: fixed seeds, deterministic algorithms, 1 thread.
"""

import argparse
import math
import os
import random
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import idx  # noqa: E402

LABELS = [str(d) for d in range(10)]
HIDDEN = 1024
LAYERS = 4


def binarize(w):
    """+1 where w >= 0, else -1 (the exporter packs the same signs)."""
    return (w >= 0).to(w.dtype).mul_(2).sub_(1)


class BinarizeWeights(torch.autograd.Function):
    """sign forward; the gradient passes straight to the latent weights (kept in [-1, 1])."""

    @staticmethod
    def forward(ctx, w):
        return binarize(w)

    @staticmethod
    def backward(ctx, g):
        return g


class SignActivation(torch.autograd.Function):
    """-1/+1 forward (z >= 0 -> +1); gradient passes where |z| <= 1 (hardtanh STE)."""

    @staticmethod
    def forward(ctx, z):
        ctx.save_for_backward(z)
        return binarize(z)

    @staticmethod
    def backward(ctx, g):
        (z,) = ctx.saved_tensors
        return g * (z.abs() <= 1).to(g.dtype)


class UnsignedActivation(torch.autograd.Function):
    """floor(clamp(z, 0, levels) + 0.5) forward, i.e. round half up to 0..levels; the gradient
    passes where 0 <= z <= levels."""

    @staticmethod
    def forward(ctx, z, levels):
        ctx.save_for_backward(z)
        ctx.levels = levels
        return torch.floor(torch.clamp(z, 0.0, float(levels)) + 0.5)

    @staticmethod
    def backward(ctx, g):
        (z,) = ctx.saved_tensors
        return g * ((z >= 0) & (z <= ctx.levels)).to(g.dtype), None


class BinaryLinear(nn.Linear):
    """Dense layer with +-1 weights and no bias."""

    def __init__(self, in_features, out_features):
        super().__init__(in_features, out_features, bias=False)

    def forward(self, x):
        return F.linear(x, BinarizeWeights.apply(self.weight))

    def clip_(self):
        with torch.no_grad():
            self.weight.clamp_(-1.0, 1.0)


class Lfc(nn.Module):
    """784 -> 1024 -> 1024 -> 1024 -> 10; input is the pixel value 0..255 (float)."""

    def __init__(self, activation_bits, in_dropout, hidden_dropout):
        super().__init__()
        self.activation_bits = activation_bits
        sizes = [28 * 28] + [HIDDEN] * (LAYERS - 1) + [10]
        self.fc = nn.ModuleList(BinaryLinear(a, b) for a, b in zip(sizes[:-1], sizes[1:]))
        self.bn = nn.ModuleList(nn.BatchNorm1d(b) for b in sizes[1:])
        self.in_dropout = nn.Dropout(in_dropout)
        self.hidden_dropout = nn.Dropout(hidden_dropout)

    def activation(self, z):
        if self.activation_bits == 1:
            return SignActivation.apply(z)
        return UnsignedActivation.apply(z, (1 << self.activation_bits) - 1)

    def forward(self, x, taps=None):
        """`taps`, when a dict, receives each layer's accumulator and output (for the export)."""
        x = self.in_dropout(x.flatten(1))  # CHW order, as the BinaryDense kernel reads it
        for i in range(LAYERS):
            acc = self.fc[i](x)
            z = self.bn[i](acc)
            if taps is not None:
                taps[f'fc{i + 1}.acc'] = acc
            if i == LAYERS - 1:
                x = z
            else:
                x = self.hidden_dropout(self.activation(z))
            if taps is not None:
                taps[f'fc{i + 1}'] = x
        return x

    def clip_(self):
        for fc in self.fc:
            fc.clip_()


def seed_everything(seed):
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True)


def to_float(images):
    """uint8 [N,28,28] -> float [N,1,28,28] holding the pixel values 0..255 themselves: the
    BinaryDense input v = q - zero point = pixel."""
    return torch.from_numpy(images.astype(np.float32)).unsqueeze(1)


def random_shift(x, gen, max_shift):
    """Shifts each image by its own random (dy, dx) in [-max_shift, max_shift], zero fill."""
    if max_shift == 0:
        return x
    n, _, h, w = x.shape
    padded = F.pad(x, (max_shift,) * 4)
    dy = torch.randint(0, 2 * max_shift + 1, (n,), generator=gen)
    dx = torch.randint(0, 2 * max_shift + 1, (n,), generator=gen)
    rows = (dy[:, None] + torch.arange(h)[None, :])[:, :, None]  # [n,h,1]
    cols = (dx[:, None] + torch.arange(w)[None, :])[:, None, :]  # [n,1,w]
    return padded[torch.arange(n)[:, None, None], 0, rows, cols].unsqueeze(1)


@torch.no_grad()
def float_accuracy(net, x, y, batch=1000):
    net.eval()
    correct = 0
    for i in range(0, len(x), batch):
        correct += (net(x[i:i + batch]).argmax(1) == y[i:i + batch]).sum().item()
    return correct / len(x)


@torch.no_grad()
def recompute_batchnorm(net, x, batch=1000):
    """Replaces the BatchNorm running statistics by their exact averages over `x` with dropout
    off (training ran with dropout, which inflates the variances the running averages saw)."""
    net.eval()
    for bn in net.bn:
        bn.reset_running_stats()
        bn.momentum = None  # cumulative average
        bn.train()
    for i in range(0, len(x), batch):
        net(x[i:i + batch])
    for bn in net.bn:
        bn.momentum = 0.1
    net.eval()


def train(net, x_train, y_train, x_test, y_test, args, max_steps=0):
    gen = torch.Generator().manual_seed(args.seed)
    opt = torch.optim.Adam(net.parameters(), lr=args.lr)
    steps_per_epoch = math.ceil(len(x_train) / args.batch_size)
    total = args.epochs * steps_per_epoch
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: 0.5 * (1.0 + math.cos(math.pi * min(s, total) / total)))
    start, cpu_start = time.time(), time.process_time()
    step = 0
    for epoch in range(args.epochs):
        net.train()
        order = torch.randperm(len(x_train), generator=gen)
        loss_sum = 0.0
        for i in range(0, len(x_train), args.batch_size):
            idx_b = order[i:i + args.batch_size]
            xb = random_shift(x_train[idx_b], gen, args.shift)
            loss = F.cross_entropy(net(xb), y_train[idx_b])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            net.clip_()
            loss_sum += loss.item() * len(idx_b)
            step += 1
            if max_steps and step >= max_steps:
                return time.time() - start, time.process_time() - cpu_start
        msg = f'epoch {epoch + 1}/{args.epochs}: loss {loss_sum / len(x_train):.4f}'
        if args.eval_every and ((epoch + 1) % args.eval_every == 0 or epoch + 1 == args.epochs):
            msg += f' float test accuracy {float_accuracy(net, x_test, y_test) * 100:.2f}%'
        print(f'{msg} ({time.time() - start:.0f} s, {time.process_time() - cpu_start:.0f} s CPU)',
              flush=True)
    return time.time() - start, time.process_time() - cpu_start


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument('--data-dir', default='../shared/datasets', help='holds mnist/*.gz')
    ap.add_argument('--activation-bits', type=int, choices=(1, 2), required=True,
                    help='1: W1A1 (sign, -1/+1); 2: W1A2 (unsigned 0..3)')
    ap.add_argument('--out', required=True, help='version folder to write')
    ap.add_argument('--epochs', type=int, default=20)
    ap.add_argument('--batch-size', type=int, default=200)
    ap.add_argument('--lr', type=float, default=3e-3)
    ap.add_argument('--in-dropout', type=float, default=0.2)
    ap.add_argument('--hidden-dropout', type=float, default=0.2)
    ap.add_argument('--shift', type=int, default=1,
                    help='random shift of each training image by up to +-SHIFT pixels')
    ap.add_argument('--seed', type=int, default=20240611)
    ap.add_argument('--eval-every', type=int, default=1,
                    help='print the float test accuracy every N epochs (0: never; no effect on '
                    'the training)')
    ap.add_argument('--calibration-images', type=int, default=10000,
                    help='training images used to calibrate the logits range')
    ap.add_argument('--checkpoint', default='',
                    help='float weights: written after training, or read with --skip-training')
    ap.add_argument('--skip-training', action='store_true', help='load --checkpoint instead')
    ap.add_argument('--train-only', action='store_true', help='stop after training')
    ap.add_argument('--time-steps', type=int, default=0,
                    help='time this many training steps, print the epoch estimate, and stop')
    args = ap.parse_args()

    torch.set_num_threads(1)
    seed_everything(args.seed)
    train_images, train_labels = idx.load_mnist(args.data_dir, 'train')
    test_images, test_labels = idx.load_mnist(args.data_dir, 't10k')
    x_train, y_train = to_float(train_images), torch.from_numpy(train_labels.astype(np.int64))
    x_test, y_test = to_float(test_images), torch.from_numpy(test_labels.astype(np.int64))

    name = f'mnist-lfc-w1a{args.activation_bits}'
    net = Lfc(args.activation_bits, args.in_dropout, args.hidden_dropout)
    if args.time_steps:
        seconds, _ = train(net, x_train, y_train, x_test, y_test, args,
                           max_steps=args.time_steps)
        per_epoch = seconds / args.time_steps * math.ceil(len(x_train) / args.batch_size)
        print(f'{args.time_steps} steps in {seconds:.1f} s: {per_epoch:.0f} s per epoch')
        return
    if args.skip_training:
        ckpt = torch.load(args.checkpoint)
        net.load_state_dict(ckpt['state_dict'])
        info = ckpt['info']
    else:
        seconds, cpu_seconds = train(net, x_train, y_train, x_test, y_test, args)
        before = float_accuracy(net, x_test, y_test)
        recompute_batchnorm(net, x_train)
        info = {'activation_bits': args.activation_bits, 'weight_bits': 1,
                'hidden_features': HIDDEN, 'epochs': args.epochs,
                'batch_size': args.batch_size, 'lr': args.lr, 'lr_schedule': 'cosine to 0',
                'optimizer': 'Adam', 'loss': 'cross entropy',
                'in_dropout': args.in_dropout, 'hidden_dropout': args.hidden_dropout,
                'random_shift': args.shift, 'seed': args.seed,
                'batchnorm_statistics': 'recomputed over the training set without dropout',
                'float_test_accuracy_running_statistics': round(before, 4),
                'training_seconds': round(seconds, 1),
                'training_cpu_seconds': round(cpu_seconds, 1),
                'torch_threads': torch.get_num_threads(), 'torch_version': torch.__version__}
        if args.checkpoint:
            torch.save({'state_dict': net.state_dict(), 'info': info}, args.checkpoint)
    info['float_test_accuracy'] = float_accuracy(net, x_test, y_test)
    print(f'float model: {info["float_test_accuracy"] * 100:.2f}% on {len(x_test)} test images '
          f'(with the running BatchNorm statistics of training: '
          f'{info["float_test_accuracy_running_statistics"] * 100:.2f}%)', flush=True)
    if args.train_only:
        return

    import export_mnist_lfc  # noqa: E402  (needs protoc; only for the export step)
    export_mnist_lfc.export(net, train_images[:args.calibration_images], test_images,
                            test_labels, args.out, name, LABELS, info)


if __name__ == '__main__':
    main()
