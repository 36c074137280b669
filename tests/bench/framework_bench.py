"""Float-framework baselines for the model zoo: PyTorch and OpenCV DNN on the same networks.

For every model of the zoo (<zoo>/<name>/<version>/model.pb, the highest version), this script
rebuilds the network the server runs as a float32 PyTorch module and measures, on this machine,
in one run:

  pytorch  the module in eval mode under torch.inference_mode(), batch 1 and batch 64;
  opencv   the same module exported to ONNX (torch.onnx.export, one file per batch size, fixed
           batch) and run by OpenCV's DNN module (cv2.dnn.readNetFromONNX, DNN_BACKEND_OPENCV,
           DNN_TARGET_CPU), batch 1 and batch 64.

Each (framework, batch) is timed with every thread count of --threads (torch.set_num_threads,
cv2.setNumThreads); the fastest is reported as that framework's figure, with its thread count.
A measurement is a warm-up (a few calls and 10% of --seconds), then as many calls as fit in
--seconds; images/s = calls * batch / elapsed wall time. The input is a fixed random batch of
pixels (the time does not depend on the values); OpenCV's figure includes setInput. Beside it,
cpu/wall is this process's CPU time per wall second over the timed calls: about the thread count
when the cores are free, far below it when other processes compete for them (figures measured
so are not the frameworks' speed).

The float network is the served one, layer for layer, with the model's own weights dequantized
(weight = int8 * weight_scales[c], bias = int32 * input_scale * weight_scales[c]); each float
tensor holds the real values of the corresponding int8 tensor, real = scale * (q - zero_point):
  input                 real = input.quant.scale * (pixel - 128 - input.quant.zero_point),
                        after InputSpec.resample done in the module itself (crop = slicing,
                        block average = avg_pool2d), so the resampling is part of the measured work
  conv2d                nn.Conv2d (symmetric padding) [+ ReLU]
  dense                 flatten (CHW order) + nn.Linear [+ ReLU]
  max_pool2d            nn.MaxPool2d
  add                   a + b [+ ReLU]
  global_average_pool   nn.AdaptiveAvgPool2d(1) (ONNX GlobalAveragePool)
  binary_dense          the float BNN layer a PyTorch user runs: flatten + nn.Linear with +-1
                        float weights (no bias), then
                          THRESHOLDS, BIPOLAR outputs:  sign(acc + shift[c])
                          THRESHOLDS, UNSIGNED outputs: sum over the k thresholds of
                                                        (sign(acc + shift_k[c]) + 1) / 2
                          REQUANTIZED (logits):         per-channel affine a[c] * acc + b[c]
                        with shift = 0.5 - threshold: the accumulator is an integer, so this is
                        the integer layer's own decision (exact up to float rounding; ONNX Sign,
                        which OpenCV 4.6 runs, where clamp would export as a Clip it cannot parse).

A cheap correctness check runs first: the float module's argmax against the int8 reference logits
of <version>/reference.pb (the first `count` test images of its dataset file, read from --data-dir,
default $INFER_DATA_DIR or <repo>/../shared/datasets); it agrees on an image when it is a top class
of the int8 logits (which can tie). Int8 models should agree on >= 95% of the images (a WARNING is
printed below that); for binarized models the figure is only reported. The OpenCV network is
checked against the PyTorch module on the first 64 of those images (argmax agreement and the
largest logit difference).

A model or framework that cannot be built, exported or loaded (e.g. an ONNX op OpenCV 4.6 lacks;
opsets 11, 10 and 9 are tried in turn) is reported as unavailable with the reason; the run goes on.

Output: a table per model (framework, batch, best thread count, its images/s and cpu/wall, and
images/s at each thread count), and with --json a file
  {"<model>": {"pytorch": {"1": {"images_per_second": .., "threads": ..,
                                 "cpu_per_wall_second": .., "by_threads": {"1": .., "2": ..}},
                           "64": {..}},
               "opencv": {"1": {..}, "64": {..}}        (or {"unavailable": "<reason>"}),
               "check": {..}, "opencv_check": {..}, "opencv_onnx_opset": .., "version": ..},
   "versions": {"torch": .., "cv2": .., ...}}
for a wrapper that puts these beside the C++ backend's figures.

Run with Debian's interpreter (python3-torch, python3-opencv, numpy; protoc on PATH):
  /usr/bin/python3 tests/bench/framework_bench.py --zoo models/zoo --seconds 3 --json out.json
"""

