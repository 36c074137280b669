// Internal to accel/cpu: how the fast kernels pick their instruction sets.
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

#include <type_traits>

namespace pynq::accel::cpu::fast {

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
