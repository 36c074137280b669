"""Quantizes a trained MiniResNet to integer-only int8 and writes the version folder:

  model.pb          serialized pynq.model.ModelFile (proto/model.proto)
  reference.pb      serialized pynq.model.ReferenceOutputs: int8 logits of exact test records 0..99
  export_info.json  float and int8 accuracies, training recipe and time, calibration

BatchNorm is folded into each convolution (weights and bias), weights are quantized per output
channel, symmetric, and every activation tensor gets one (scale, zero point) from the ranges seen
on calibration images from the training set. A residual add is TFLite's integer Add (quant.py);
the global average pool is a sum requantized by input_scale / (H * W * output_scale).
Two calibrations are tried, the plain min/max and a 99.99th percentile clip; the one with the
better int8 accuracy on held-in training images (never the test set) is kept.
"""

import json
import os

import numpy as np
import torch
import torch.nn.functional as F

import cifar
import model_pb
import quant

REFERENCE_COUNT = 100
FORMAT_VERSION = 1
ADD_LEFT_SHIFT = 20  # TFLite's choice for int8 Add


def fold_bn(conv_bn):
    """(weight [O,I,kh,kw], bias [O]) of conv followed by eval-mode BatchNorm, as float64."""
    w = conv_bn.conv.weight.detach().double()
    bn = conv_bn.bn
    scale = bn.weight.detach().double() / torch.sqrt(bn.running_var.double() + bn.eps)
    bias = bn.bias.detach().double() - bn.running_mean.double() * scale
    return (w * scale[:, None, None, None]).numpy(), bias.numpy()


@torch.no_grad()
def calibrate(net, to_float, pixels, percentile, batch=500):
    """{tap: (lo, hi)} of each tensor over `pixels`: min/max, or the given percentile of |x|
    (applied to each side) to ignore the rarest outliers."""
    net.eval()
    samples = {}
    for i in range(0, len(pixels), batch):
        taps = {}
        net(to_float(pixels[i:i + batch]), taps)
        for k, v in taps.items():
            samples.setdefault(k, []).append(v.flatten().numpy())
    ranges = {}
    for k, parts in samples.items():
        v = np.concatenate(parts)
        if percentile is None:
            ranges[k] = (float(v.min()), float(v.max()))
        else:
            ranges[k] = (float(np.percentile(v, 100 - percentile)),
                         float(np.percentile(v, percentile)))
    return ranges


def build_model_file(net, ranges, name, labels, description, input_scale):
    pb = model_pb.load()
    m = pb.ModelFile(format_version=FORMAT_VERSION, name=name, description=description)
    m.input.dims.extend([3, 32, 32])
    m.input.encoding = pb.InputSpec.UINT8_MINUS_128
    m.input.quant.scale, m.input.quant.zero_point = float(np.float32(input_scale)), 0
    index = {}  # tensor name -> (layer index, scale)
    index['input'] = (-1, np.float32(input_scale))

    def out_quant(tap, relu):
        lo, hi = ranges[tap]
        return quant.activation_quant(0.0 if relu else lo, hi)

    def conv(layer_name, conv_bn, src, tap, relu):
        w, b = fold_bn(conv_bn)
        src_index, in_scale = index[src]
        scale, zp = out_quant(tap, relu)
        layer = m.layers.add(name=layer_name)
        if src_index != len(m.layers) - 2:
            layer.inputs.append(src_index)
        layer.output.scale, layer.output.zero_point = float(scale), zp
        c = layer.conv2d
        mod = conv_bn.conv
        c.in_channels, c.out_channels = mod.in_channels, mod.out_channels
        c.kernel_h, c.kernel_w = mod.kernel_size
        c.stride_h, c.stride_w = mod.stride
        c.pad_top = c.pad_bottom = mod.padding[0]
        c.pad_left = c.pad_right = mod.padding[1]
        w_q, w_scales = quant.quantize_weights(w)
        c.weights = w_q.tobytes()
        c.weight_scales.extend(float(s) for s in w_scales)
        c.bias.extend(int(v) for v in quant.quantize_bias(b, in_scale, w_scales))
        mult, shift = quant.requantization(in_scale, w_scales, scale)
        c.requant.multiplier.extend(mult)
        c.requant.shift.extend(shift)
        c.activation = pb.ACTIVATION_RELU if relu else pb.ACTIVATION_NONE
        index[layer_name] = (len(m.layers) - 1, scale)

    def add(layer_name, a, b, tap):
        (ia, sa), (ib, sb) = index[a], index[b]
        scale, zp = out_quant(tap, True)
        layer = m.layers.add(name=layer_name)
        layer.inputs.extend([ia, ib])
        layer.output.scale, layer.output.zero_point = float(scale), zp
        twice_max = 2.0 * max(float(sa), float(sb))
        ad = layer.add
        ad.left_shift = ADD_LEFT_SHIFT
        ad.a_multiplier, ad.a_shift = quant.quantize_multiplier(float(sa) / twice_max)
        ad.b_multiplier, ad.b_shift = quant.quantize_multiplier(float(sb) / twice_max)
        ad.output_multiplier, ad.output_shift = quant.quantize_multiplier(
            twice_max / ((1 << ADD_LEFT_SHIFT) * float(scale)))
        ad.activation = pb.ACTIVATION_RELU
        index[layer_name] = (len(m.layers) - 1, scale)

    conv('stem', net.stem, 'input', 'stem', True)
    prev = 'stem'
    for bi, block in enumerate((net.block1, net.block2, net.block3), start=1):
        p = f'block{bi}.'
        conv(p + 'a', block.a, prev, p + 'a', True)
        conv(p + 'b', block.b, p + 'a', p + 'b', False)
        skip = prev
        if block.proj is not None:
            conv(p + 'proj', block.proj, prev, p + 'proj', False)
            skip = p + 'proj'
        add(p + 'add', p + 'b', skip, p + 'add')
        prev = p + 'add'

    # Global average pool over the 8x8 map of block 3.
    src_index, in_scale = index[prev]
    scale, zp = out_quant('pool', True)
    layer = m.layers.add(name='pool')
    layer.output.scale, layer.output.zero_point = float(scale), zp
    area = 8 * 8
    layer.global_average_pool.multiplier, layer.global_average_pool.shift = \
        quant.quantize_multiplier(float(in_scale) / (area * float(scale)))
    index['pool'] = (len(m.layers) - 1, scale)

    scale, zp = out_quant('fc', False)
    layer = m.layers.add(name='fc')
    layer.output.scale, layer.output.zero_point = float(scale), zp
    d = layer.dense
    d.in_features, d.out_features = net.fc.in_features, net.fc.out_features
    w_q, w_scales = quant.quantize_weights(net.fc.weight.detach().double().numpy())
    d.weights = w_q.tobytes()
    d.weight_scales.extend(float(s) for s in w_scales)
    d.bias.extend(int(v) for v in quant.quantize_bias(
        net.fc.bias.detach().double().numpy(), index['pool'][1], w_scales))
    mult, shift = quant.requantization(index['pool'][1], w_scales, scale)
    d.requant.multiplier.extend(mult)
    d.requant.shift.extend(shift)
    d.activation = pb.ACTIVATION_NONE
    m.labels.extend(labels)
    return m