import argparse
import json
import os
import platform
import sys
import tempfile
import time
import warnings

import numpy as np

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(REPO_ROOT, 'models', 'train'))

import binary  # noqa: E402  (BinaryDense weight unpacking and threshold checks)
import cifar  # noqa: E402
import idx  # noqa: E402
import model_pb  # noqa: E402

import cv2  # noqa: E402
import torch  # noqa: E402
from torch import nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402

BATCHES = (1, 64)
ONNX_OPSETS = (11, 10, 9)  # OpenCV 4.6 cannot parse some opset >= 11 forms (e.g. Clip)
INT8_MIN_AGREEMENT = 0.95


# ---------------------------------------------------------------------------------------------
# The float network.


def _relu_or_identity(activation, pb):
    """The fused activation of a conv/dense/add layer as a module."""
    if activation == pb.ACTIVATION_RELU:
        return nn.ReLU()
    if activation == pb.ACTIVATION_NONE:
        return nn.Identity()
    raise ValueError(f'activation {activation} unknown')


def _has_bias(bias):
    """Whether a layer needs its bias: an all-zero bias is left out, as a PyTorch user would (and
    torch.onnx.export would turn equal bias tensors into Identity nodes, which OpenCV 4.6's ONNX
    importer cannot parse)."""
    return bool(np.any(bias != 0))


def _float_tensor(values):
    return torch.from_numpy(np.ascontiguousarray(values, dtype=np.float32))


class Resample(nn.Module):
    """InputSpec.resample on real values: crop by slicing, then block-average by avg_pool2d."""

    def __init__(self, r):
        super().__init__()
        self.crop = None
        if r.crop_height or r.crop_width:
            self.crop = (r.crop_top, r.crop_top + r.crop_height,
                         r.crop_left, r.crop_left + r.crop_width)
        self.downscale = r.downscale if r.downscale > 1 else 1

    def forward(self, x):
        if self.crop is not None:
            top, bottom, left, right = self.crop
            x = x[:, :, top:bottom, left:right]
        if self.downscale > 1:
            x = F.avg_pool2d(x, self.downscale)
        return x


class Dense(nn.Module):
    """Flatten (CHW order) + Linear + activation; writes [N, out_features]."""

    def __init__(self, linear, activation):
        super().__init__()
        self.linear = linear
        self.activation = activation

    def forward(self, x):
        return self.activation(self.linear(torch.flatten(x, 1)))


class Add(nn.Module):
    def __init__(self, activation):
        super().__init__()
        self.activation = activation

    def forward(self, a, b):
        return self.activation(a + b)


class BinaryDense(nn.Module):
    """A BinaryDense layer in float: Linear with +-1 weights, then thresholds or an affine.

    `linear` computes the integer accumulator acc (its weights are +-1 / input_scale, so a real
    input tensor gives acc = sum w * v with v = q - zero point). Then, per channel c:
      bipolar thresholds:  sign(acc + shifts[0][c])                     (-1 or +1)
      unsigned thresholds: sum_k (sign(acc + shifts[k][c]) + 1) / 2     (0 .. k)
      requantized:         scale[c] * acc + offset[c]                   (real logits)
    with shifts[k][c] = 0.5 - t[c][k], so acc >= t exactly when acc + shift > 0.
    """

    def __init__(self, linear, shifts=None, bipolar=False, scale=None, offset=None):
        super().__init__()
        self.linear = linear
        self.bipolar = bipolar
        self.num_shifts = 0 if shifts is None else len(shifts)
        # One buffer per threshold index, so the ONNX export sees plain [C] constants.
        for k in range(self.num_shifts):
            self.register_buffer(f'shift{k}', _float_tensor(shifts[k]))
        self.affine = scale is not None
        if self.affine:
            self.register_buffer('scale', _float_tensor(scale))
            self.register_buffer('offset', _float_tensor(offset))

    def forward(self, x):
        acc = self.linear(torch.flatten(x, 1))
        if self.affine:
            return acc * self.scale + self.offset
        if self.bipolar:
            return torch.sign(acc + self.shift0)
        total = torch.sign(acc + self.shift0)
        for k in range(1, self.num_shifts):
            total = total + torch.sign(acc + getattr(self, f'shift{k}'))
        return total * 0.5 + 0.5 * self.num_shifts


