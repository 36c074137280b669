#include "accel/cpu/conv_kernels.h"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "accel/cpu/fast_kernels.h"
#include "accel/cpu/simd.h"

namespace pynq::accel::cpu::fast {
namespace {

// ---- The portable kernel: a matrix product over a packed im2col. ----
//
// The patch of every output pixel (its in_channels * kernel_h * kernel_w inputs, minus the input
// zero point, 0 where the window hangs over the padding) is packed as int16, in blocks of kLanes
// pixels and pairs of inputs: x[block][kp][j][lane] holds input 2kp + j of pixel
// block * kLanes + lane. The weights are packed to match: w2[o][kp] = the int16 pair
// (w[o][2kp], w[o][2kp + 1]) in one int32. Then acc[o][p] = sum_kp x[kp][0] w0 + x[kp][1] w1: a
// widening multiply-accumulate of contiguous int16 lanes, vectorized on every target (NEON:
// vmovl.s16, vmul/vmla.i32; x86: vpmovsxwd, vpmulld). Depth is padded to even with zeros and the
// pixel count to whole blocks, which adds nothing and is not written out.

// The VNNI kernel's tile (see below).
[[maybe_unused]] constexpr int kTilePixels = 6;    // 16-pixel vectors per tile
[[maybe_unused]] constexpr int kTileChannels = 4;  // output channels per tile: 6 x 4

constexpr int kLanes = 16;      // pixels per block
constexpr int kRowStep = 4;     // output channels per pass
constexpr int kPixelStep = 32;  // pixel count padding

// Row k of the (unpacked) im2col: input k = (c, ky, kx) of every output pixel, minus the input
// zero point, 0 where it falls in the padding; `padded` entries, the ones past the last pixel 0.
// Contiguous runs of input for stride 1, so the copies vectorize.
PYNQ_MULTIVERSION
void FillPatchRow(const ConvParams& params, const TensorShape& in, const FilterShape& f,
                  const TensorShape& out, size_t padded, size_t k, const int8_t* input,
                  int16_t* row) {
  const size_t taps = static_cast<size_t>(f.height) * static_cast<size_t>(f.width);
  if (k >= static_cast<size_t>(f.in_channels) * taps) {  // the zero pad to an even depth
    std::memset(row, 0, padded * sizeof(int16_t));
    return;
  }
  const int c = static_cast<int>(k / taps);
  const int ky = static_cast<int>(k % taps) / f.width;
  const int kx = static_cast<int>(k % taps) % f.width;
  const int8_t* plane = input + static_cast<size_t>(c) * in.height * in.width;
  const auto offset = static_cast<int16_t>(params.input_offset);
  const int sw = params.stride_width;
  // Output columns whose input column ox * sw + kx - pad_left lies inside 0..in.width - 1.
  const int lead = params.padding_left - kx;  // ix = ox * sw - lead
  const int ox_lo = lead <= 0 ? 0 : std::min(out.width, (lead + sw - 1) / sw);
  const int last = in.width - 1 + lead;
  const int ox_hi = last < 0 ? 0 : std::min(out.width, last / sw + 1);
  for (int oy = 0; oy < out.height; ++oy) {
    int16_t* dst = row + static_cast<size_t>(oy) * out.width;
    const int iy = oy * params.stride_height + ky - params.padding_top;
    if (iy < 0 || iy >= in.height || ox_lo >= ox_hi) {
      std::memset(dst, 0, static_cast<size_t>(out.width) * sizeof(int16_t));
      continue;
    }
    const int8_t* src = plane + static_cast<size_t>(iy) * in.width;
    for (int ox = 0; ox < ox_lo; ++ox) dst[ox] = 0;
    if (sw == 1) {
      const int8_t* __restrict s = src - lead + ox_lo;
      int16_t* __restrict d = dst + ox_lo;
      const int n = ox_hi - ox_lo;
      int i = 0;
      // Fixed blocks of 16, which the compiler turns into one vector widen-and-add each.
      for (; i + 16 <= n; i += 16) {
        for (int j = 0; j < 16; ++j) d[i + j] = static_cast<int16_t>(s[i + j] + offset);
      }
      for (; i < n; ++i) d[i] = static_cast<int16_t>(s[i] + offset);
    } else {
      for (int ox = ox_lo; ox < ox_hi; ++ox) {
        dst[ox] = static_cast<int16_t>(src[ox * sw - lead] + offset);
      }
    }
    for (int ox = ox_hi; ox < out.width; ++ox) dst[ox] = 0;
  }
  const size_t pixels = static_cast<size_t>(out.height) * out.width;
  std::memset(row + pixels, 0, (padded - pixels) * sizeof(int16_t));
}

// Copies rows 2kp and 2kp + 1 into the packed layout.
PYNQ_MULTIVERSION
void PackPair(const int16_t* r0, const int16_t* r1, size_t padded, size_t pairs, size_t kp,
              int16_t* x) {
  for (size_t b = 0; b < padded / kLanes; ++b) {
    int16_t* dst = x + (b * pairs + kp) * kLanes * 2;
    std::memcpy(dst, r0 + b * kLanes, kLanes * sizeof(int16_t));
    std::memcpy(dst + kLanes, r1 + b * kLanes, kLanes * sizeof(int16_t));
  }
}

// GCC's generic vectors: one lane per pixel of a block. Each target lowers them to its own
// registers (NEON: four q registers per int32 vector; SSE2, AVX2, AVX-512 in the x86 clones), so
// the product vectorizes on every target; plain loops here were left scalar by GCC 12 (the lane
// loop was unrolled before the vectorizer saw it).
typedef int16_t Int16x16 __attribute__((vector_size(32)));
typedef int32_t Int32x16 __attribute__((vector_size(64)));

// Loads 16 int16 at `p` into `out`, widened (a macro: a function returning a vector this wide
// would change the ABI between the clones).
#define PYNQ_LOAD_WIDENED(out, p)                       \
  do {                                                  \
    Int16x16 narrow_;                                   \
    std::memcpy(&narrow_, (p), sizeof(narrow_));        \
    (out) = __builtin_convertvector(narrow_, Int32x16); \
  } while (0)

// The product over the packed layout, four output channels per pass.
PYNQ_MULTIVERSION
void PackedMatMulPortable(const int32_t* w2, const int16_t* x, int rows, size_t padded,
                          size_t pairs, int32_t* acc) {
  const size_t blocks = padded / kLanes;
  for (size_t b = 0; b < blocks; ++b) {
    const int16_t* xb = x + b * pairs * kLanes * 2;
    int o = 0;
    for (; o + kRowStep <= rows; o += kRowStep) {
      Int32x16 a[kRowStep] = {};
      const int32_t* w0 = w2 + static_cast<size_t>(o) * pairs;
      for (size_t kp = 0; kp < pairs; ++kp) {
        Int32x16 x0, x1;
        PYNQ_LOAD_WIDENED(x0, xb + kp * kLanes * 2);
        PYNQ_LOAD_WIDENED(x1, xb + kp * kLanes * 2 + kLanes);
        for (int r = 0; r < kRowStep; ++r) {
          int16_t w[2];
          std::memcpy(w, &w0[r * pairs + kp], 4);
          a[r] += x0 * static_cast<int32_t>(w[0]) + x1 * static_cast<int32_t>(w[1]);
        }
      }
      for (int r = 0; r < kRowStep; ++r) {
        std::memcpy(acc + static_cast<size_t>(o + r) * padded + b * kLanes, &a[r], sizeof(a[r]));
      }
    }
    for (; o < rows; ++o) {
      Int32x16 a0 = {};
      const int32_t* w0 = w2 + static_cast<size_t>(o) * pairs;
      for (size_t kp = 0; kp < pairs; ++kp) {
        int16_t w[2];
        std::memcpy(w, &w0[kp], 4);
        Int32x16 x0, x1;
        PYNQ_LOAD_WIDENED(x0, xb + kp * kLanes * 2);
        PYNQ_LOAD_WIDENED(x1, xb + kp * kLanes * 2 + kLanes);
        a0 += x0 * static_cast<int32_t>(w[0]) + x1 * static_cast<int32_t>(w[1]);
      }
      std::memcpy(acc + static_cast<size_t>(o) * padded + b * kLanes, &a0, sizeof(a0));
    }
  }
}
#undef PYNQ_LOAD_WIDENED

#if PYNQ_X86_AVX512
// ---- The AVX-512 VNNI direct kernel. ----
//
// Padded input: 32-bit words P[((quad * padded_rows + row) * stride_w + phase) * phase_cols + col]
// holding the bytes u = q + 128 of channels 4 quad .. 4 quad + 3 at padded row `row` and padded
// column col * stride_w + phase; every position outside the input (and every channel past the
// last) holds z + 128, the input zero point. Output vector v (16 consecutive pixels of row
// oy = v / row_vectors from column xs = 16 (v % row_vectors)) at tap (quad, ky, kx) reads the 16
// words from P + oy * stride_h * stride_w * phase_cols + xs + tap_offset[quad, ky, kx].
// Weights: weights[(block * taps + tap) * 4 + o] = the int8 weights of output channel
// 4 block + o for the tap's 4 input channels, as one word.

// What a tile needs besides its pixel vectors.
struct TileContext {
  const int32_t* padded;      // the padded input
  const int32_t* weights;     // this block's: taps x kTileChannels words
  const int32_t* tap_offset;  // per tap
  int taps;
  const int32_t* bias;        // this block's kTileChannels (zero point folded in)
  const int32_t* multiplier;  // this block's
  const int32_t* shift;
  int channels;  // valid output channels of this block (1..kTileChannels)
  const ConvParams* params;
  size_t out_plane;  // output pixels per channel
};

// One tile: NP pixel vectors (padded-input word offsets `base`, output pixel offsets `out_at`,
// `valid` pixels each) by kTileChannels output channels, over every tap, then requantized and
// stored. The accumulators stay in registers (the loops over p and o unroll completely).
template <int NP>
PYNQ_AVX512_TARGET void VnniTile(const TileContext& t, const int* base, const size_t* out_at,
                                 const int* valid, int8_t* output) {
  __m512i acc[NP][kTileChannels];
#pragma GCC unroll 8
  for (int p = 0; p < NP; ++p) {
#pragma GCC unroll 4
    for (int o = 0; o < kTileChannels; ++o) acc[p][o] = _mm512_setzero_si512();
  }
  for (int k = 0; k < t.taps; ++k) {
    const int32_t* src = t.padded + t.tap_offset[k];
    __m512i in[NP];
#pragma GCC unroll 8
    for (int p = 0; p < NP; ++p) in[p] = _mm512_loadu_si512(src + base[p]);
    const int32_t* w = t.weights + static_cast<size_t>(k) * kTileChannels;
#pragma GCC unroll 4
    for (int o = 0; o < kTileChannels; ++o) {
      const __m512i wb = _mm512_set1_epi32(w[o]);
#pragma GCC unroll 8
      for (int p = 0; p < NP; ++p) acc[p][o] = _mm512_dpbusd_epi32(acc[p][o], in[p], wb);
    }
  }
  const ConvParams& params = *t.params;
#pragma GCC unroll 4
  for (int o = 0; o < kTileChannels; ++o) {
    if (o >= t.channels) break;
    const __m512i bias = _mm512_set1_epi32(t.bias[o]);
#pragma GCC unroll 8
    for (int p = 0; p < NP; ++p) {
      const __m128i q = RequantizeVector(
          _mm512_add_epi32(acc[p][o], bias), t.multiplier[o], t.shift[o], params.output_offset,
          params.quantized_activation_min, params.quantized_activation_max);
      _mm_mask_storeu_epi8(output + static_cast<size_t>(o) * t.out_plane + out_at[p],
                           static_cast<__mmask16>((1u << valid[p]) - 1), q);
    }
  }
}

// Interleaves 4 lines of bytes into words (byte i of word c = lines[i][c]), n words rounded up to
// 16: it reads up to 15 bytes past n in each line and writes up to 15 words past n (the callers
// leave room for both).
PYNQ_AVX512_TARGET
void InterleaveQuad(const uint8_t* l0, const uint8_t* l1, const uint8_t* l2, const uint8_t* l3,
                    int n, int32_t* out) {
  for (int c = 0; c < n; c += 16) {
    const __m128i r0 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(l0 + c));
    const __m128i r1 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(l1 + c));
    const __m128i r2 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(l2 + c));
    const __m128i r3 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(l3 + c));
    const __m128i t0 = _mm_unpacklo_epi8(r0, r1);
    const __m128i t1 = _mm_unpackhi_epi8(r0, r1);
    const __m128i t2 = _mm_unpacklo_epi8(r2, r3);
    const __m128i t3 = _mm_unpackhi_epi8(r2, r3);
    auto* d = reinterpret_cast<__m128i*>(out + c);
    _mm_storeu_si128(d, _mm_unpacklo_epi16(t0, t2));
    _mm_storeu_si128(d + 1, _mm_unpackhi_epi16(t0, t2));
    _mm_storeu_si128(d + 2, _mm_unpacklo_epi16(t1, t3));
    _mm_storeu_si128(d + 3, _mm_unpackhi_epi16(t1, t3));
  }
}
#endif  // PYNQ_X86_AVX512

}  // namespace

