"""The integer arithmetic of BinaryDense (proto/model.proto) in NumPy, and its weight packing.

A BinaryDense layer reads its int8 input as v = q - input zero point (BIPOLAR: -1 or +1;
UNSIGNED: 0 .. 2^input_bits - 1), multiplies it by +-1 weights stored one bit each, and turns the
exact accumulator acc[o] = sum_i w[o][i] * v[i] into either

  THRESHOLDS:  n = #{k : acc >= t[o][k]}, written as 2n - 1 (BIPOLAR) or n (UNSIGNED), or
  REQUANTIZED: clamp(MultiplyByQuantizedMultiplier(acc + bias[o], m[o], s[o]) + zp, -128, 127).

The accumulator is computed here as a plain matrix product; the kernels compute the same integer
with XNOR-popcount (BIPOLAR: acc = in_features - 2 popcount(w ^ x)) or bit planes (UNSIGNED:
acc = sum_b 2^b (2 popcount(w & x_b) - popcount(x_b))). `popcount_accumulator` computes it that
way too, for checking the identities (`python3 binary.py` runs the check).
"""

import numpy as np

import quant

WORD_BITS = 64


# ---------------------------------------------------------------------------------------------
# Weight packing: rows of ceil(in_features / 64) little-endian uint64 words, input i is bit
# (i % 64) of word i / 64, 1 = +1, 0 = -1, unused bits 0.


def words_per_row(in_features):
    return (in_features + WORD_BITS - 1) // WORD_BITS


def pack_bits(bits):
    """bool/0-1 array [rows, in_features] -> bytes of the packed rows (unused bits 0)."""
    bits = np.asarray(bits, dtype=bool)
    rows, n = bits.shape
    padded = np.zeros((rows, words_per_row(n) * WORD_BITS), dtype=bool)
    padded[:, :n] = bits
    # packbits 'little': bit j of byte k is element 8k + j; little-endian words put byte 8w + b at
    # bits 8b..8b+7 of word w, so element i lands on bit i % 64 of word i / 64.
    return np.packbits(padded, axis=1, bitorder='little').tobytes()


def pack_weights(w):
    """A {-1, +1} matrix [out_features, in_features] -> the BinaryDense.weights bytes."""
    w = np.asarray(w)
    if w.ndim != 2 or not np.isin(w, (-1, 1)).all():
        raise ValueError('binary weights must be a 2-D matrix of -1 and +1')
    return pack_bits(w > 0)


def unpack_weights(data, out_features, in_features):
    """BinaryDense.weights bytes -> int8 {-1, +1} matrix [out_features, in_features]."""
    words = words_per_row(in_features)
    if len(data) != out_features * words * 8:
        raise ValueError(f'weights: {len(data)} bytes, expected {out_features} rows of {words} '
                         f'uint64 words ({out_features * words * 8} bytes)')
    raw = np.frombuffer(data, dtype=np.uint8).reshape(out_features, words * 8)
    bits = np.unpackbits(raw, axis=1, bitorder='little')
    if bits[:, in_features:].any():
        raise ValueError('weights: unused bits of a row\'s last word are not 0')
    return (bits[:, :in_features].astype(np.int8) * 2 - 1)


# ---------------------------------------------------------------------------------------------
# The layer.


def _check_input(v, values, bits, pb):
    """Raises ValueError unless every v (int64) is in the declared input range."""
    if values == pb.BinaryDense.BIPOLAR:
        if bits != 1:
            raise ValueError(f'BIPOLAR input with input_bits {bits} (must be 1)')
        if not np.isin(v, (-1, 1)).all():
            bad = v[~np.isin(v, (-1, 1))][0]
            raise ValueError(f'BIPOLAR input value {bad} (q - zero point must be -1 or +1)')
    elif values == pb.BinaryDense.UNSIGNED:
        if not 1 <= bits <= 8:
            raise ValueError(f'UNSIGNED input with input_bits {bits} (must be 1..8)')
        if v.size and (v.min() < 0 or v.max() > (1 << bits) - 1):
            bad = v.min() if v.min() < 0 else v.max()
            raise ValueError(f'UNSIGNED {bits}-bit input value {bad} '
                             f'(q - zero point must be 0..{(1 << bits) - 1})')
    else:
        raise ValueError(f'input_values {values} unspecified or unknown')


def accumulate(v, w):
    """acc = v @ w.T exactly: v int64 [N, in], w {-1,+1} [out, in] -> int64 [N, out].

    As a float64 product: every term is at most 255 in magnitude and in_features < 2^45, so each
    partial sum is an integer below 2^53, exact in float64 in any order."""
    return (v.astype(np.float64) @ w.astype(np.float64).T).astype(np.int64)