class ServedNetwork(nn.Module):
    """The layers of a ModelFile as a float32 graph: layer i reads the tensors named by its
    `inputs` (-1 = the model input), or the previous layer's output. Returns [N, classes]."""

    def __init__(self, model, pb):
        super().__init__()
        if model.input.encoding != pb.InputSpec.UINT8_MINUS_128:
            raise ValueError(f'input encoding {model.input.encoding} not supported')
        self.dims = [int(d) for d in model.input.dims]
        if len(self.dims) != 3:
            raise ValueError(f'input dims {self.dims}: expected {{C, H, W}}')
        self.input_scale = float(model.input.quant.scale)
        self.input_zero_point = int(model.input.quant.zero_point)
        self.resample = Resample(model.input.resample) if model.input.HasField('resample') \
            else nn.Identity()

        # The scale of each float tensor (real = scale * (q - zero point)): a binary_dense
        # layer reads its input's integer values as real / scale. -1 is the model input.
        scales = {-1: self.input_scale}
        self.layers = nn.ModuleList()
        self.sources = []
        for i, layer in enumerate(model.layers):
            kind = layer.WhichOneof('kind')
            srcs = list(layer.inputs) if layer.inputs else [i - 1]
            want = 2 if kind == 'add' else 1
            if len(srcs) != want or any(not -1 <= s < i for s in srcs):
                raise ValueError(f'layer {i} ({layer.name}): inputs {srcs} invalid for {kind}')
            in_scale = scales[srcs[0]]
            try:
                module, out_scale = self._build(layer, kind, in_scale, pb)
            except ValueError as e:
                raise ValueError(f'layer {i} ({layer.name}, {kind}): {e}') from None
            scales[i] = out_scale
            self.layers.append(module)
            self.sources.append(srcs)
        if not self.layers:
            raise ValueError('model has no layers')
        # After layer i, the tensors no later layer reads can be dropped.
        last_use = {}
        for i, srcs in enumerate(self.sources):
            for s in srcs:
                last_use[s] = i
        self.drop_after = [[s for s, j in last_use.items() if j == i]
                           for i in range(len(self.sources))]

    @staticmethod
    def _build(layer, kind, in_scale, pb):
        """(module, scale of its output tensor) of one layer."""
        if kind == 'conv2d':
            c = layer.conv2d
            if c.pad_top != c.pad_bottom or c.pad_left != c.pad_right:
                raise ValueError(f'asymmetric padding {c.pad_top},{c.pad_bottom},'
                                 f'{c.pad_left},{c.pad_right} not supported')
            ws = np.asarray(c.weight_scales, dtype=np.float64)
            w = np.frombuffer(c.weights, dtype=np.int8).astype(np.float64).reshape(
                c.out_channels, c.in_channels, c.kernel_h, c.kernel_w)
            bias = np.asarray(c.bias, np.float64) * in_scale * ws
            conv = nn.Conv2d(c.in_channels, c.out_channels, (c.kernel_h, c.kernel_w),
                             stride=(c.stride_h, c.stride_w), padding=(c.pad_top, c.pad_left),
                             bias=_has_bias(bias))
            conv.weight.data = _float_tensor(w * ws[:, None, None, None])
            if _has_bias(bias):
                conv.bias.data = _float_tensor(bias)
            return nn.Sequential(conv, _relu_or_identity(c.activation, pb)), layer.output.scale
        if kind == 'dense':
            d = layer.dense
            ws = np.asarray(d.weight_scales, dtype=np.float64)
            w = np.frombuffer(d.weights, dtype=np.int8).astype(np.float64).reshape(
                d.out_features, d.in_features)
            bias = np.asarray(d.bias, np.float64) * in_scale * ws
            linear = nn.Linear(d.in_features, d.out_features, bias=_has_bias(bias))
            linear.weight.data = _float_tensor(w * ws[:, None])
            if _has_bias(bias):
                linear.bias.data = _float_tensor(bias)
            return Dense(linear, _relu_or_identity(d.activation, pb)), layer.output.scale
        if kind == 'max_pool2d':
            p = layer.max_pool2d
            # Max pooling keeps its input's quantization (and commutes with it: scale > 0).
            return nn.MaxPool2d((p.kernel_h, p.kernel_w), (p.stride_h, p.stride_w)), in_scale
        if kind == 'add':
            return Add(_relu_or_identity(layer.add.activation, pb)), layer.output.scale
        if kind == 'global_average_pool':
            return nn.AdaptiveAvgPool2d(1), layer.output.scale
        if kind == 'binary_dense':
            return ServedNetwork._binary_dense(layer, in_scale, pb)
        raise ValueError('layer kind unknown to this script')

    @staticmethod
    def _binary_dense(layer, in_scale, pb):
        b = layer.binary_dense
        w = binary.unpack_weights(b.weights, b.out_features, b.in_features).astype(np.float64)
        linear = nn.Linear(b.in_features, b.out_features, bias=False)
        # acc = sum w * v with v = real / in_scale: fold 1 / in_scale into the weights (1 for
        # the +-1 / 0..3 outputs of a THRESHOLDS layer, 255 for pixels / 255).
        linear.weight.data = _float_tensor(w / in_scale)
        if b.output == pb.BinaryDense.THRESHOLDS:
            t = binary.thresholds_of(b, pb).astype(np.float64)  # [out_features, k]
            shifts = [0.5 - t[:, k] for k in range(t.shape[1])]
            bipolar = b.output_values == pb.BinaryDense.BIPOLAR
            return BinaryDense(linear, shifts=shifts, bipolar=bipolar), 1.0
        if b.output == pb.BinaryDense.REQUANTIZED:
            m = np.asarray(b.requant.multiplier, np.float64)
            s = np.asarray(b.requant.shift, np.float64)
            if not len(m) == len(s) == len(b.bias) == b.out_features:
                raise ValueError('REQUANTIZED needs one bias, multiplier and shift per channel')
            # real = out_scale * (q - zp) = out_scale * M[c] * (acc + bias[c]).
            a = layer.output.scale * m * np.exp2(s - 31)
            return (BinaryDense(linear, scale=a, offset=a * np.asarray(b.bias, np.float64)),
                    layer.output.scale)
        raise ValueError(f'output {b.output} unspecified or unknown')

    def encode(self, pixels):
        """uint8 pixels [N, C, H, W] -> the float input tensor (real values, before resample)."""
        x = np.asarray(pixels, dtype=np.float32) - 128.0 - self.input_zero_point
        return torch.from_numpy(x * np.float32(self.input_scale))

    def forward(self, x):
        tensors = {-1: self.resample(x)}
        for i, layer in enumerate(self.layers):
            out = layer(*[tensors[s] for s in self.sources[i]])
            for s in self.drop_after[i]:
                del tensors[s]
            tensors[i] = out
        return torch.flatten(tensors[len(self.layers) - 1], 1)