bool HasConvVnni() {
#if PYNQ_X86_AVX512
  static const bool has = CpuHasAvx512Base() && __builtin_cpu_supports("avx512vnni");
  return has;
#else
  return false;
#endif
}

ConvPlan::ConvPlan(const ConvParams& params, const int32_t* output_multiplier,
                   const int32_t* output_shift, const TensorShape& input_shape,
                   const FilterShape& filter_shape, const int8_t* filter_data,
                   const int32_t* bias_data, const TensorShape& output_shape, bool portable)
    : params_(params),
      multiplier_(output_multiplier),
      shift_(output_shift),
      in_(input_shape),
      filter_(filter_shape),
      out_(output_shape),
      vnni_(!portable && HasConvVnni()) {
  if (vnni_) {
    InitVnni(filter_data, bias_data);
  } else {
    InitPortable(filter_data, bias_data);
  }
}

void ConvPlan::InitPortable(const int8_t* filter_data, const int32_t* bias_data) {
  pixels_ = static_cast<size_t>(out_.height) * static_cast<size_t>(out_.width);
  padded_pixels_ = (pixels_ + kPixelStep - 1) / kPixelStep * kPixelStep;
  const size_t depth = static_cast<size_t>(filter_.in_channels) * filter_.height * filter_.width;
  pairs_ = (depth + 1) / 2;
  weights_.assign(static_cast<size_t>(filter_.out_channels) * pairs_, 0);
  for (int o = 0; o < filter_.out_channels; ++o) {
    const int8_t* src = filter_data + static_cast<size_t>(o) * depth;
    for (size_t kp = 0; kp < pairs_; ++kp) {
      const int16_t pair[2] = {src[2 * kp], 2 * kp + 1 < depth ? src[2 * kp + 1] : int8_t{0}};
      std::memcpy(&weights_[static_cast<size_t>(o) * pairs_ + kp], pair, sizeof(int32_t));
    }
  }
  bias_.assign(bias_data, bias_data + filter_.out_channels);
  scratch_bytes_ = AlignUp(padded_pixels_ * pairs_ * 2 * sizeof(int16_t)) +  // packed patches
                   AlignUp(2 * padded_pixels_ * sizeof(int16_t)) +           // two im2col rows
                   AlignUp(padded_pixels_ * filter_.out_channels * sizeof(int32_t));  // acc
}