def export(net, args, info):
    from train_cifar_resnet import INPUT_SCALE, MODEL_NAME, to_float  # noqa: E402
    pb = model_pb.load()
    net.eval()
    labels = cifar.load_labels(args.data_dir)
    train_x, train_y = cifar.load_jpeg_train(args.data_dir)
    exact_x, exact_y = cifar.load_exact_test(args.data_dir)
    jpeg_x, jpeg_y = cifar.load_jpeg_test(args.data_dir)
    rng = np.random.default_rng(args.seed)
    pick = rng.choice(len(train_x), 4000, replace=False)
    calib_x = train_x[pick[:2000]]
    check_x, check_y = train_x[pick[2000:]], train_y[pick[2000:]]
    description = ('CIFAR-10 Mini-ResNet: conv3x3 3->28, three residual blocks (28, 56/2, 56/2) '
                   'with 1x1 projections, global average pool, dense 56->10; BatchNorm folded, '
                   'int8 per-channel; trained by models/train/train_cifar_resnet.py')

    best = None
    for percentile in (None, 99.99):
        ranges = calibrate(net, to_float, calib_x, percentile)
        model = build_model_file(net, ranges, MODEL_NAME, labels, description, INPUT_SCALE)
        acc = float((quant.run_integer_model(model, pb, check_x).argmax(1) == check_y).mean())
        label = 'min/max' if percentile is None else f'{percentile} percentile'
        print(f'calibration {label}: int8 {acc * 100:.2f}% on 2000 training images')
        if best is None or acc > best[0]:
            best = (acc, label, ranges, model)
    _, calibration, ranges, model = best
    blob = model.SerializeToString()
    model = pb.ModelFile.FromString(blob)  # run exactly what is written

    exact_logits = quant.run_integer_model(model, pb, exact_x)
    exact_acc = float((exact_logits.argmax(1) == exact_y).mean())
    jpeg_acc = float((quant.run_integer_model(model, pb, jpeg_x).argmax(1) == jpeg_y).mean())
    with torch.no_grad():
        jpeg_float = float(np.mean([
            (net(to_float(jpeg_x[i:i + 500])).argmax(1).numpy() == jpeg_y[i:i + 500]).mean()
            for i in range(0, len(jpeg_x), 500)]))
    print(f'int8 model: {exact_acc * 100:.1f}% on the exact 1000 test records '
          f'(float {info["float_exact1000_accuracy"] * 100:.1f}%), {jpeg_acc * 100:.2f}% on the '
          f'JPEG-derived 10,000 (float {jpeg_float * 100:.2f}%)')

    ref = pb.ReferenceOutputs(model_name=MODEL_NAME,
                              dataset_file='cifar-10/test_batch.first1000.bin.gz',
                              first_index=0, count=REFERENCE_COUNT,
                              num_classes=exact_logits.shape[1],
                              logits=exact_logits[:REFERENCE_COUNT].astype(np.int8).tobytes(),
                              int8_accuracy=exact_acc, accuracy_images=len(exact_y))
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, 'model.pb'), 'wb') as f:
        f.write(blob)
    with open(os.path.join(args.out, 'reference.pb'), 'wb') as f:
        f.write(ref.SerializeToString())
    info = dict(info)
    info.update({
        'model': MODEL_NAME,
        'format_version': FORMAT_VERSION,
        'float_exact1000_accuracy': round(info['float_exact1000_accuracy'], 4),
        'int8_exact1000_accuracy': round(exact_acc, 4),
        'float_jpeg10000_accuracy': round(jpeg_float, 4),
        'int8_jpeg10000_accuracy': round(jpeg_acc, 4),
        'calibration': calibration,
        'calibration_images': len(calib_x),
        'activation_ranges': {k: [round(v[0], 4), round(v[1], 4)] for k, v in ranges.items()},
        'model_pb_bytes': len(blob),
    })
    with open(os.path.join(args.out, 'export_info.json'), 'w') as f:
        json.dump(info, f, indent=2, sort_keys=True)
        f.write('\n')
    print(f'wrote {args.out}/model.pb ({len(blob)} bytes), reference.pb, export_info.json')
    return exact_acc
