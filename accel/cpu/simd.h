// Internal to accel/cpu: how the fast kernels pick their instruction sets, and the alignment of
// the scratch memory they share.
//
// On x86 with GCC, portable hot loops are compiled three times (baseline SSE2, AVX2, AVX-512;
// PYNQ_MULTIVERSION) and the loader picks the best the CPU has; hand-written AVX-512 kernels are
// compiled for their own target (PYNQ_AVX512_TARGET) and called only after a run-time CPU check.
// Elsewhere (the board's ARMv7 with NEON) one build for the target, portable loops only.
#ifndef PYNQ_ACCEL_CPU_SIMD_H_
#define PYNQ_ACCEL_CPU_SIMD_H_

#if defined(__SANITIZE_THREAD__)
// ThreadSanitizer instruments the ifunc resolvers that pick a clone, and they run before its
// runtime is up (a crash at start-up): TSan builds get the single baseline version.
#define PYNQ_IFUNC_OK 0
#else
#define PYNQ_IFUNC_OK 1
#endif

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && PYNQ_IFUNC_OK
#define PYNQ_MULTIVERSION __attribute__((target_clones("default", "avx2", "arch=x86-64-v4")))
#else
#define PYNQ_MULTIVERSION
#endif

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define PYNQ_X86_AVX512 1
#define PYNQ_AVX512_TARGET \
  __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512vpopcntdq,avx512vnni")))
#else
#define PYNQ_X86_AVX512 0
#define PYNQ_AVX512_TARGET
#endif

#if PYNQ_X86_AVX512
// GCC 12's AVX-512 headers build "undefined" vectors from themselves (`__m512i __Y = __Y;`),
// which -Wuninitialized reports wherever the intrinsics inline: a known false positive of the
// system header, silenced for it alone.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>
#pragma GCC diagnostic pop
#endif

#include <cstddef>
#include <cstdint>
#include <type_traits>

namespace pynq::accel::cpu {

// Every scratch block, and every part of one, starts on a 64-byte boundary (a cache line, and a
// whole AVX-512 vector).
constexpr size_t kScratchAlign = 64;
constexpr size_t AlignUp(size_t bytes) {
  return (bytes + kScratchAlign - 1) / kScratchAlign * kScratchAlign;
}

}  // namespace pynq::accel::cpu

namespace pynq::accel::cpu::fast {

// Whether the CPU has AVX-512 F, BW, VL and DQ (what every hand-written AVX-512 kernel here
// needs; some need more). False off x86.
bool CpuHasAvx512Base();

#if PYNQ_X86_AVX512
// MultiplyByQuantizedMultiplier on 16 int32 lanes, exactly. Multipliers are 0 or in [2^30, 2^31)
// (the loader's rule), so the doubling high multiply never saturates; it is (x m + 2^30) >> 31 with
// an arithmetic shift, which equals gemmlowp's nudge-and-truncate for either sign. The rounding
// right shift by e >= 1 is (h + 2^(e-1) - [h < 0]) >> e: ties away from zero.
PYNQ_AVX512_TARGET inline __m512i MultiplyByQuantizedMultiplierVector(__m512i x, int32_t multiplier,
                                                                      int shift) {
  const int left = shift > 0 ? shift : 0;
  const int right = shift > 0 ? 0 : -shift;
  __m512i half[2] = {_mm512_cvtepi32_epi64(_mm512_castsi512_si256(x)),
                     _mm512_cvtepi32_epi64(_mm512_extracti64x4_epi64(x, 1))};
  const __m512i m = _mm512_set1_epi64(multiplier);
  const __m512i nudge = _mm512_set1_epi64(int64_t{1} << 30);
  const __m512i round = _mm512_set1_epi64(right > 0 ? (int64_t{1} << (right - 1)) : 0);
  for (__m512i& h : half) {
    if (left > 0) {  // saturating left shift, as the reference
      h = _mm512_sll_epi64(h, _mm_cvtsi32_si128(left));
      h = _mm512_max_epi64(h, _mm512_set1_epi64(INT32_MIN));
      h = _mm512_min_epi64(h, _mm512_set1_epi64(INT32_MAX));
    }
    h = _mm512_srai_epi64(_mm512_add_epi64(_mm512_mul_epi32(h, m), nudge), 31);
    if (right > 0) {
      h = _mm512_sub_epi64(_mm512_add_epi64(h, round), _mm512_srli_epi64(h, 63));
      h = _mm512_sra_epi64(h, _mm_cvtsi32_si128(right));
    }
  }
  return _mm512_inserti64x4(_mm512_castsi256_si512(_mm512_cvtepi64_epi32(half[0])),
                            _mm512_cvtepi64_epi32(half[1]), 1);
}

// 16 accumulators to int8: MultiplyByQuantizedMultiplier, + offset, clamped to [lo, hi].
PYNQ_AVX512_TARGET inline __m128i RequantizeVector(__m512i acc, int32_t multiplier, int shift,
                                                   int32_t offset, int32_t lo, int32_t hi) {
  __m512i q = MultiplyByQuantizedMultiplierVector(acc, multiplier, shift);
  q = _mm512_add_epi32(q, _mm512_set1_epi32(offset));
  q = _mm512_max_epi32(q, _mm512_set1_epi32(lo));
  q = _mm512_min_epi32(q, _mm512_set1_epi32(hi));
  return _mm512_cvtepi32_epi8(q);
}

#endif  // PYNQ_X86_AVX512

// Calls f(std::integral_constant<int, n>()) for a run-time n in 1..kMax: the kernels unroll over
// a compile-time count of images or pixel vectors, and a pass may have fewer than the most.
template <int kMax, typename F>
inline void WithCount(int n, F&& f) {
  if constexpr (kMax <= 1) {
    f(std::integral_constant<int, 1>());
  } else {
    if (n >= kMax) {
      f(std::integral_constant<int, kMax>());
    } else {
      WithCount<kMax - 1>(n, f);
    }
  }
}

}  // namespace pynq::accel::cpu::fast

#endif  // PYNQ_ACCEL_CPU_SIMD_H_