# ---------------------------------------------------------------------------------------------
# Timing.


def images_per_second(run, batch, seconds):
    """Warm-up (3 calls and 10% of `seconds`), then calls of `run` for `seconds`. Returns
    (images/s, CPU seconds of this process per wall second): the second is about the thread
    count on an idle machine, and far below it when other processes take the cores."""
    end = time.perf_counter() + 0.1 * seconds
    for i in range(1000000):
        run()
        if i >= 2 and time.perf_counter() >= end:
            break
    calls = 0
    cpu_start = time.process_time()
    start = time.perf_counter()
    while True:
        run()
        calls += 1
        elapsed = time.perf_counter() - start
        if elapsed >= seconds:
            cpu = time.process_time() - cpu_start
            return calls * batch / elapsed, cpu / elapsed


def best_of_threads(set_threads, run, batch, seconds, thread_counts):
    """Times `run` at each thread count; returns the fastest as the result dict."""
    by_threads, cpu = {}, {}
    for t in thread_counts:
        set_threads(t)
        by_threads[t], cpu[t] = images_per_second(run, batch, seconds)
    best = max(by_threads, key=by_threads.get)
    return {'images_per_second': round(by_threads[best], 1), 'threads': best,
            'cpu_per_wall_second': round(cpu[best], 2),
            'by_threads': {str(t): round(v, 1) for t, v in by_threads.items()}}


def bench_pytorch(net, inputs, seconds, thread_counts):
    results = {}
    with torch.inference_mode():
        for batch in BATCHES:
            x = inputs[batch]
            results[str(batch)] = best_of_threads(torch.set_num_threads, lambda: net(x), batch,
                                                  seconds, thread_counts)
    return results


