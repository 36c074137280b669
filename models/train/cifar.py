"""Reads the CIFAR-10 binary release (gzip-compressed or not) into NumPy arrays. No downloads.

A record is 3073 bytes: the label (0..9), then 3072 pixels, planar R, G, B, each 32x32 row-major.
"""

import gzip
import os

import numpy as np

RECORD_BYTES = 1 + 3 * 32 * 32


def read_batch(path):
    """Returns (images uint8 [N,3,32,32], labels uint8 [N]) of one binary batch file."""
    opener = gzip.open if path.endswith('.gz') else open
    with opener(path, 'rb') as f:
        data = f.read()
    if len(data) % RECORD_BYTES:
        raise ValueError(f'{path}: {len(data)} bytes is not a whole number of 3073-byte records')
    records = np.frombuffer(data, dtype=np.uint8).reshape(-1, RECORD_BYTES)
    labels = records[:, 0].copy()
    if labels.max(initial=0) > 9:
        raise ValueError(f'{path}: label {labels.max()} out of range')
    return records[:, 1:].reshape(-1, 3, 32, 32).copy(), labels


def load_jpeg_train(data_dir):
    """The JPEG-derived copy of the 50,000 training images (cifar-10/jpeg/data_batch_{1..5})."""
    parts = [read_batch(os.path.join(data_dir, 'cifar-10', 'jpeg', f'data_batch_{i}.bin.gz'))
             for i in range(1, 6)]
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])


def load_jpeg_test(data_dir):
    """The JPEG-derived copy of all 10,000 test images."""
    return read_batch(os.path.join(data_dir, 'cifar-10', 'jpeg', 'test.bin.gz'))


def load_exact_test(data_dir):
    """The exact first 1,000 records of the official test batch."""
    return read_batch(os.path.join(data_dir, 'cifar-10', 'test_batch.first1000.bin.gz'))


def load_labels(data_dir):
    with open(os.path.join(data_dir, 'cifar-10', 'batches.meta.txt')) as f:
        return [line.strip() for line in f if line.strip()]
