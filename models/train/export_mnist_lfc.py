"""Folds a trained Lfc (train_mnist_lfc.py) into BinaryDense layers and writes the version folder:

  model.pb          serialized pynq.model.ModelFile (proto/model.proto)
  reference.pb      serialized pynq.model.ReferenceOutputs: int8 logits of test images 0..99
  export_info.json  float and integer accuracies, training recipe and time, folding statistics

Hidden layers (BinaryDense THRESHOLDS). In evaluation the float model computes, per channel c,
out = act(BN_c(acc)) where acc is exactly the integer accumulator of the kernel (the inputs are
the pixels 0..255, then -1/+1 or 0..3, and the weights +-1, so every float sum is an integer
below 2^24 and exact). With s = -1 where the BatchNorm scale gamma_c is negative (the weight row
is negated, the kernel computes acc' = -acc) and s = +1 otherwise, level(acc') = act(BN_c(s acc'))
is non-decreasing in acc'. Rather than rounding the real crossing points, which can disagree with
float32 arithmetic at a tie, the exporter evaluates the float model's own BatchNorm and activation
on EVERY integer acc' the layer can produce (-F*vmax .. F*vmax) and sets
  t_k = the smallest acc' with level(acc') >= k    (k = 1 .. 2^bits - 1; BIPOLAR: level = out > 0)
(F*vmax + 1 where no acc' reaches level k: never; -F*vmax where every acc' does: always), after
checking that the levels are non-decreasing. So `acc' >= t_k` reproduces the float decision for
every reachable accumulator, ties and all, and each channel's thresholds are ascending.

The last layer (BinaryDense REQUANTIZED): logits = a acc + b with a = gamma / sqrt(var + eps),
b = beta - mean a (float64). Rows with a < 0 are negated, so logits = |a| acc' + b =
|a| (acc' + b / |a|): bias = round(b / |a|), real multiplier |a| / output_scale, with the output
(scale, zero point) calibrated on the logits' range over training images.
"""

import json
import os

import numpy as np
import torch

import binary
import model_pb
import quant

REFERENCE_COUNT = 100
FORMAT_VERSION = 1
CHUNK = 4096  # accumulator values evaluated at once in the threshold search


@torch.no_grad()
def levels_of(net, i, acc):
    """The float model's output level of hidden layer i for accumulators acc (float [K, C]):
    BIPOLAR 0 (-1) or 1 (+1), UNSIGNED the value 0..3; int64 [K, C]."""
    out = net.activation(net.bn[i](acc))
    if net.activation_bits == 1:
        return (out > 0).to(torch.int64)
    return out.to(torch.int64)


@torch.no_grad()
def fold_thresholds(net, i, signs, max_acc):
    """Thresholds int64 [C, 2^bits - 1] of hidden layer i over acc' in [-max_acc, max_acc]."""
    net.eval()
    k_max = (1 << net.activation_bits) - 1
    c = signs.numel()
    below = torch.zeros(c, k_max, dtype=torch.int64)  # count of acc' with level < k
    prev = None
    for lo in range(-max_acc, max_acc + 1, CHUNK):
        a = torch.arange(lo, min(lo + CHUNK, max_acc + 1), dtype=torch.float32)
        lev = levels_of(net, i, a[:, None] * signs[None, :])  # [K, C]
        if prev is not None:
            lev_all = torch.cat([prev[None, :], lev])
        else:
            lev_all = lev
        if (lev_all[1:] < lev_all[:-1]).any():
            raise ValueError(f'fc{i + 1}: output level not monotone in the accumulator')
        prev = lev[-1]
        for k in range(1, k_max + 1):
            below[:, k - 1] += (lev < k).sum(dim=0)
    return (-max_acc + below).numpy()


def _binary_weights(fc):
    return fc.weight.detach().ge(0).numpy()  # True = +1, as train_mnist_lfc.binarize


