// The C test bench Vitis HLS's csim_design runs for one kernel (build_hls.tcl passes the top as
// PYNQ_CSIM_TOP): a batch of two synthetic images through the top, the output framing checked:
// 20 bytes in three beats, TKEEP 0x0F on the last, TLAST on the last only, the input consumed.
// Returns non-zero on a mismatch, which fails csim_design. The bit-exact comparison against the
// CPU backend over all of MNIST is tests/hls/kernels_vs_cpu_test.cc (g++, CI).
#include <cstdint>
#include <cstdio>

#include "accel/hls/axis.h"
#include "accel/hls/tops.h"

int main() {
  using pynq::hls_kernels::AxisBeat;
  constexpr int kImages = 2;
  constexpr int kBeatsPerImage = 98;
  hls::stream<AxisBeat> in;
  hls::stream<AxisBeat> out;
  for (int i = 0; i < kImages * kBeatsPerImage; ++i) {
    AxisBeat beat;
    // A diagonal stroke: some bright bytes in otherwise dark beats.
    beat.data = (i % 7 == 3) ? 0x00FF80FF00000000ULL : 0;
    beat.keep = 0xFF;
    beat.last = i == kImages * kBeatsPerImage - 1;
    in.write(beat);
  }
  PYNQ_CSIM_TOP(in, out);
  int failures = 0;
  const unsigned kWantKeep[] = {0xFF, 0xFF, 0x0F};
  for (int i = 0; i < 3; ++i) {
    if (out.empty()) {
      std::printf("beat %d missing\n", i);
      return 1;
    }
    const AxisBeat beat = out.read();
    if (static_cast<unsigned>(beat.keep) != kWantKeep[i] ||
        static_cast<bool>(beat.last) != (i == 2)) {
      std::printf("beat %d: keep 0x%x last %d\n", i, static_cast<unsigned>(beat.keep),
                  static_cast<int>(beat.last));
      ++failures;
    }
  }
  if (!out.empty() || !in.empty()) {
    std::printf("extra output beats or unread input beats\n");
    ++failures;
  }
  std::printf("%s\n", failures == 0 ? "csim: PASS" : "csim: FAIL");
  return failures == 0 ? 0 : 1;
}