void ConvPlan::InitVnni(const int8_t* filter_data, const int32_t* bias_data) {
  const int sh = params_.stride_height;
  const int sw = params_.stride_width;
  quads_ = (filter_.in_channels + 3) / 4;
  row_vectors_ = (out_.width + 15) / 16;
  padded_rows_ = (out_.height - 1) * sh + filter_.height;
  phase_cols_ = ((row_vectors_ * 16 - 1) * sw + filter_.width + sw - 1) / sw;
  const int taps = quads_ * filter_.height * filter_.width;
  tap_offset_.resize(static_cast<size_t>(taps));
  for (int g = 0; g < quads_; ++g) {
    for (int ky = 0; ky < filter_.height; ++ky) {
      for (int kx = 0; kx < filter_.width; ++kx) {
        tap_offset_[static_cast<size_t>((g * filter_.height + ky) * filter_.width + kx)] =
            ((g * padded_rows_ + ky) * sw + kx % sw) * phase_cols_ + kx / sw;
      }
    }
  }
  const int blocks = (filter_.out_channels + kTileChannels - 1) / kTileChannels;
  weights_.assign(static_cast<size_t>(blocks) * taps * kTileChannels, 0);
  bias_.assign(static_cast<size_t>(blocks) * kTileChannels, 0);
  const int32_t pad_u = 128 - params_.input_offset;  // z + 128
  const size_t kk = static_cast<size_t>(filter_.height) * filter_.width;
  for (int o = 0; o < filter_.out_channels; ++o) {
    const int8_t* src = filter_data + static_cast<size_t>(o) * filter_.in_channels * kk;
    int32_t sum = 0;
    for (int c = 0; c < filter_.in_channels; ++c) {
      for (size_t k = 0; k < kk; ++k) {
        const int8_t w = src[static_cast<size_t>(c) * kk + k];
        sum += w;
        const size_t tap = static_cast<size_t>(c / 4) * kk + k;
        auto* word = reinterpret_cast<uint8_t*>(
            &weights_[((static_cast<size_t>(o / kTileChannels) * taps) + tap) * kTileChannels +
                      static_cast<size_t>(o % kTileChannels)]);
        word[c % 4] = static_cast<uint8_t>(w);
      }
    }
    bias_[static_cast<size_t>(o)] = bias_data[o] - pad_u * sum;
  }
  const size_t padded_words = static_cast<size_t>(quads_) * padded_rows_ * sw * phase_cols_;
  // See PrepareVnni.
  scratch_bytes_ = AlignUp(padded_words * 4 + 64) +
                   4 * AlignUp(static_cast<size_t>(sw) * phase_cols_ + 64) +
                   (sw == 2 ? 8 * AlignUp(static_cast<size_t>(phase_cols_) + 64) : 0);
}