def build_model_file(net, logits_range, name, labels, description, stats):
    pb = model_pb.load()
    m = pb.ModelFile(format_version=FORMAT_VERSION, name=name, description=description)
    m.input.dims.extend([1, 28, 28])
    m.input.encoding = pb.InputSpec.UINT8_MINUS_128
    m.input.quant.scale, m.input.quant.zero_point = float(np.float32(1.0 / 255.0)), -128

    bits = net.activation_bits
    hidden_values = pb.BinaryDense.BIPOLAR if bits == 1 else pb.BinaryDense.UNSIGNED
    in_values, in_bits, v_max = pb.BinaryDense.UNSIGNED, 8, 255  # the pixels
    for i, (fc, bn) in enumerate(zip(net.fc, net.bn)):
        layer = m.layers.add(name=f'fc{i + 1}')
        b = layer.binary_dense
        b.in_features, b.out_features = fc.in_features, fc.out_features
        b.input_values, b.input_bits = in_values, in_bits
        w_bits = _binary_weights(fc)
        gamma = bn.weight.detach().double()
        negate = (gamma < 0).numpy()
        w_bits = w_bits ^ negate[:, None]  # a negated row computes acc' = -acc
        b.weights = binary.pack_bits(w_bits)
        max_acc = fc.in_features * v_max
        layer_stats = {'negated_channels': int(negate.sum())}
        if i < len(net.fc) - 1:
            signs = torch.from_numpy(np.where(negate, -1.0, 1.0).astype(np.float32))
            t = fold_thresholds(net, i, signs, max_acc)
            b.output = pb.BinaryDense.THRESHOLDS
            b.output_values, b.output_bits = hidden_values, bits
            b.thresholds.extend(int(v) for v in t.reshape(-1))
            layer.output.scale, layer.output.zero_point = 1.0, 0
            layer_stats.update({
                'always_on_thresholds': int((t == -max_acc).sum()),
                'never_thresholds': int((t == max_acc + 1).sum()),
                'channels_with_equal_thresholds': int((np.diff(t, axis=1) == 0).any(axis=1).sum()),
                'threshold_range': [int(t.min()), int(t.max())],
            })
            in_values, in_bits = hidden_values, bits
            v_max = 1 if bits == 1 else (1 << bits) - 1
        else:
            inv = 1.0 / torch.sqrt(bn.running_var.detach().double() + bn.eps)
            a = gamma * inv
            bias = bn.bias.detach().double() - bn.running_mean.detach().double() * a
            if (a == 0).any():
                raise ValueError(f'fc{i + 1}: a BatchNorm scale is 0')
            scale, zp = quant.activation_quant(*logits_range)
            b.output = pb.BinaryDense.REQUANTIZED
            q_bias = np.round(bias.numpy() / a.abs().numpy())
            if np.abs(q_bias).max() > quant.INT32_MAX:
                raise ValueError(f'fc{i + 1}: bias out of int32 range')
            b.bias.extend(int(v) for v in q_bias)
            pairs = [quant.quantize_multiplier(float(v) / float(scale)) for v in a.abs().numpy()]
            b.requant.multiplier.extend(p[0] for p in pairs)
            b.requant.shift.extend(p[1] for p in pairs)
            layer.output.scale, layer.output.zero_point = float(scale), zp
            layer_stats.update({'logits_range': [round(float(v), 4) for v in logits_range],
                                'logits_scale': float(scale), 'logits_zero_point': zp})
        stats[layer.name] = layer_stats
    m.labels.extend(labels)
    return m


@torch.no_grad()
def float_taps(net, images, batch=1000):
    """Each layer's float output over uint8 images [N, 28, 28], concatenated."""
    net.eval()
    taps_all = {}
    for i in range(0, len(images), batch):
        x = torch.from_numpy(images[i:i + batch].astype(np.float32)).unsqueeze(1)
        taps = {}
        net(x, taps)
        for k, v in taps.items():
            taps_all.setdefault(k, []).append(v)
    return {k: torch.cat(v).numpy() for k, v in taps_all.items()}


def compare_layers(model, pb, net, images, batch=1000):
    """Runs the integer layers one by one beside the float model; returns the number of hidden
    outputs that differ per layer (0 when the folding is exact) and the float logits."""
    taps = float_taps(net, images)
    mismatches = {}
    for i in range(0, len(images), batch):
        t = quant.input_tensor(model, pb, images[i:i + batch, None, :, :])
        zp = model.input.quant.zero_point
        for li, layer in enumerate(model.layers[:-1]):
            t = binary.binary_dense(t, zp, layer, pb)
            zp = layer.output.zero_point
            ref = taps[layer.name][i:i + batch]
            got = t.reshape(len(ref), -1).astype(np.float32)
            mismatches[layer.name] = mismatches.get(layer.name, 0) + int((got != ref).sum())
    return mismatches, taps['fc4']


def export(net, calibration_images, test_images, test_labels, out_dir, name, labels, info):
    pb = model_pb.load()
    net.eval()
    cal_logits = float_taps(net, calibration_images)['fc4']
    logits_range = (float(cal_logits.min()), float(cal_logits.max()))
    bits = net.activation_bits
    description = (f'MNIST LFC (BNN-PYNQ): binarized dense 784->1024->1024->1024->10, 1-bit '
                   f'weights, {bits}-bit activations ({"-1/+1" if bits == 1 else "0..3"}), 8-bit '
                   f'input; BatchNorm folded into thresholds and int8 logits; trained by '
                   f'models/train/train_mnist_lfc.py')
    stats = {}
    model = build_model_file(net, logits_range, name, labels, description, stats)
    blob = model.SerializeToString()
    model = pb.ModelFile.FromString(blob)  # run exactly what is written

    mismatches, float_logits = compare_layers(model, pb, net, test_images)
    print(f'hidden outputs differing from the float model: {mismatches}')
    pixels = test_images[:, None, :, :]
    logits = quant.run_integer_model(model, pb, pixels)
    int8_acc = float((logits.argmax(1) == test_labels).mean())
    agree = float((logits.argmax(1) == float_logits.argmax(1)).mean())
    print(f'integer model: {int8_acc * 100:.2f}% on {len(test_labels)} test images '
          f'(float {info["float_test_accuracy"] * 100:.2f}%; same class as float on '
          f'{agree * 100:.2f}%)')
    if any(mismatches.values()):
        print('WARNING: the thresholds do not reproduce the float hidden layers exactly')

    ref = pb.ReferenceOutputs(model_name=name, dataset_file='mnist/t10k-images-idx3-ubyte.gz',
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
        'int8_float_class_agreement': round(agree, 4),
        'hidden_output_mismatches': mismatches,
        'test_images': int(len(test_labels)),
        'calibration_images': int(len(calibration_images)),
        'layers': stats,
        'model_pb_bytes': len(blob),
    })
    with open(os.path.join(out_dir, 'export_info.json'), 'w') as f:
        json.dump(info, f, indent=2, sort_keys=True)
        f.write('\n')
    print(f'wrote {out_dir}/model.pb ({len(blob)} bytes), reference.pb, export_info.json')
    return int8_acc
