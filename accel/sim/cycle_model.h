// The virtual overlay's cycle model: how long one DMA transfer of a batch takes on the fabric.
// Every figure that comes from it is modelled, not measured, and is labelled so wherever it
// appears (logs, benchmarks, docs).
//
// A streaming dataflow kernel (FINN style) accepts a new image every II cycles, II being the
// initiation interval of its slowest layer: a matrix-vector unit of `rows` outputs over `cols`
// inputs folded SIMD x PE needs repeats * rows * cols / (SIMD * PE) cycles per image. A batch of
// N images then takes
//     setup + depth + max(N * II, input_bytes / B, output_bytes / B) cycles
// at the fabric clock: the DMA's register set-up, the pipeline's fill (the first image's
// latency through every layer), and the slowest of compute, MM2S and S2MM, B being the bytes
// the DMA moves per cycle (its stream width: 8 for 64 bits).
#ifndef PYNQ_ACCEL_SIM_CYCLE_MODEL_H_
#define PYNQ_ACCEL_SIM_CYCLE_MODEL_H_

#include <cstdint>

#include "accel/hls/kernel_info.h"

namespace pynq::accel::sim {

struct CycleModelOptions {
  // The fabric clock: FCLK0, 100 MHz on PYNQ-Z1/Z2's base overlay.
  double clock_hz = 100e6;
  // Bytes per cycle on each DMA stream (64-bit AXI-Stream: 8).
  uint32_t dma_bytes_per_cycle = 8;
  // Cycles from the LENGTH write to the first beat (AXI read latency to DDR, DMA start-up).
  uint32_t setup_cycles = 100;
};

// The slowest layer's cycles per image (at least 1).
uint64_t InitiationInterval(const hls_kernels::KernelInfo& kernel);

// Modelled cycles for one transfer of `images` images (0 images: the set-up alone).
uint64_t TransferCycles(const hls_kernels::KernelInfo& kernel, const CycleModelOptions& options,
                        uint64_t images);

// The same in seconds at options.clock_hz.
double TransferSeconds(const hls_kernels::KernelInfo& kernel, const CycleModelOptions& options,
                       uint64_t images);

}  // namespace pynq::accel::sim

#endif  // PYNQ_ACCEL_SIM_CYCLE_MODEL_H_