void ConvPlan::Run(const int8_t* input, int8_t* output, void* scratch) const {
  Prepare(input, scratch);
  Compute(scratch, 0, tiles(), output);
}

void ConvPlan::Prepare(const int8_t* input, void* scratch) const {
  if (vnni_) {
    PrepareVnni(input, scratch);
  } else {
    PreparePortable(input, scratch);
  }
}

void ConvPlan::Compute(void* scratch, int tile_begin, int tile_end, int8_t* output) const {
  if (vnni_) {
    ComputeVnni(scratch, tile_begin, tile_end, output);
  } else {
    ComputePortable(scratch, tile_begin, tile_end, output);
  }
}

// Scratch: the packed patches, two im2col rows, the accumulators (each part 64-byte aligned: the
// scratch is, and every size is rounded up to 64).
void ConvPlan::PreparePortable(const int8_t* input, void* scratch) const {
  auto* base = static_cast<uint8_t*>(scratch);
  const size_t x_bytes = AlignUp(padded_pixels_ * pairs_ * 2 * sizeof(int16_t));
  auto* x = static_cast<int16_t*>(static_cast<void*>(base));
  auto* r0 = static_cast<int16_t*>(static_cast<void*>(base + x_bytes));
  int16_t* r1 = r0 + padded_pixels_;
  for (size_t kp = 0; kp < pairs_; ++kp) {
    FillPatchRow(params_, in_, filter_, out_, padded_pixels_, 2 * kp, input, r0);
    FillPatchRow(params_, in_, filter_, out_, padded_pixels_, 2 * kp + 1, input, r1);
    PackPair(r0, r1, padded_pixels_, pairs_, kp, x);
  }
}

