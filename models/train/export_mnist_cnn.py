"""Quantizes a trained MnistCnn to integer-only int8 and writes the version folder:

  model.pb          serialized pynq.model.ModelFile (proto/model.proto)
  reference.pb      serialized pynq.model.ReferenceOutputs: int8 logits of test images 0..99
  export_info.json  float and int8 accuracies, training recipe and time

(write_version is shared with the other MNIST-family exporters, e.g. train_mnist_dense12.py.)

Post-training quantization (Jacob et al. 2018): activation ranges are calibrated on training
images (per-tensor max of each ReLU output, min/max of the logits), weights are quantized per
output channel, symmetric; see quant.py for the arithmetic.
"""

import json
import os

import numpy as np
import torch

import model_pb
import quant

REFERENCE_COUNT = 100
FORMAT_VERSION = 1


@torch.no_grad()
def calibrate(net, images, batch=1000):
    """Returns {tap: (min, max)} of each layer's float output over `images` (uint8 [N,28,28])."""
    net.eval()
    ranges = {}
    for i in range(0, len(images), batch):
        x = torch.from_numpy(images[i:i + batch].astype(np.float32) / 255.0).unsqueeze(1)
        taps = {}
        net(x, taps)
        for k, v in taps.items():
            lo, hi = ranges.get(k, (np.inf, -np.inf))
            ranges[k] = (min(lo, v.min().item()), max(hi, v.max().item()))
    return ranges


def _fill_weighted(msg, weight, bias, in_scale, out_scale, activation):
    w_q, w_scales = quant.quantize_weights(weight.detach().numpy())
    msg.weights = w_q.tobytes()
    msg.weight_scales.extend(float(s) for s in w_scales)
    msg.bias.extend(int(b) for b in quant.quantize_bias(bias.detach().numpy(), in_scale, w_scales))
    mult, shift = quant.requantization(in_scale, w_scales, out_scale)
    msg.requant.multiplier.extend(mult)
    msg.requant.shift.extend(shift)
    msg.activation = activation


def build_model_file(net, ranges, name, labels, description):
    pb = model_pb.load()
    m = pb.ModelFile(format_version=FORMAT_VERSION, name=name, description=description)
    m.input.dims.extend([1, 28, 28])
    m.input.encoding = pb.InputSpec.UINT8_MINUS_128
    in_scale = np.float32(1.0 / 255.0)
    m.input.quant.scale, m.input.quant.zero_point = float(in_scale), -128

    def conv(layer_name, conv_mod, tap):
        nonlocal in_scale
        scale, zp = quant.activation_quant(0.0, ranges[tap][1])  # after ReLU: [0, max]
        layer = m.layers.add(name=layer_name)
        layer.output.scale, layer.output.zero_point = float(scale), zp
        c = layer.conv2d
        c.in_channels, c.out_channels = conv_mod.in_channels, conv_mod.out_channels
        c.kernel_h, c.kernel_w = conv_mod.kernel_size
        c.stride_h, c.stride_w = conv_mod.stride
        c.pad_top = c.pad_bottom = conv_mod.padding[0]
        c.pad_left = c.pad_right = conv_mod.padding[1]
        _fill_weighted(c, conv_mod.weight, conv_mod.bias, in_scale, scale, pb.ACTIVATION_RELU)
        pool = m.layers.add(name=layer_name.replace('conv', 'pool'))
        pool.output.CopyFrom(layer.output)
        pool.max_pool2d.kernel_h = pool.max_pool2d.kernel_w = 2
        pool.max_pool2d.stride_h = pool.max_pool2d.stride_w = 2
        in_scale = scale

    conv('conv1', net.conv1, 'conv1')
    conv('conv2', net.conv2, 'conv2')
    scale, zp = quant.activation_quant(*ranges['fc'])
    layer = m.layers.add(name='fc')
    layer.output.scale, layer.output.zero_point = float(scale), zp
    layer.dense.in_features, layer.dense.out_features = net.fc.in_features, net.fc.out_features
    _fill_weighted(layer.dense, net.fc.weight, net.fc.bias, in_scale, scale, pb.ACTIVATION_NONE)
    m.labels.extend(labels)
    return m


MNIST_DESCRIPTION = ('MNIST CNN: conv5x5 1->16 ReLU maxpool2, conv5x5 16->32 ReLU maxpool2, '
                     'dense 1568->10; int8 per-channel, trained by models/train/train_mnist_cnn.py')


def export(net, calibration_images, test_images, test_labels, out_dir, name, labels, info,
           dataset_file='mnist/t10k-images-idx3-ubyte.gz', description=MNIST_DESCRIPTION):
    """Calibrates and quantizes `net`, then writes the version folder (see write_version)."""
    ranges = calibrate(net, calibration_images)
    model = build_model_file(net, ranges, name, labels, description)
    return write_version(model, test_images[:, None, :, :], test_labels, out_dir, info, ranges,
                         len(calibration_images), dataset_file)


def write_version(model, pixels, test_labels, out_dir, info, ranges, calibration_images,
                  dataset_file):
    """Writes model.pb, reference.pb and export_info.json of ModelFile `model` into `out_dir`.

    The integer model is run (quant.run_integer_model, on the serialized bytes) over `pixels`,
    the whole test split as uint8 [N, C, H, W] exactly as the dataset stores it (any resampling
    is the model's own); reference.pb holds the int8 logits of the first REFERENCE_COUNT images.
    `info` (training recipe, with 'float_test_accuracy') goes into export_info.json, with the
    int8 accuracy, the calibrated activation `ranges` and the number of `calibration_images`.
    Returns the int8 accuracy.
    """
    pb = model_pb.load()
    name = model.name
    blob = model.SerializeToString()
    model = pb.ModelFile.FromString(blob)  # run exactly what is written

    logits = quant.run_integer_model(model, pb, pixels)
    int8_acc = float((logits.argmax(1) == test_labels).mean())
    print(f'int8 model: {int8_acc * 100:.2f}% on {len(test_labels)} test images '
          f'(float {info["float_test_accuracy"] * 100:.2f}%)')

    ref = pb.ReferenceOutputs(model_name=name, dataset_file=dataset_file,
                              first_index=0, count=REFERENCE_COUNT,
                              num_classes=logits.shape[1],
                              logits=logits[:REFERENCE_COUNT].astype(np.int8).tobytes(),
                              int8_accuracy=int8_acc, accuracy_images=len(test_labels))
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, 'model.pb'), 'wb') as f:
        f.write(blob)
    with open(os.path.join(out_dir, 'reference.pb'), 'wb') as f:
        f.write(ref.SerializeToString())
    info = dict(info)
    info.update({
        'model': name,
        'format_version': FORMAT_VERSION,
        'float_test_accuracy': round(info['float_test_accuracy'], 4),
        'int8_test_accuracy': round(int8_acc, 4),
        'test_images': int(len(test_labels)),
        'calibration_images': int(calibration_images),
        'activation_ranges': {k: [round(v[0], 4), round(v[1], 4)] for k, v in ranges.items()},
        'model_pb_bytes': len(blob),
    })
    with open(os.path.join(out_dir, 'export_info.json'), 'w') as f:
        json.dump(info, f, indent=2, sort_keys=True)
        f.write('\n')
    print(f'wrote {out_dir}/model.pb ({len(blob)} bytes), reference.pb, export_info.json')
    return int8_acc
