#!/usr/bin/python3
r"""Trains mnist-dense12-q8, pyrtlnet's tiny MNIST network, and exports it as an integer-only int8
model.

    /usr/bin/python3 models/train/train_mnist_dense12.py \
        --data-dir ../shared/datasets --out models/zoo/mnist-dense12-q8/1

Network (pyrtlnet's: MNIST at 12x12, one hidden layer of 18):
    uint8 1x28x28 -> resample: crop rows and columns 2..25 (24x24), average 2x2 blocks -> 1x12x12
                  -> dense 144->18 -> ReLU -> dense 18->10 (int8 logits)
The resampling is the model's own (InputSpec.resample): a request is a full 28x28 MNIST image and
every backend computes the same integer 12x12 pixels, (sum of the block + 2) / 4 rounded half up.
The float network is trained on exactly those integer pixels (quant.input_tensor computes them),
divided by 255.

Float training on the full 60,000-image training set (Adam, cosine learning rate, no
augmentation), then post-training quantization after Jacob et al. 2018 (see quant.py): int8
per-output-channel symmetric weights for both dense layers, int32 biases, per-tensor activations
calibrated on training images, checked on all 10,000 test images with the integer forward pass
that the C++ kernels compute bit for bit (quant.run_integer_model, which also writes the
reference logits of test images 0..99 into reference.pb).
Deterministic: fixed seeds, deterministic algorithms, a fixed thread count (--threads; a re-run
with the same flags writes the same model.pb and reference.pb byte for byte).
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
import model_pb  # noqa: E402
import quant  # noqa: E402

MODEL_NAME = 'mnist-dense12-q8'
LABELS = [str(d) for d in range(10)]
DATASET_FILE = 'mnist/t10k-images-idx3-ubyte.gz'
FORMAT_VERSION = 1
# InputSpec.resample: rows and columns 2..25 of the 28x28 image, then 2x2 block averages.
CROP_TOP, CROP_LEFT, CROP_SIZE, DOWNSCALE = 2, 2, 24, 2
SIDE = CROP_SIZE // DOWNSCALE  # 12
HIDDEN = 18
DESCRIPTION = ('MNIST dense12 (pyrtlnet\'s network): 28x28 cropped to rows/cols 2..25 and 2x2 '
               'block-averaged to 12x12, dense 144->18 ReLU, dense 18->10; int8 per-channel, '
               'trained by models/train/train_mnist_dense12.py')


class Dense12(nn.Module):
    """dense 144->18, ReLU, dense 18->10; input is the 12x12 pixel / 255 in [0, 1]."""

    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(SIDE * SIDE, HIDDEN)
        self.fc2 = nn.Linear(HIDDEN, 10)

    def forward(self, x, taps=None):
        """`taps`, when a dict, receives each layer's float output (for calibration)."""
        x = F.relu(self.fc1(x.flatten(1)))  # 1x12x12 read flattened, CHW order
        if taps is not None:
            taps['fc1'] = x
        x = self.fc2(x)
        if taps is not None:
            taps['fc2'] = x
        return x


def seed_everything(seed):
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True)


def new_model_file(pb):
    """The ModelFile with its input spec (28x28 request, resampled to 12x12) and no layers."""
    m = pb.ModelFile(format_version=FORMAT_VERSION, name=MODEL_NAME, description=DESCRIPTION)
    m.input.dims.extend([1, 28, 28])
    m.input.encoding = pb.InputSpec.UINT8_MINUS_128
    m.input.quant.scale, m.input.quant.zero_point = float(np.float32(1.0 / 255.0)), -128
    r = m.input.resample
    r.crop_top, r.crop_left = CROP_TOP, CROP_LEFT
    r.crop_height = r.crop_width = CROP_SIZE
    r.downscale = DOWNSCALE
    return m


def resampled_pixels(pb, images):
    """uint8 [N,28,28] -> uint8 [N,1,12,12]: the pixels the model's first layer sees (before the
    -128 encoding), computed by quant.input_tensor itself."""
    q = quant.input_tensor(new_model_file(pb), pb, images[:, None, :, :])
    return (q.astype(np.int16) + 128).astype(np.uint8)


def to_float(pixels):
    """uint8 [N,1,12,12] -> float in [0,1]: exactly what int8 q = pixel - 128 means."""
    return torch.from_numpy(pixels.astype(np.float32) / 255.0)


@torch.no_grad()
def float_accuracy(net, x, y, batch=1000):
    net.eval()
    correct = 0
    for i in range(0, len(x), batch):
        correct += (net(x[i:i + batch]).argmax(1) == y[i:i + batch]).sum().item()
    return correct / len(x)