void ConvPlan::ComputePortable(void* scratch, int tile_begin, int tile_end, int8_t* output) const {
  auto* base = static_cast<uint8_t*>(scratch);
  const size_t x_bytes = AlignUp(padded_pixels_ * pairs_ * 2 * sizeof(int16_t));
  const size_t row_bytes = AlignUp(2 * padded_pixels_ * sizeof(int16_t));
  const auto* x = static_cast<const int16_t*>(static_cast<void*>(base));
  auto* acc = static_cast<int32_t*>(static_cast<void*>(base + x_bytes + row_bytes));
  const int first = 4 * tile_begin;
  const int last = std::min(filter_.out_channels, 4 * tile_end);
  if (first >= last) return;
  PackedMatMulPortable(weights_.data() + static_cast<size_t>(first) * pairs_, x, last - first,
                       padded_pixels_, pairs_, acc + static_cast<size_t>(first) * padded_pixels_);
  for (int o = first; o < last; ++o) {
    RequantizeRow(acc + static_cast<size_t>(o) * padded_pixels_, pixels_, bias_[o], multiplier_[o],
                  shift_[o], params_.output_offset, params_.quantized_activation_min,
                  params_.quantized_activation_max, output + static_cast<size_t>(o) * pixels_);
  }
}

// Scratch: the padded input (and 64 bytes, which InterleaveQuad's last whole vector may write
// past its end), then 4 lines of one padded row (all phases), then, for stride 2, 4 x 2 phase
// lines; each line with 64 bytes to spare, for whole-vector reads.
PYNQ_AVX512_TARGET
void ConvPlan::PrepareVnni(const int8_t* input, void* scratch) const {
#if PYNQ_X86_AVX512
  const int sw = params_.stride_width;
  const int line_len = sw * phase_cols_;
  const size_t padded_words = static_cast<size_t>(quads_) * padded_rows_ * sw * phase_cols_;
  auto* padded = static_cast<int32_t*>(scratch);
  auto* lines = static_cast<uint8_t*>(scratch) + AlignUp(padded_words * 4 + 64);
  const size_t line_stride = AlignUp(static_cast<size_t>(line_len) + 64);
  uint8_t* phase_lines = lines + 4 * line_stride;
  const size_t phase_stride = AlignUp(static_cast<size_t>(phase_cols_) + 64);
  const auto pad_u = static_cast<uint8_t>(128 - params_.input_offset);
  const __m512i pad_word = _mm512_set1_epi8(static_cast<char>(pad_u));
  const __m512i flip = _mm512_set1_epi8(static_cast<char>(0x80));  // q + 128 = q ^ 0x80
  const size_t plane = static_cast<size_t>(in_.height) * in_.width;
  // Input columns [col_lo, col_hi) of a padded line hold input columns col - pad_left.
  const int col_lo = std::max(0, params_.padding_left);
  const int col_hi = std::min(line_len, params_.padding_left + in_.width);
  const size_t row_words = static_cast<size_t>(sw) * phase_cols_;

  for (int g = 0; g < quads_; ++g) {
    for (int row = 0; row < padded_rows_; ++row) {
      int32_t* dst = padded + (static_cast<size_t>(g) * padded_rows_ + row) * row_words;
      const int iy = row - params_.padding_top;
      if (iy < 0 || iy >= in_.height) {  // a row of the padding: every word the pad
        for (size_t w = 0; w < row_words; w += 16) _mm512_storeu_si512(dst + w, pad_word);
        continue;
      }
      uint8_t* line[4];
      for (int i = 0; i < 4; ++i) {
        line[i] = lines + static_cast<size_t>(i) * line_stride;
        std::memset(line[i], pad_u, static_cast<size_t>(line_len));
        const int c = 4 * g + i;
        if (c >= in_.channels) continue;
        const int8_t* src = input + static_cast<size_t>(c) * plane +
                            static_cast<size_t>(iy) * in_.width + (col_lo - params_.padding_left);
        for (int col = col_lo; col < col_hi; col += 64) {
          const int n = std::min(64, col_hi - col);
          const __mmask64 m = n == 64 ? ~__mmask64{0} : (__mmask64{1} << n) - 1;
          const __m512i v = _mm512_maskz_loadu_epi8(m, src + (col - col_lo));
          _mm512_mask_storeu_epi8(line[i] + col, m, _mm512_xor_si512(v, flip));
        }
      }
      if (sw == 1) {
        InterleaveQuad(line[0], line[1], line[2], line[3], phase_cols_, dst);
        continue;
      }
      if (sw == 2) {  // even and odd columns: the low and high bytes of 16-bit lanes
        uint8_t* ph[2][4];
        for (int i = 0; i < 4; ++i) {
          ph[0][i] = phase_lines + static_cast<size_t>(i) * phase_stride;
          ph[1][i] = phase_lines + static_cast<size_t>(4 + i) * phase_stride;
          for (int pc = 0; pc < line_len; pc += 64) {
            const __m512i x = _mm512_loadu_si512(line[i] + pc);
            _mm256_storeu_si256(reinterpret_cast<__m256i*>(ph[0][i] + pc / 2),
                                _mm512_cvtepi16_epi8(x));
            _mm256_storeu_si256(reinterpret_cast<__m256i*>(ph[1][i] + pc / 2),
                                _mm512_cvtepi16_epi8(_mm512_srli_epi16(x, 8)));
          }
        }
        for (int s = 0; s < 2; ++s) {
          InterleaveQuad(ph[s][0], ph[s][1], ph[s][2], ph[s][3], phase_cols_,
                         dst + static_cast<size_t>(s) * phase_cols_);
        }
        continue;
      }
      for (int s = 0; s < sw; ++s) {  // larger strides (none in the zoo): word by word
        int32_t* d = dst + static_cast<size_t>(s) * phase_cols_;
        for (int col = 0; col < phase_cols_; ++col) {
          const int pc = col * sw + s;
          d[col] = static_cast<int32_t>(static_cast<uint32_t>(line[0][pc]) |
                                        (static_cast<uint32_t>(line[1][pc]) << 8) |
                                        (static_cast<uint32_t>(line[2][pc]) << 16) |
                                        (static_cast<uint32_t>(line[3][pc]) << 24));
        }
      }
    }
  }
#else
  (void)input, (void)scratch;
#endif
}