def popcount_accumulator(v, w, values, bits):
    """The same accumulator by the kernels' formulas (XNOR-popcount or bit planes), slowly."""
    x = v.astype(np.int64)
    wb = w > 0
    popcount = lambda a: a.sum(axis=-1, dtype=np.int64)  # noqa: E731
    if values == 'bipolar':
        xb = x > 0
        return x.shape[1] - 2 * popcount(wb[None, :, :] ^ xb[:, None, :])
    acc = 0
    for b in range(bits):
        plane = ((x >> b) & 1).astype(bool)
        acc = acc + (1 << b) * (2 * popcount(wb[None, :, :] & plane[:, None, :])
                                - popcount(plane)[:, None])
    return acc


def thresholds_of(layer_msg, pb):
    """The THRESHOLDS layer's thresholds as int64 [out_features, k], checked."""
    b = layer_msg
    if b.output_values == pb.BinaryDense.BIPOLAR:
        if b.output_bits != 1:
            raise ValueError(f'BIPOLAR output with output_bits {b.output_bits} (must be 1)')
        k = 1
    elif b.output_values == pb.BinaryDense.UNSIGNED:
        # An n of 2^output_bits - 1 must fit the int8 output tensor (zero point 0).
        if not 1 <= b.output_bits <= 7:
            raise ValueError(f'UNSIGNED output with output_bits {b.output_bits} (must be 1..7 '
                             f'for the count to fit int8)')
        k = (1 << b.output_bits) - 1
    else:
        raise ValueError(f'output_values {b.output_values} unspecified or unknown')
    if len(b.thresholds) != b.out_features * k:
        raise ValueError(f'{len(b.thresholds)} thresholds, expected {b.out_features} x {k}')
    t = np.asarray(b.thresholds, dtype=np.int64).reshape(b.out_features, k)
    if (np.diff(t, axis=1) < 0).any():
        raise ValueError('thresholds of a channel are not ascending')
    return t


def binary_dense(x, zp_in, layer, pb):
    """Runs `layer` (a Layer with binary_dense set) on int8 x [N, C, H, W] (read flattened CHW)
    with input zero point zp_in; returns int8 [N, out_features, 1, 1]."""
    b = layer.binary_dense
    n = x.shape[0]
    v = x.reshape(n, -1).astype(np.int64) - int(zp_in)
    if v.shape[1] != b.in_features:
        raise ValueError(f'{layer.name}: input has {v.shape[1]} elements, in_features is '
                         f'{b.in_features}')
    if not 1 <= b.out_features <= 65536:
        raise ValueError(f'{layer.name}: out_features {b.out_features} not in 1..65536')
    try:
        _check_input(v, b.input_values, b.input_bits, pb)
        w = unpack_weights(b.weights, b.out_features, b.in_features)
    except ValueError as e:
        raise ValueError(f'{layer.name}: {e}') from None
    acc = accumulate(v, w)

    if b.output == pb.BinaryDense.THRESHOLDS:
        try:
            t = thresholds_of(b, pb)
        except ValueError as e:
            raise ValueError(f'{layer.name}: {e}') from None
        count = (acc[:, :, None] >= t[None, :, :]).sum(axis=2)
        out = 2 * count - 1 if b.output_values == pb.BinaryDense.BIPOLAR else count
        out = out.astype(np.int8)
    elif b.output == pb.BinaryDense.REQUANTIZED:
        if not (len(b.bias) == len(b.requant.multiplier) == len(b.requant.shift)
                == b.out_features):
            raise ValueError(f'{layer.name}: REQUANTIZED needs one bias, multiplier and shift '
                             f'per output channel')
        acc = acc + np.asarray(b.bias, dtype=np.int64)[None, :]
        out = quant.requantize(acc, b.requant.multiplier, b.requant.shift,
                               layer.output.zero_point, -128, 127, channel_axis=1)
    else:
        raise ValueError(f'{layer.name}: output {b.output} unspecified or unknown')
    return out.reshape(n, b.out_features, 1, 1)


def _self_test():
    """Packing round trip and the popcount identities on random data."""
    rng = np.random.default_rng(0)
    for in_features in (1, 63, 64, 65, 130, 784):
        w = rng.choice(np.array([-1, 1], dtype=np.int8), size=(7, in_features))
        data = pack_weights(w)
        assert len(data) == 7 * words_per_row(in_features) * 8
        assert (unpack_weights(data, 7, in_features) == w).all()
        # Bit i % 64 of little-endian word i / 64 is weight i.
        words = np.frombuffer(data, dtype='<u8').reshape(7, -1)
        for i in (0, in_features // 2, in_features - 1):
            assert ((words[:, i // 64] >> np.uint64(i % 64)) & np.uint64(1) == (w[:, i] > 0)).all()
        xb = rng.choice(np.array([-1, 1]), size=(5, in_features))
        assert (accumulate(xb, w) == popcount_accumulator(xb, w, 'bipolar', 1)).all()
        for bits in (1, 2, 8):
            xu = rng.integers(0, 1 << bits, size=(5, in_features))
            assert (accumulate(xu, w) == popcount_accumulator(xu, w, 'unsigned', bits)).all()
    print('binary.py self-test passed')


if __name__ == '__main__':
    _self_test()
