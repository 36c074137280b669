// A driver for Xilinx's AXI DMA (PG021) in direct-register (simple) mode: one MM2S transfer
// feeds an accelerator's input stream from a DMA buffer, one S2MM transfer takes its output
// stream into another. The board and the virtual overlay run this same code: it sees only an
// Mmio window and DmaBuffers (platform.h). Polls the status registers (no interrupts), always
// against a deadline.
#ifndef PYNQ_ACCEL_FPGA_AXI_DMA_H_
#define PYNQ_ACCEL_FPGA_AXI_DMA_H_

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "accel/fpga/platform.h"

namespace pynq::accel::fpga {

// PG021's register map (simple mode) and bits, shared with the virtual overlay's model of it.
namespace axi_dma {
inline constexpr uint32_t kMm2sDmacr = 0x00;
inline constexpr uint32_t kMm2sDmasr = 0x04;
inline constexpr uint32_t kMm2sSa = 0x18;
inline constexpr uint32_t kMm2sSaMsb = 0x1C;
inline constexpr uint32_t kMm2sLength = 0x28;
inline constexpr uint32_t kS2mmDmacr = 0x30;
inline constexpr uint32_t kS2mmDmasr = 0x34;
inline constexpr uint32_t kS2mmDa = 0x48;
inline constexpr uint32_t kS2mmDaMsb = 0x4C;
inline constexpr uint32_t kS2mmLength = 0x58;
inline constexpr uint32_t kRegisterWindowBytes = 0x10000;  // 64 KiB, as Vivado assigns it

// DMACR.
inline constexpr uint32_t kCrRunStop = 1u << 0;
inline constexpr uint32_t kCrReset = 1u << 2;  // self-clearing; resets both channels
inline constexpr uint32_t kCrIocIrqEn = 1u << 12;
inline constexpr uint32_t kCrErrIrqEn = 1u << 14;
// DMASR.
inline constexpr uint32_t kSrHalted = 1u << 0;
inline constexpr uint32_t kSrIdle = 1u << 1;
inline constexpr uint32_t kSrSgIncld = 1u << 3;
inline constexpr uint32_t kSrDmaIntErr = 1u << 4;
inline constexpr uint32_t kSrDmaSlvErr = 1u << 5;
inline constexpr uint32_t kSrDmaDecErr = 1u << 6;
inline constexpr uint32_t kSrIocIrq = 1u << 12;
inline constexpr uint32_t kSrErrIrq = 1u << 14;
inline constexpr uint32_t kSrErrorBits = kSrDmaIntErr | kSrDmaSlvErr | kSrDmaDecErr;
inline constexpr uint32_t kSrIrqBits = kSrIocIrq | (1u << 13) | kSrErrIrq;  // write 1 to clear

// "DMAIntErr|DMASlvErr" for the set error bits of a DMASR value ("" when none).
std::string DescribeErrors(uint32_t dmasr);
}  // namespace axi_dma

// Thread-compatible: one caller at a time (the accelerator that owns it serializes).
class AxiDma {
 public:
  using Clock = std::chrono::steady_clock;

  struct Options {
    // c_sg_length_width of the IP, 8..26: the LENGTH registers hold this many bits, so one
    // transfer moves at most 2^width - 1 bytes.
    int length_width = 23;
    // Name for messages ("axi_dma_0").
    std::string name = "axi_dma";
  };

  // Takes the register window, resets the engine and starts both channels (RS), waiting for
  // them until `deadline`. INVALID_ARGUMENT for a bad length width or a window smaller than the
  // register map; FAILED_PRECONDITION when the engine reports scatter-gather (SGIncld: not simple
  // mode); DEADLINE_EXCEEDED when the reset does not finish.
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<AxiDma>> Create(
      std::unique_ptr<Mmio> registers, const Options& options, Clock::time_point deadline);

  AxiDma(const AxiDma&) = delete;
  AxiDma& operator=(const AxiDma&) = delete;

  // The most bytes one transfer may move: 2^length_width - 1.
  size_t max_transfer_bytes() const { return max_transfer_bytes_; }

  // Soft reset (DMACR.Reset, which clears itself when both channels are reset; it also aborts a
  // transfer in flight), then starts both channels again. DEADLINE_EXCEEDED when Reset does not
  // clear or a channel stays halted by `deadline`.
  [[nodiscard]] absl::Status Reset(Clock::time_point deadline);

  // One batch: arms S2MM to receive up to `output_bytes` into `output`, flushes
  // input[0, input_bytes) to the device, starts MM2S from it (LENGTH last: that write starts the
  // transfer), waits until both channels are idle or report an error, then invalidates the
  // received range of `output` and returns the bytes received (S2MM_LENGTH).
  //   INVALID_ARGUMENT: a size of 0, above max_transfer_bytes(), or above its buffer.
  //   FAILED_PRECONDITION: a channel is halted or still busy (reset needed).
  //   UNAVAILABLE: a channel reported DMAIntErr/DMASlvErr/DMADecErr (the message names them).
  //   DEADLINE_EXCEEDED: not finished by `deadline`; the transfer may still be in flight, so the
  //     caller must Reset before using the engine or these buffers' device side again.
  //   DATA_LOSS: S2MM received a length other than `expected_output_bytes`.
  // The caller owns both buffers; nothing is kept after return.
  [[nodiscard]] absl::StatusOr<size_t> Transfer(DmaBuffer& input, size_t input_bytes,
                                                DmaBuffer& output, size_t output_bytes,
                                                size_t expected_output_bytes,
                                                Clock::time_point deadline);

  const std::string& name() const { return options_.name; }

 private:
  AxiDma(std::unique_ptr<Mmio> registers, const Options& options);

  // Starts both channels (RS) and waits for Halted to clear.
  absl::Status Start(Clock::time_point deadline);
  // Waits until both channels are idle or one reports an error; returns the two DMASR values
  // in *mm2s / *s2mm. DEADLINE_EXCEEDED otherwise.
  absl::Status WaitDone(Clock::time_point deadline, uint32_t* mm2s, uint32_t* s2mm);

  // Constant after construction.
  const std::unique_ptr<Mmio> regs_;
  const Options options_;
  const size_t max_transfer_bytes_;
};

}  // namespace pynq::accel::fpga

#endif  // PYNQ_ACCEL_FPGA_AXI_DMA_H_