def bench_opencv(cv_nets, inputs, seconds, thread_counts):
    results = {}
    for batch in BATCHES:
        cv_net, blob = cv_nets[batch], inputs[batch].numpy()

        def run():
            cv_net.setInput(blob)
            cv_net.forward()

        results[str(batch)] = best_of_threads(cv2.setNumThreads, run, batch, seconds,
                                              thread_counts)
    return results


# ---------------------------------------------------------------------------------------------
# ONNX export and OpenCV loading.


def _short(err):
    """The informative last line of an exception's message (cv2.error messages are long)."""
    lines = [line.strip(' >') for line in str(err).strip().splitlines() if line.strip(' >')]
    text = lines[-1] if lines else type(err).__name__
    for line in lines:  # OpenCV names the failing node in a line of its own
        if 'Node [' in line or "Can't create layer" in line:
            text = line if line == text else f'{line} ... {text}'
            break
    return text[:400]


def load_opencv(net, example_inputs, onnx_dir, name):
    """Exports `net` once per batch size and loads each file with OpenCV (first opset that
    loads and runs); returns ({batch: cv2.dnn.Net}, opset). Raises RuntimeError with the reason
    (the first opset's error) when no opset works."""
    first_error = None
    for opset in ONNX_OPSETS:
        nets = {}
        try:
            for batch in BATCHES:
                path = os.path.join(onnx_dir, f'{name}.b{batch}.opset{opset}.onnx')
                with warnings.catch_warnings():
                    warnings.simplefilter('ignore')
                    torch.onnx.export(net, example_inputs[batch], path, opset_version=opset,
                                      input_names=['input'], output_names=['logits'],
                                      do_constant_folding=True)
                cv_net = cv2.dnn.readNetFromONNX(path)
                cv_net.setPreferableBackend(cv2.dnn.DNN_BACKEND_OPENCV)
                cv_net.setPreferableTarget(cv2.dnn.DNN_TARGET_CPU)
                cv_net.setInput(example_inputs[batch].numpy())
                out = cv_net.forward()  # some errors only show when the graph is set up
                if out.shape[0] != batch:
                    raise RuntimeError(f'OpenCV output shape {out.shape} for batch {batch}')
                nets[batch] = cv_net
            return nets, opset
        except Exception as e:  # noqa: BLE001  (export or OpenCV failure: try the next opset)
            if first_error is None:
                first_error = f'opset {opset}: {_short(e)}'
    raise RuntimeError(first_error)


# ---------------------------------------------------------------------------------------------
# Correctness check against reference.pb.


def reference_images(ref, data_dir):
    """The uint8 images [count, C, H, W] the reference logits were computed on."""
    path = os.path.join(data_dir, ref.dataset_file)
    if 'idx' in os.path.basename(ref.dataset_file):
        images = idx.read_idx(path)
        images = images.reshape(images.shape[0], 1, images.shape[1], images.shape[2])
    else:
        images = cifar.read_batch(path)[0]
    first, count = ref.first_index, ref.count
    if first + count > len(images):
        raise ValueError(f'{ref.dataset_file} has {len(images)} images, reference needs '
                         f'{first}..{first + count - 1}')
    return images[first:first + count]


def check(net, model, version_dir, data_dir, pb):
    """Argmax agreement of the float module with the int8 reference logits (a dict), and the
    check images (or None)."""
    path = os.path.join(version_dir, 'reference.pb')
    if not os.path.exists(path):
        return {'skipped': 'no reference.pb'}, None
    ref = pb.ReferenceOutputs()
    with open(path, 'rb') as f:
        ref.ParseFromString(f.read())
    try:
        images = reference_images(ref, data_dir)
    except (OSError, ValueError) as e:
        return {'skipped': f'reference images: {e}'}, None
    if list(images.shape[1:]) != net.dims:
        return {'skipped': f'images {list(images.shape[1:])} but input dims {net.dims}'}, None
    logits = np.frombuffer(ref.logits, dtype=np.int8).reshape(ref.count, ref.num_classes)
    with torch.inference_mode():
        out = net(net.encode(images)).numpy()
    if out.shape != logits.shape:
        return {'skipped': f'float output {out.shape}, reference {logits.shape}'}, None
    # The float argmax agrees when it is a top class of the int8 logits (which can tie).
    top = logits[np.arange(len(logits)), out.argmax(axis=1)] == logits.max(axis=1)
    agree = int(top.sum())
    binarized = any(layer.WhichOneof('kind') == 'binary_dense' for layer in model.layers)
    result = {'images': int(ref.count), 'argmax_agree': agree,
              'agreement': round(agree / ref.count, 4), 'binarized': binarized}
    if not binarized:
        result['ok'] = agree >= INT8_MIN_AGREEMENT * ref.count
    return result, images