def train(net, x_train, y_train, x_test, y_test, epochs, batch_size, lr, weight_decay, seed):
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(net.parameters(), lr=lr, weight_decay=weight_decay)
    steps_per_epoch = math.ceil(len(x_train) / batch_size)
    total = epochs * steps_per_epoch
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: 0.5 * (1.0 + math.cos(math.pi * min(s, total) / total)))
    start = time.time()
    for epoch in range(epochs):
        net.train()
        order = torch.randperm(len(x_train), generator=gen)
        loss_sum = 0.0
        for i in range(0, len(x_train), batch_size):
            idx_b = order[i:i + batch_size]
            loss = F.cross_entropy(net(x_train[idx_b]), y_train[idx_b])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            loss_sum += loss.item() * len(idx_b)
        acc = float_accuracy(net, x_test, y_test)
        print(f'epoch {epoch + 1}/{epochs}: loss {loss_sum / len(x_train):.4f} '
              f'float test accuracy {acc * 100:.2f}% ({time.time() - start:.0f} s)', flush=True)
    return time.time() - start


@torch.no_grad()
def calibrate(net, x, batch=1000):
    """Returns {tap: (min, max)} of each layer's float output over float inputs `x`."""
    net.eval()
    ranges = {}
    for i in range(0, len(x), batch):
        taps = {}
        net(x[i:i + batch], taps)
        for k, v in taps.items():
            lo, hi = ranges.get(k, (np.inf, -np.inf))
            ranges[k] = (min(lo, v.min().item()), max(hi, v.max().item()))
    return ranges


def build_model_file(pb, net, ranges):
    import export_mnist_cnn  # noqa: E402  (the shared weight/bias/requantization filling)

    m = new_model_file(pb)
    in_scale = np.float32(m.input.quant.scale)
    for name, mod, activation in (('fc1', net.fc1, pb.ACTIVATION_RELU),
                                  ('fc2', net.fc2, pb.ACTIVATION_NONE)):
        if activation == pb.ACTIVATION_RELU:
            scale, zp = quant.activation_quant(0.0, ranges[name][1])  # after ReLU: [0, max]
        else:
            scale, zp = quant.activation_quant(*ranges[name])
        layer = m.layers.add(name=name)
        layer.output.scale, layer.output.zero_point = float(scale), zp
        layer.dense.in_features, layer.dense.out_features = mod.in_features, mod.out_features
        export_mnist_cnn._fill_weighted(layer.dense, mod.weight, mod.bias, in_scale, scale,
                                        activation)
        in_scale = scale
    m.labels.extend(LABELS)
    return m


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument('--data-dir', default='../shared/datasets', help='holds mnist/*.gz')
    ap.add_argument('--out', default='models/zoo/mnist-dense12-q8/1',
                    help='version folder to write')
    ap.add_argument('--threads', type=int, default=1,
                    help='torch threads (results are reproducible for a fixed count)')
    ap.add_argument('--epochs', type=int, default=30)
    ap.add_argument('--batch-size', type=int, default=64)
    ap.add_argument('--lr', type=float, default=3e-3)
    ap.add_argument('--weight-decay', type=float, default=0.0)
    ap.add_argument('--seed', type=int, default=20240611)
    ap.add_argument('--calibration-images', type=int, default=10000,
                    help='training images used to calibrate activation ranges')
    ap.add_argument('--train-only', action='store_true', help='stop after training')
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    seed_everything(args.seed)
    pb = model_pb.load()
    train_images, train_labels = idx.load_mnist(args.data_dir, 'train')
    test_images, test_labels = idx.load_mnist(args.data_dir, 't10k')
    x_train = to_float(resampled_pixels(pb, train_images))
    x_test = to_float(resampled_pixels(pb, test_images))
    y_train = torch.from_numpy(train_labels.astype(np.int64))
    y_test = torch.from_numpy(test_labels.astype(np.int64))

    net = Dense12()
    seconds = train(net, x_train, y_train, x_test, y_test, args.epochs, args.batch_size, args.lr,
                    args.weight_decay, args.seed)
    info = {'epochs': args.epochs, 'batch_size': args.batch_size, 'lr': args.lr,
            'weight_decay': args.weight_decay, 'seed': args.seed,
            'training_seconds': round(seconds, 1), 'torch_threads': torch.get_num_threads(),
            'torch_version': torch.__version__,
            'resample': {'crop_top': CROP_TOP, 'crop_left': CROP_LEFT, 'crop_height': CROP_SIZE,
                         'crop_width': CROP_SIZE, 'downscale': DOWNSCALE}}
    info['float_test_accuracy'] = float_accuracy(net, x_test, y_test)
    print(f'float model: {info["float_test_accuracy"] * 100:.2f}% on {len(x_test)} test images')
    if args.train_only:
        return

    import export_mnist_cnn  # noqa: E402
    ranges = calibrate(net, x_train[:args.calibration_images])
    model = build_model_file(pb, net, ranges)
    export_mnist_cnn.write_version(model, test_images[:, None, :, :], test_labels, args.out, info,
                                   ranges, min(args.calibration_images, len(x_train)),
                                   DATASET_FILE)


if __name__ == '__main__':
    main()
