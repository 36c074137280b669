// The AXI-Stream ends of every kernel: the reader that takes a batch of whole images off the
// input stream (64-bit beats, TLAST on the batch's last beat) and the packer that writes int8
// results byte after byte into output beats (TKEEP, TLAST). Both are dataflow stages: they loop
// over the batch's images and pass an ImageToken per image to the next stage.
//
// Batch protocol (kernel_info.h): an image is kBeats beats; the batch ends at the beat with
// TLAST. A TLAST before an image's last beat drops that partial image and ends the batch: the
// packer then closes the output after the last whole image's bytes (TLAST on that beat). A batch
// with no whole image writes nothing (on the board the S2MM transfer then never completes and
// the driver's timeout resets the DMA; the FPGA backend only ever sends whole images). Input
// TKEEP is not looked at: MNIST images are 784 = 98 * 8 bytes, so every input beat is full.
#ifndef PYNQ_ACCEL_HLS_STREAM_TOOLS_H_
#define PYNQ_ACCEL_HLS_STREAM_TOOLS_H_

#include <cstdint>

#include "accel/hls/axis.h"
#include "accel/hls/hls_types.h"

namespace pynq::hls_kernels {

// Reads one image of kBeats beats into `beats`. Returns the image's token: has_image when all
// kBeats beats arrived, last when one of them carried TLAST. Stops reading at TLAST, so it never
// reads a beat of the next batch.
template <int kBeats>
ImageToken ReadImageBeats(hls::stream<AxisBeat>& in, std::uint64_t beats[kBeats]) {
  for (int i = 0; i < kBeats; ++i) {
#pragma HLS PIPELINE II = 1
    // One beat per cycle: the loop body is a FIFO read and a buffer write.
#ifndef __SYNTHESIS__
    // C simulation only: a stream that runs dry without TLAST ends the batch as a TLAST would,
    // instead of reading default beats forever (hardware waits for the next beat).
    if (in.empty()) return ImageToken{false, true};
#endif
    const AxisBeat beat = in.read();
    beats[i] = static_cast<std::uint64_t>(beat.data);
    if (beat.last) return ImageToken{i == kBeats - 1, true};
  }
  return ImageToken{true, false};
}

// The input stage of a binarized network: unsigned 8-bit pixels (v = the pixel) as 8 bit planes
// of kSimd lanes, one BitPlanes<8> per SIMD group, in pixel order. kSimd is a multiple of 8, so
// a group is whole beats.
template <int kPixels, int kSimd>
void ReadImagesAsBitPlanes(hls::stream<AxisBeat>& in, hls::stream<BitPlanes<8>>& out,
                           hls::stream<ImageToken>& ctrl_out) {
  static_assert(kPixels % kBeatBytes == 0, "an image must be whole 64-bit beats");
  static_assert(kSimd % kBeatBytes == 0 && kSimd <= 64,
                "a SIMD group must be whole beats and fit one 64-bit plane word");
  static_assert(kPixels % kSimd == 0, "the SIMD groups must tile the image");
  constexpr int kBeats = kPixels / kBeatBytes;
  constexpr int kBeatsPerGroup = kSimd / kBeatBytes;
  std::uint64_t beats[kBeats];
  for (;;) {
    const ImageToken token = ReadImageBeats<kBeats>(in, beats);
    ctrl_out.write(token);
    if (token.has_image) {
      for (int g = 0; g < kBeats / kBeatsPerGroup; ++g) {
#pragma HLS PIPELINE II = 1
        // One group per cycle: each plane bit is a wire from the buffered beats.
        BitPlanes<8> group{};
        for (int k = 0; k < kBeatsPerGroup; ++k) {
          const std::uint64_t word = beats[g * kBeatsPerGroup + k];
          for (int b = 0; b < 8; ++b) {
            // Bit b of each of the word's 8 bytes, gathered into 8 adjacent bits: the multiply
            // moves byte j's bit (at 8j) to bit 56 + j, with no carries between the terms.
            const std::uint64_t bits = (word >> b) & 0x0101010101010101ULL;
            const std::uint64_t gathered = (bits * 0x0102040810204080ULL) >> 56;
            group.plane[b] |= gathered << (k * kBeatBytes);
          }
        }
        out.write(group);
      }
    }
    if (token.last) break;
  }
}

// The input stage of an int8 network: each pixel p as one Vec of q = p - 128 (the
// UINT8_MINUS_128 encoding; single-channel images), in row-major order.
template <int kPixels>
void ReadImagesAsInt8(hls::stream<AxisBeat>& in, hls::stream<Vec<std::int8_t, 1>>& out,
                      hls::stream<ImageToken>& ctrl_out) {
  static_assert(kPixels % kBeatBytes == 0, "an image must be whole 64-bit beats");
  constexpr int kBeats = kPixels / kBeatBytes;
  std::uint64_t beats[kBeats];
  for (;;) {
    const ImageToken token = ReadImageBeats<kBeats>(in, beats);
    ctrl_out.write(token);
    if (token.has_image) {
      for (int i = 0; i < kPixels; ++i) {
#pragma HLS PIPELINE II = 1
        const auto pixel =
            static_cast<int>((beats[i / kBeatBytes] >> (8 * (i % kBeatBytes))) & 0xFF);
        out.write(Vec<std::int8_t, 1>{{static_cast<std::int8_t>(pixel - 128)}});
      }
    }
    if (token.last) break;
  }
}

// The output stage: each image's kBytes int8 values, byte after byte (byte j of a beat at data
// bits 8j..8j+7), across image boundaries. A full beat is held until the next byte arrives, so
// that the batch's last beat, full or partial, is the one that carries TLAST; TKEEP is all ones
// but on a partial last beat.
template <int kBytes>
void PackBytes(hls::stream<Vec<std::int8_t, kBytes>>& in, hls::stream<ImageToken>& ctrl_in,
               hls::stream<AxisBeat>& out) {
  std::uint64_t word = 0;
  int filled = 0;  // bytes of `word` written so far, 0..8
  for (;;) {
    const ImageToken token = ctrl_in.read();
    if (token.has_image) {
      const Vec<std::int8_t, kBytes> values = in.read();
      for (int i = 0; i < kBytes; ++i) {
#pragma HLS PIPELINE II = 1
        if (filled == kBeatBytes) {
          AxisBeat beat;
          beat.data = word;
          beat.keep = 0xFF;
          beat.last = false;
          out.write(beat);
          word = 0;
          filled = 0;
        }
        word |= static_cast<std::uint64_t>(static_cast<std::uint8_t>(values.v[i])) << (8 * filled);
        ++filled;
      }
    }
    if (token.last) break;
  }
  if (filled > 0) {
    AxisBeat beat;
    beat.data = word;
    beat.keep = static_cast<std::uint8_t>((1u << filled) - 1);
    beat.last = true;
    out.write(beat);
  }
}

}  // namespace pynq::hls_kernels

#endif  // PYNQ_ACCEL_HLS_STREAM_TOOLS_H_