PYNQ_AVX512_TARGET
void ConvPlan::ComputeVnni(const void* scratch, int tile_begin, int tile_end,
                           int8_t* output) const {
#if PYNQ_X86_AVX512
  const int sw = params_.stride_width;
  // Tiles of kTilePixels vectors by kTileChannels output channels.
  const int vectors = out_.height * row_vectors_;
  const int row_step = params_.stride_height * sw * phase_cols_;
  TileContext t;
  t.padded = static_cast<const int32_t*>(scratch);
  t.tap_offset = tap_offset_.data();
  t.taps = quads_ * filter_.height * filter_.width;
  t.params = &params_;
  t.out_plane = static_cast<size_t>(out_.height) * out_.width;
  for (int block = tile_begin; block < tile_end; ++block) {
    const int first = block * kTileChannels;
    t.weights = weights_.data() + static_cast<size_t>(block) * t.taps * kTileChannels;
    t.bias = bias_.data() + first;
    t.multiplier = multiplier_ + first;
    t.shift = shift_ + first;
    t.channels = std::min(kTileChannels, filter_.out_channels - first);
    int8_t* out_block = output + static_cast<size_t>(first) * t.out_plane;
    for (int v0 = 0; v0 < vectors; v0 += kTilePixels) {
      const int np = std::min(kTilePixels, vectors - v0);
      int base[kTilePixels];
      size_t out_at[kTilePixels];
      int valid[kTilePixels];
      for (int p = 0; p < np; ++p) {
        const int oy = (v0 + p) / row_vectors_;
        const int xs = (v0 + p) % row_vectors_ * 16;
        base[p] = oy * row_step + xs;
        out_at[p] = static_cast<size_t>(oy) * out_.width + xs;
        valid[p] = std::min(16, out_.width - xs);
      }
      WithCount<kTilePixels>(np, [&](auto vectors_in_tile) {
        VnniTile<decltype(vectors_in_tile)::value>(t, base, out_at, valid, out_block);
      });
    }
  }
#else
  (void)scratch, (void)tile_begin, (void)tile_end, (void)output;
#endif
}

}  // namespace pynq::accel::cpu::fast