def check_opencv(net, cv_net, images, batch):
    """OpenCV against PyTorch on the first `batch` check images (the net has a fixed batch)."""
    if images is None or len(images) < batch:
        return None
    x = net.encode(images[:batch])
    with torch.inference_mode():
        want = net(x).numpy()
    cv_net.setInput(x.numpy())
    got = cv_net.forward().reshape(want.shape)
    return {'images': batch,
            'argmax_agree_with_pytorch': int((got.argmax(1) == want.argmax(1)).sum()),
            'max_abs_logit_diff': float(np.abs(got - want).max())}


# ---------------------------------------------------------------------------------------------
# Driver.


def find_models(zoo, names):
    """[(name, version folder)] of the zoo, each at its highest version holding model.pb."""
    found = {}
    for name in sorted(os.listdir(zoo)):
        folder = os.path.join(zoo, name)
        if not os.path.isdir(folder):
            continue
        versions = [v for v in os.listdir(folder)
                    if v.isdigit() and os.path.exists(os.path.join(folder, v, 'model.pb'))]
        if versions:
            found[name] = os.path.join(folder, max(versions, key=int))
    if names:
        missing = [n for n in names if n not in found]
        if missing:
            raise SystemExit(f'no model.pb for {", ".join(missing)} under {zoo} '
                             f'(found: {", ".join(found) or "none"})')
        return [(n, found[n]) for n in names]
    if not found:
        raise SystemExit(f'no <name>/<version>/model.pb under {zoo}')
    skipped = sorted(n for n in os.listdir(zoo)
                     if os.path.isdir(os.path.join(zoo, n)) and n not in found)
    if skipped:
        print(f'skipped (no <version>/model.pb): {", ".join(skipped)}')
    return list(found.items())


def versions():
    build = cv2.getBuildInformation()
    parallel = next((line.split(':', 1)[1].strip() for line in build.splitlines()
                     if 'Parallel framework' in line), 'unknown')
    return {'torch': torch.__version__, 'cv2': cv2.__version__, 'numpy': np.__version__,
            'python': platform.python_version(), 'cv2_parallel_framework': parallel,
            'torch_mkldnn': bool(torch.backends.mkldnn.is_available()),
            'cpu_count': os.cpu_count(), 'machine': platform.machine()}


def default_threads():
    """1, 2, 4, ... up to the core count, and the core count itself."""
    cores = os.cpu_count() or 1
    counts, t = [], 1
    while t < cores:
        counts.append(t)
        t *= 2
    return ','.join(str(c) for c in counts + [cores])


def print_table(name, result):
    print(f'  {"framework":<9} {"batch":>5} {"threads":>7} {"images/s":>11} {"cpu/wall":>8}   '
          f'images/s per thread count')
    for fw in ('pytorch', 'opencv'):
        r = result.get(fw)
        if r is None:
            continue
        if 'unavailable' in r:
            print(f'  {fw:<9} unavailable: {r["unavailable"]}')
            continue
        for batch in BATCHES:
            b = r[str(batch)]
            per = ', '.join(f'{t}: {v:.1f}' for t, v in b['by_threads'].items())
            print(f'  {fw:<9} {batch:>5} {b["threads"]:>7} {b["images_per_second"]:>11.1f} '
                  f'{b["cpu_per_wall_second"]:>8.2f}   {per}')
    sys.stdout.flush()


