"""Integer-only quantization after Jacob et al. 2018, and the integer forward pass in NumPy.

The arithmetic here is the arithmetic of accel/cpu/kernels.h, operation for operation:
  acc    = bias[c] + sum (q_in - in_zero_point) * w_q            (exact integers)
  scaled = MultiplyByQuantizedMultiplier(acc, multiplier[c], shift[c])   (TFLite/gemmlowp)
  q_out  = clamp(scaled + out_zero_point, act_min, act_max) -> int8
so the exported reference logits must equal the C++ backend's bit for bit.

Sums of products are computed as float64 matrix products: every product is at most
255 * 127 = 32385 in magnitude and every layer here sums fewer than 2^53 / 32385 of them, so each
partial sum is an integer below 2^53 and float64 represents it exactly, in any order.
"""

import math

import numpy as np

INT32_MIN = -(1 << 31)
INT32_MAX = (1 << 31) - 1


# ---------------------------------------------------------------------------------------------
# Quantization parameters.


def quantize_multiplier(real_multiplier):
    """TFLite's QuantizeMultiplier: returns (q31, shift) with real ~= q31 * 2^(shift - 31)."""
    if real_multiplier < 0:
        raise ValueError(f'negative multiplier {real_multiplier}')
    if real_multiplier == 0.0:
        return 0, 0
    q, shift = math.frexp(real_multiplier)  # real = q * 2^shift, q in [0.5, 1)
    q_fixed = int(math.floor(q * (1 << 31) + 0.5))  # std::round: half away from zero (q > 0)
    if q_fixed == (1 << 31):
        q_fixed //= 2
        shift += 1
    if shift < -31:  # every bit would be shifted out: flush to zero as TFLite does
        return 0, 0
    if shift > 30:
        raise ValueError(f'multiplier {real_multiplier} too large for a Q31 multiplier and shift')
    return q_fixed, shift


def activation_quant(lo, hi):
    """Per-tensor (scale, zero_point) covering [lo, hi] (widened to hold 0 exactly), as float32."""
    lo, hi = min(float(lo), 0.0), max(float(hi), 0.0)
    if hi - lo <= 0:
        hi = lo + 1e-6
    scale = np.float32((hi - lo) / 255.0)
    zero_point = int(np.clip(round(-128 - lo / float(scale)), -128, 127))
    return scale, zero_point


def quantize_weights(w):
    """Per-output-channel symmetric int8: returns (q int8 same shape, scales float32 [O])."""
    flat = w.reshape(w.shape[0], -1).astype(np.float64)
    max_abs = np.abs(flat).max(axis=1)
    scales = np.where(max_abs > 0, max_abs / 127.0, 1.0).astype(np.float32)
    q = np.clip(np.round(flat / scales[:, None].astype(np.float64)), -127, 127).astype(np.int8)
    return q.reshape(w.shape), scales


def quantize_bias(b, input_scale, weight_scales):
    """int32 bias with scale input_scale * weight_scales[c], zero point 0."""
    s = np.float64(input_scale) * weight_scales.astype(np.float64)
    q = np.round(b.astype(np.float64) / s)
    if np.abs(q).max() > INT32_MAX:
        raise ValueError('bias out of int32 range')
    return q.astype(np.int64)


def requantization(input_scale, weight_scales, output_scale):
    """Per-channel (multipliers, shifts) for input_scale * weight_scales[c] / output_scale."""
    pairs = [quantize_multiplier(float(input_scale) * float(ws) / float(output_scale))
             for ws in weight_scales]
    return [p[0] for p in pairs], [p[1] for p in pairs]


# ---------------------------------------------------------------------------------------------
# The fixed-point primitives, vectorized over int64 arrays holding int32 values.


def saturating_rounding_doubling_high_mul(a, b):
    """gemmlowp's SaturatingRoundingDoublingHighMul: round(a * b / 2^31), ties as gemmlowp."""
    a = np.asarray(a, dtype=np.int64)
    b = np.asarray(b, dtype=np.int64)
    overflow = (a == b) & (a == INT32_MIN)
    ab = a * b  # |a * b| <= 2^62: fits int64
    nudge = np.where(ab >= 0, 1 << 30, 1 - (1 << 30))
    s = ab + nudge
    high = np.where(s >= 0, s >> 31, -((-s) >> 31))  # C++ '/' truncates toward zero
    return np.where(overflow, INT32_MAX, high)


