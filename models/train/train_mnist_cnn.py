#!/usr/bin/python3
r"""Trains mnist-cnn-q8 (or, with --dataset fashion-mnist, fashion-cnn-q8) and exports it as an
integer-only int8 model.

    /usr/bin/python3 models/train/train_mnist_cnn.py \
        --data-dir ../shared/datasets --out models/zoo/mnist-cnn-q8/1
    /usr/bin/python3 models/train/train_mnist_cnn.py --dataset fashion-mnist --threads 1 \
        --data-dir ../shared/datasets --out models/zoo/fashion-cnn-q8/1

Network (the shape of a streaming HLS MNIST design):
    uint8 1x28x28 -> conv 5x5 1->16 pad 2 -> ReLU -> maxpool 2
                  -> conv 5x5 16->32 pad 2 -> ReLU -> maxpool 2 -> dense 1568->10 (int8 logits)

Float training on the full 60,000-image training set (Adam, cosine learning rate; augmentation:
+-2 pixel random shifts for MNIST, random horizontal flips for Fashion-MNIST), then post-training
quantization after Jacob et al. 2018 (see quant.py), checked on all 10,000 test images with the
integer forward pass that the C++ kernels compute bit for bit.
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

MODEL_NAME = 'mnist-cnn-q8'
LABELS = [str(d) for d in range(10)]

# Per dataset: model name, class names, the reference dataset file (relative to --data-dir),
# the default augmentation (max random shift in pixels, horizontal flips) and the description.
DATASETS = {
    'mnist': {
        'model': MODEL_NAME,
        'labels': LABELS,
        'dataset_file': 'mnist/t10k-images-idx3-ubyte.gz',
        'max_shift': 2,
        'hflip': False,
        'description': None,  # export_mnist_cnn.MNIST_DESCRIPTION
    },
    'fashion-mnist': {
        'model': 'fashion-cnn-q8',
        'labels': ['T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt',
                   'Sneaker', 'Bag', 'Ankle boot'],
        'dataset_file': 'fashion-mnist/t10k-images-idx3-ubyte.gz',
        'max_shift': 0,
        'hflip': True,
        'description': ('Fashion-MNIST CNN: conv5x5 1->16 ReLU maxpool2, conv5x5 16->32 ReLU '
                        'maxpool2, dense 1568->10; int8 per-channel, trained by '
                        'models/train/train_mnist_cnn.py --dataset fashion-mnist'),
    },
}


class MnistCnn(nn.Module):
    """conv-ReLU-pool, conv-ReLU-pool, dense; input is pixel / 255 in [0, 1]."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 16, 5, padding=2)
        self.conv2 = nn.Conv2d(16, 32, 5, padding=2)
        self.fc = nn.Linear(32 * 7 * 7, 10)

    def forward(self, x, taps=None):
        """`taps`, when a dict, receives each layer's float output (for calibration)."""
        x = F.relu(self.conv1(x))
        if taps is not None:
            taps['conv1'] = x
        x = F.max_pool2d(x, 2)
        x = F.relu(self.conv2(x))
        if taps is not None:
            taps['conv2'] = x
        x = F.max_pool2d(x, 2)
        x = self.fc(x.flatten(1))  # CHW order, as the int8 dense kernel reads it
        if taps is not None:
            taps['fc'] = x
        return x


def seed_everything(seed):
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True)


def to_float(images):
    """uint8 [N,28,28] -> float [N,1,28,28] in [0,1]: exactly what int8 q = pixel - 128 means."""
    return torch.from_numpy(images.astype(np.float32) / 255.0).unsqueeze(1)


def random_hflip(x, gen):
    """Mirrors each image left-right with probability 1/2."""
    flip = torch.rand(x.shape[0], generator=gen) < 0.5
    return torch.where(flip[:, None, None, None], x.flip(3), x)


def random_shift(x, gen, max_shift=2):
    """Shifts each image by its own random (dy, dx) in [-max_shift, max_shift], zero fill."""
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