def bench_model(name, version_dir, args, thread_counts, onnx_dir, pb):
    model = pb.ModelFile()
    with open(os.path.join(version_dir, 'model.pb'), 'rb') as f:
        model.ParseFromString(f.read())
    result = {'version': os.path.basename(version_dir)}
    print(f'\n{name} (version {result["version"]}, input {model.input.dims}, '
          f'{len(model.layers)} layers)')
    try:
        net = ServedNetwork(model, pb).eval()
    except ValueError as e:
        reason = f'cannot build the float network: {e}'
        print(f'  {reason}')
        return {**result, 'pytorch': {'unavailable': reason}, 'opencv': {'unavailable': reason}}
    if model.input.HasField('resample'):
        result['input_note'] = 'full-size input; InputSpec.resample done inside the module'

    torch.set_num_threads(max(thread_counts))
    result['check'], images = check(net, model, version_dir, args.data_dir, pb)
    c = result['check']
    if 'skipped' in c:
        print(f'  check: skipped ({c["skipped"]})')
    else:
        kind = 'binarized: reported only' if c['binarized'] else \
            f'int8: want >= {INT8_MIN_AGREEMENT:.0%}'
        print(f'  check: float argmax is a top class of the int8 reference logits on '
              f'{c["argmax_agree"]}/{c["images"]} images ({c["agreement"]:.1%}; {kind})')
        if c.get('ok') is False:
            print(f'  WARNING: {name}: the float rebuild disagrees with the int8 reference on '
                  f'more than {1 - INT8_MIN_AGREEMENT:.0%} of the images')

    rng = np.random.default_rng(20240611)
    inputs = {b: net.encode(rng.integers(0, 256, size=[b] + net.dims, dtype=np.uint8))
              for b in BATCHES}

    result['pytorch'] = bench_pytorch(net, inputs, args.seconds, thread_counts)
    try:
        cv_nets, opset = load_opencv(net, inputs, onnx_dir, name)
        result['opencv_onnx_opset'] = opset
        result['opencv_check'] = check_opencv(net, cv_nets[BATCHES[-1]], images, BATCHES[-1])
        result['opencv'] = bench_opencv(cv_nets, inputs, args.seconds, thread_counts)
    except RuntimeError as e:
        result['opencv'] = {'unavailable': f'OpenCV {cv2.__version__} cannot run the ONNX '
                                           f'export: {e}'}
    oc = result.get('opencv_check')
    if oc:
        print(f'  opencv (ONNX opset {result["opencv_onnx_opset"]}) vs pytorch: argmax agree on '
              f'{oc["argmax_agree_with_pytorch"]}/{oc["images"]}, max |logit diff| '
              f'{oc["max_abs_logit_diff"]:.3g}')
    print_table(name, result)
    return result


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument('--zoo', default=os.path.join(REPO_ROOT, 'models', 'zoo'),
                        help='model repository: <zoo>/<name>/<version>/model.pb')
    parser.add_argument('--models', default='',
                        help='comma-separated model names (default: every model of the zoo)')
    parser.add_argument('--seconds', type=float, default=3.0,
                        help='timed seconds per (framework, batch, thread count); default 3')
    parser.add_argument('--threads', default=default_threads(),
                        help='comma-separated thread counts to try (default: %(default)s)')
    parser.add_argument('--data-dir', default=os.environ.get(
        'INFER_DATA_DIR', os.path.join(os.path.dirname(REPO_ROOT), 'shared', 'datasets')),
        help='dataset folder of the reference images (default: $INFER_DATA_DIR or '
             '<repo>/../shared/datasets)')
    parser.add_argument('--json', help='write the results to this JSON file')
    parser.add_argument('--onnx-dir', help='keep the exported ONNX files here (default: a '
                                           'temporary folder, removed at the end)')
    args = parser.parse_args()
    if args.seconds <= 0:
        parser.error('--seconds must be > 0')
    try:
        thread_counts = sorted({int(t) for t in args.threads.split(',') if t.strip()})
    except ValueError:
        parser.error(f'--threads {args.threads!r}: expected comma-separated integers')
    if not thread_counts or min(thread_counts) < 1:
        parser.error('--threads: at least one count, each >= 1')

    pb = model_pb.load()
    models = find_models(args.zoo, [n.strip() for n in args.models.split(',') if n.strip()])
    info = versions()
    print('versions: ' + ', '.join(f'{k} {v}' for k, v in info.items()))
    print(f'timing: {args.seconds:g} s per (framework, batch, thread count), thread counts '
          f'{thread_counts}, batches {list(BATCHES)}')

    results = {}
    with tempfile.TemporaryDirectory(prefix='framework_bench_') as tmp:
        onnx_dir = args.onnx_dir or tmp
        os.makedirs(onnx_dir, exist_ok=True)
        for name, version_dir in models:
            results[name] = bench_model(name, version_dir, args, thread_counts, onnx_dir, pb)
    results['versions'] = info

    if args.json:
        with open(args.json, 'w') as f:
            json.dump(results, f, indent=2)
            f.write('\n')
        print(f'\nwrote {args.json}')


if __name__ == '__main__':
    main()
