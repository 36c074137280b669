"""Reads MNIST-family IDX files (gzip-compressed or not) into NumPy arrays. No downloads."""

import gzip
import os

import numpy as np

# IDX magic numbers: 0x00000803 = unsigned-byte 3-D tensor (images), 0x00000801 = 1-D (labels).
_IMAGES_MAGIC = 2051
_LABELS_MAGIC = 2049


def _open(path):
    if os.path.exists(path):
        return gzip.open(path, 'rb') if path.endswith('.gz') else open(path, 'rb')
    if os.path.exists(path + '.gz'):
        return gzip.open(path + '.gz', 'rb')
    raise FileNotFoundError(path)


def read_idx(path):
    """Returns the IDX file at `path` (or `path`.gz) as a uint8 array of its declared shape."""
    with _open(path) as f:
        data = f.read()
    magic = int.from_bytes(data[0:4], 'big')
    if magic == _IMAGES_MAGIC:
        count, rows, cols = (int.from_bytes(data[4 + 4 * i:8 + 4 * i], 'big') for i in range(3))
        shape, header = (count, rows, cols), 16
    elif magic == _LABELS_MAGIC:
        shape, header = (int.from_bytes(data[4:8], 'big'),), 8
    else:
        raise ValueError(f'{path}: bad IDX magic {magic:#010x}')
    expected = header + int(np.prod(shape))
    if len(data) != expected:
        raise ValueError(f'{path}: {len(data)} bytes, header says {expected}')
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(shape)


def load_mnist(data_dir, split, dataset='mnist'):
    """Returns (images [N,28,28] uint8, labels [N] uint8) of split 'train' or 't10k' from
    `data_dir`/`dataset`/ ('mnist', or 'fashion-mnist': the same IDX file names)."""
    base = os.path.join(data_dir, dataset)
    images = read_idx(os.path.join(base, f'{split}-images-idx3-ubyte.gz'))
    labels = read_idx(os.path.join(base, f'{split}-labels-idx1-ubyte.gz'))
    if images.shape[0] != labels.shape[0]:
        raise ValueError(f'{split}: {images.shape[0]} images but {labels.shape[0]} labels')
    return images, labels