def train(net, x_train, y_train, x_test, y_test, epochs, batch_size, lr, seed, max_shift=2,
          hflip=False):
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(net.parameters(), lr=lr)
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
            xb = x_train[idx_b]
            if max_shift > 0:
                xb = random_shift(xb, gen, max_shift)
            if hflip:
                xb = random_hflip(xb, gen)
            loss = F.cross_entropy(net(xb), y_train[idx_b])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            loss_sum += loss.item() * len(idx_b)
        acc = float_accuracy(net, x_test, y_test)
        print(f'epoch {epoch + 1}/{epochs}: loss {loss_sum / len(x_train):.4f} '
              f'float test accuracy {acc * 100:.2f}% ({time.time() - start:.0f} s)', flush=True)
    return time.time() - start


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument('--data-dir', default='../shared/datasets',
                    help='holds mnist/*.gz (and fashion-mnist/*.gz)')
    ap.add_argument('--dataset', choices=sorted(DATASETS), default='mnist',
                    help='mnist -> mnist-cnn-q8; fashion-mnist -> fashion-cnn-q8')
    ap.add_argument('--out', default=None,
                    help='version folder to write (default models/zoo/<model>/1)')
    ap.add_argument('--threads', type=int, default=2,
                    help='torch threads (results are reproducible for a fixed count)')
    ap.add_argument('--max-shift', type=int, default=None,
                    help='random shift augmentation in pixels, 0 = none '
                         '(default: 2 for mnist, 0 for fashion-mnist)')
    ap.add_argument('--hflip', type=int, choices=(0, 1), default=None,
                    help='random horizontal flips (default: 0 for mnist, 1 for fashion-mnist)')
    ap.add_argument('--epochs', type=int, default=12)
    ap.add_argument('--batch-size', type=int, default=64)
    ap.add_argument('--lr', type=float, default=2e-3)
    ap.add_argument('--seed', type=int, default=20240611)
    ap.add_argument('--calibration-images', type=int, default=10000,
                    help='training images used to calibrate activation ranges')
    ap.add_argument('--checkpoint', default='',
                    help='float weights: written after training, or read with --skip-training')
    ap.add_argument('--skip-training', action='store_true', help='load --checkpoint instead')
    ap.add_argument('--train-only', action='store_true', help='stop after training')
    args = ap.parse_args()
    ds = DATASETS[args.dataset]
    max_shift = ds['max_shift'] if args.max_shift is None else args.max_shift
    hflip = ds['hflip'] if args.hflip is None else bool(args.hflip)
    out_dir = args.out or os.path.join('models', 'zoo', ds['model'], '1')

    torch.set_num_threads(args.threads)
    seed_everything(args.seed)
    train_images, train_labels = idx.load_mnist(args.data_dir, 'train', args.dataset)
    test_images, test_labels = idx.load_mnist(args.data_dir, 't10k', args.dataset)
    x_train, y_train = to_float(train_images), torch.from_numpy(train_labels.astype(np.int64))
    x_test, y_test = to_float(test_images), torch.from_numpy(test_labels.astype(np.int64))

    net = MnistCnn()
    if args.skip_training:
        ckpt = torch.load(args.checkpoint)
        net.load_state_dict(ckpt['state_dict'])
        info = ckpt['info']
    else:
        seconds = train(net, x_train, y_train, x_test, y_test, args.epochs, args.batch_size,
                        args.lr, args.seed, max_shift, hflip)
        info = {'epochs': args.epochs, 'batch_size': args.batch_size, 'lr': args.lr,
                'seed': args.seed, 'training_seconds': round(seconds, 1),
                'torch_threads': torch.get_num_threads(), 'torch_version': torch.__version__}
        if args.dataset != 'mnist':  # (mnist-cnn-q8's export_info.json predates these keys)
            info.update({'dataset': args.dataset, 'max_shift': max_shift, 'hflip': hflip})
        if args.checkpoint:
            torch.save({'state_dict': net.state_dict(), 'info': info}, args.checkpoint)
    info['float_test_accuracy'] = float_accuracy(net, x_test, y_test)
    print(f'float model: {info["float_test_accuracy"] * 100:.2f}% on {len(x_test)} test images')
    if args.train_only:
        return

    import export_mnist_cnn  # noqa: E402  (needs protoc; only for the export step)
    extra = {'description': ds['description']} if ds['description'] else {}
    export_mnist_cnn.export(net, train_images[:args.calibration_images], test_images, test_labels,
                            out_dir, ds['model'], ds['labels'], info,
                            dataset_file=ds['dataset_file'], **extra)


if __name__ == '__main__':
    main()