def rounding_divide_by_pot(x, exponent):
    """gemmlowp's RoundingDivideByPOT: x / 2^exponent rounded half away from zero."""
    x = np.asarray(x, dtype=np.int64)
    exponent = np.asarray(exponent, dtype=np.int64)
    mask = (np.int64(1) << exponent) - 1
    remainder = x & mask
    threshold = (mask >> 1) + (x < 0).astype(np.int64)
    return (x >> exponent) + (remainder > threshold).astype(np.int64)


def multiply_by_quantized_multiplier(x, multiplier, shift):
    """TFLite's MultiplyByQuantizedMultiplier. The left shift saturates to int32 (TFLite's
    `x * (1 << left_shift)` is undefined on overflow; where it is defined the two agree)."""
    shift = np.asarray(shift, dtype=np.int64)
    left = np.maximum(shift, 0)
    right = np.maximum(-shift, 0)
    shifted = np.clip(np.asarray(x, dtype=np.int64) << left, INT32_MIN, INT32_MAX)
    return rounding_divide_by_pot(saturating_rounding_doubling_high_mul(shifted, multiplier), right)


def requantize(acc, multiplier, shift, out_zero_point, act_min, act_max, channel_axis):
    """acc (int64, already + bias) -> int8 along `channel_axis` with per-channel constants."""
    shape = [1] * acc.ndim
    shape[channel_axis] = -1
    m = np.asarray(multiplier, dtype=np.int64).reshape(shape)
    s = np.asarray(shift, dtype=np.int64).reshape(shape)
    if np.abs(acc).max(initial=0) > INT32_MAX:
        raise OverflowError('int32 accumulator overflow')
    out = multiply_by_quantized_multiplier(acc, m, s) + out_zero_point
    return np.clip(out, act_min, act_max).astype(np.int8)


# ---------------------------------------------------------------------------------------------
# The integer forward pass over a pynq.model.ModelFile message, batched: tensors are int8
# [N, C, H, W].


def _activation_range(layer, pb):
    zp = layer.output.zero_point
    if layer.WhichOneof('kind') in ('conv2d', 'dense'):
        kind = getattr(layer, layer.WhichOneof('kind'))
        if kind.activation == pb.ACTIVATION_RELU:
            return max(-128, zp), 127
    return -128, 127


def _conv2d(x, zp_in, layer, pb):
    c = layer.conv2d
    n = x.shape[0]
    xs = x.astype(np.float64) - zp_in  # padding below adds real 0, i.e. nothing
    w = np.frombuffer(c.weights, dtype=np.int8).astype(np.float64)
    try:
        # The same exact integer sums through torch's float64 convolution, which is many times
        # faster than the im2col below (every partial sum is an integer below 2^53: exact).
        import torch
        import torch.nn.functional as F
        xt = F.pad(torch.from_numpy(xs), (c.pad_left, c.pad_right, c.pad_top, c.pad_bottom))
        wt = torch.from_numpy(w.reshape(c.out_channels, c.in_channels, c.kernel_h, c.kernel_w))
        acc = F.conv2d(xt, wt, stride=(c.stride_h, c.stride_w)).numpy()
        acc = np.rint(acc).astype(np.int64)
    except ImportError:
        xs = np.pad(xs, ((0, 0), (0, 0), (c.pad_top, c.pad_bottom), (c.pad_left, c.pad_right)))
        win = np.lib.stride_tricks.sliding_window_view(xs, (c.kernel_h, c.kernel_w), axis=(2, 3))
        win = win[:, :, ::c.stride_h, ::c.stride_w]  # [N, C, OH, OW, KH, KW]
        oh, ow = win.shape[2], win.shape[3]
        cols = win.transpose(0, 2, 3, 1, 4, 5).reshape(n * oh * ow, -1)
        acc = (cols @ w.reshape(c.out_channels, -1).T).astype(np.int64)
        acc = acc.reshape(n, oh, ow, c.out_channels).transpose(0, 3, 1, 2)
    acc = acc + np.asarray(c.bias, dtype=np.int64).reshape(1, -1, 1, 1)
    lo, hi = _activation_range(layer, pb)
    return requantize(acc, c.requant.multiplier, c.requant.shift, layer.output.zero_point, lo, hi,
                      channel_axis=1)


def _dense(x, zp_in, layer, pb):
    d = layer.dense
    xs = x.reshape(x.shape[0], -1).astype(np.float64) - zp_in
    w = np.frombuffer(d.weights, dtype=np.int8).astype(np.float64).reshape(d.out_features, -1)
    acc = (xs @ w.T).astype(np.int64) + np.asarray(d.bias, dtype=np.int64)[None, :]
    lo, hi = _activation_range(layer, pb)
    out = requantize(acc, d.requant.multiplier, d.requant.shift, layer.output.zero_point, lo, hi,
                     channel_axis=1)
    return out.reshape(x.shape[0], d.out_features, 1, 1)


def _max_pool2d(x, layer):
    p = layer.max_pool2d
    win = np.lib.stride_tricks.sliding_window_view(x, (p.kernel_h, p.kernel_w), axis=(2, 3))
    return win[:, :, ::p.stride_h, ::p.stride_w].max(axis=(4, 5))


def _add(ta, za, tb, zb, layer, pb):
    a = layer.add
    left = np.int64(1) << a.left_shift
    sa = multiply_by_quantized_multiplier((ta.astype(np.int64) - za) * left, a.a_multiplier,
                                          a.a_shift)
    sb = multiply_by_quantized_multiplier((tb.astype(np.int64) - zb) * left, a.b_multiplier,
                                          a.b_shift)
    total = sa + sb
    if np.abs(total).max(initial=0) > INT32_MAX:
        raise OverflowError('int32 overflow in add')
    out = multiply_by_quantized_multiplier(total, a.output_multiplier, a.output_shift)
    out = out + layer.output.zero_point
    lo, hi = -128, 127
    if a.activation == pb.ACTIVATION_RELU:
        lo = max(-128, layer.output.zero_point)
    return np.clip(out, lo, hi).astype(np.int8)


def _global_average_pool(x, zp_in, layer):
    g = layer.global_average_pool
    acc = (x.astype(np.int64) - zp_in).sum(axis=(2, 3), keepdims=True)
    out = multiply_by_quantized_multiplier(acc, g.multiplier, g.shift) + layer.output.zero_point
    return np.clip(out, -128, 127).astype(np.int8)


def input_tensor(model, pb, pixels):
    """The int8 tensor the first layer reads: the model's resampling, then its encoding."""
    assert model.input.encoding == pb.InputSpec.UINT8_MINUS_128
    x = np.asarray(pixels, dtype=np.int64)
    if model.input.HasField('resample'):
        r = model.input.resample
        if r.crop_height or r.crop_width:
            x = x[:, :, r.crop_top:r.crop_top + r.crop_height,
                  r.crop_left:r.crop_left + r.crop_width]
        f = r.downscale
        if f > 1:
            n, c, h, w = x.shape
            blocks = x.reshape(n, c, h // f, f, w // f, f).sum(axis=(3, 5))
            x = (blocks + (f * f) // 2) // (f * f)
    return (x - 128).astype(np.int8)


def run_integer_model(model, pb, pixels, batch=500):
    """Runs ModelFile `model` on uint8 pixels [N, C, H, W]; returns int8 logits [N, classes]."""
    outs = []
    for i in range(0, len(pixels), batch):
        tensors = {-1: (input_tensor(model, pb, pixels[i:i + batch]),
                        model.input.quant.zero_point)}
        for li, layer in enumerate(model.layers):
            src = layer.inputs[0] if layer.inputs else li - 1
            t, zp_in = tensors[src]
            kind = layer.WhichOneof('kind')
            if kind == 'conv2d':
                y = _conv2d(t, zp_in, layer, pb)
            elif kind == 'dense':
                y = _dense(t, zp_in, layer, pb)
            elif kind == 'max_pool2d':
                y = _max_pool2d(t, layer)
            elif kind == 'add':
                tb, zb = tensors[layer.inputs[1]]
                y = _add(t, zp_in, tb, zb, layer, pb)
            elif kind == 'global_average_pool':
                y = _global_average_pool(t, zp_in, layer)
            elif kind == 'binary_dense':
                import binary  # noqa: E402  (the BNN arithmetic, models/train/binary.py)
                y = binary.binary_dense(t, zp_in, layer, pb)
            else:
                raise ValueError(f'layer {li}: kind {kind} not implemented')
            tensors[li] = (y, layer.output.zero_point)
        outs.append(tensors[len(model.layers) - 1][0].reshape(len(tensors[-1][0]), -1))
    return np.concatenate(outs)
