#include "accel/fpga/axi_dma.h"

#include <algorithm>
#include <thread>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace pynq::accel::fpga {
namespace axi_dma {

std::string DescribeErrors(uint32_t dmasr) {
  std::string out;
  const auto add = [&](uint32_t bit, const char* name) {
    if ((dmasr & bit) == 0) return;
    if (!out.empty()) out += "|";
    out += name;
  };
  add(kSrDmaIntErr, "DMAIntErr");
  add(kSrDmaSlvErr, "DMASlvErr");
  add(kSrDmaDecErr, "DMADecErr");
  return out;
}

}  // namespace axi_dma

namespace {

using namespace axi_dma;  // NOLINT: the register names read best unqualified here

// Polls `done` until it returns true or `deadline` passes. Spins briefly, then sleeps with a
// growing interval (5 us .. 100 us): a 64-image batch takes ~0.3 ms on the fabric, so this
// costs at most a few percent of it and leaves the core to the CPU backend.
template <typename Done>
bool PollUntil(AxiDma::Clock::time_point deadline, Done done) {
  std::chrono::microseconds nap{5};
  for (int spins = 0;; ++spins) {
    if (done()) return true;
    const auto now = AxiDma::Clock::now();
    if (now >= deadline) return done();
    if (spins < 16) continue;
    std::this_thread::sleep_for(std::min<AxiDma::Clock::duration>(nap, deadline - now));
    nap = std::min(nap * 2, std::chrono::microseconds{100});
  }
}

std::string Hex(uint32_t v) { return absl::StrFormat("0x%08x", v); }

}  // namespace

AxiDma::AxiDma(std::unique_ptr<Mmio> registers, const Options& options)
    : regs_(std::move(registers)),
      options_(options),
      max_transfer_bytes_((size_t{1} << options.length_width) - 1) {}

absl::StatusOr<std::unique_ptr<AxiDma>> AxiDma::Create(std::unique_ptr<Mmio> registers,
                                                       const Options& options,
                                                       Clock::time_point deadline) {
  if (registers == nullptr) return absl::InvalidArgumentError("AxiDma needs a register window");
  if (options.length_width < 8 || options.length_width > 26) {
    return absl::InvalidArgumentError(absl::StrCat(options.name, ": c_sg_length_width ",
                                                   options.length_width, " is outside 8..26"));
  }
  if (registers->size() < kS2mmLength + 4) {
    return absl::InvalidArgumentError(absl::StrCat(options.name, ": register window of ",
                                                   registers->size(),
                                                   " bytes is too small for the AXI DMA's"));
  }
  std::unique_ptr<AxiDma> dma(new AxiDma(std::move(registers), options));
  for (uint32_t sr : {kMm2sDmasr, kS2mmDmasr}) {
    if ((dma->regs_->Read32(sr) & kSrSgIncld) != 0) {
      return absl::FailedPreconditionError(
          absl::StrCat(options.name,
                       " is built with scatter-gather (DMASR.SGIncld is set); "
                       "only direct-register (simple) mode is supported"));
    }
  }
  if (absl::Status s = dma->Reset(deadline); !s.ok()) return s;
  return dma;
}

absl::Status AxiDma::Reset(Clock::time_point deadline) {
  // Reset on either channel resets both (PG021); the bit reads 1 until the reset is done.
  regs_->Write32(kMm2sDmacr, kCrReset);
  const bool reset_done = PollUntil(deadline, [&] {
    return ((regs_->Read32(kMm2sDmacr) | regs_->Read32(kS2mmDmacr)) & kCrReset) == 0;
  });
  if (!reset_done) {
    return absl::DeadlineExceededError(absl::StrCat(
        name(), ": soft reset did not complete (DMACR.Reset still set: MM2S ",
        Hex(regs_->Read32(kMm2sDmacr)), ", S2MM ", Hex(regs_->Read32(kS2mmDmacr)), ")"));
  }
  return Start(deadline);
}

absl::Status AxiDma::Start(Clock::time_point deadline) {
  // Interrupt enables are set so the board's interrupt controller sees completions, though this
  // driver polls; the IRQ bits are cleared before every transfer.
  const uint32_t cr = kCrRunStop | kCrIocIrqEn | kCrErrIrqEn;
  regs_->Write32(kMm2sDmacr, cr);
  regs_->Write32(kS2mmDmacr, cr);
  const bool running = PollUntil(deadline, [&] {
    return ((regs_->Read32(kMm2sDmasr) | regs_->Read32(kS2mmDmasr)) & kSrHalted) == 0;
  });
  if (!running) {
    return absl::DeadlineExceededError(absl::StrCat(
        name(), ": channels stayed halted after Run/Stop was set (DMASR MM2S ",
        Hex(regs_->Read32(kMm2sDmasr)), ", S2MM ", Hex(regs_->Read32(kS2mmDmasr)), ")"));
  }
  return absl::OkStatus();
}

absl::Status AxiDma::WaitDone(Clock::time_point deadline, uint32_t* mm2s, uint32_t* s2mm) {
  const auto finished = [&] {
    *mm2s = regs_->Read32(kMm2sDmasr);
    *s2mm = regs_->Read32(kS2mmDmasr);
    const bool error = ((*mm2s | *s2mm) & kSrErrorBits) != 0;
    return error || ((*mm2s & kSrIdle) != 0 && (*s2mm & kSrIdle) != 0);
  };
  if (PollUntil(deadline, finished)) return absl::OkStatus();
  return absl::DeadlineExceededError(
      absl::StrCat(name(), ": transfer did not finish by its deadline (DMASR MM2S ", Hex(*mm2s),
                   (*mm2s & kSrIdle) != 0 ? " idle" : " busy", ", S2MM ", Hex(*s2mm),
                   (*s2mm & kSrIdle) != 0 ? " idle" : " busy", ")"));
}

absl::StatusOr<size_t> AxiDma::Transfer(DmaBuffer& input, size_t input_bytes, DmaBuffer& output,
                                        size_t output_bytes, size_t expected_output_bytes,
                                        Clock::time_point deadline) {
  const auto check_size = [&](const char* what, size_t bytes, size_t buffer) -> absl::Status {
    if (bytes == 0 || bytes > max_transfer_bytes_ || bytes > buffer) {
      return absl::InvalidArgumentError(
          absl::StrCat(name(), ": ", what, " of ", bytes, " bytes does not fit one transfer (1..",
                       std::min(max_transfer_bytes_, buffer), " bytes: the ", buffer,
                       "-byte buffer, and 2^c_sg_length_width - 1 = ", max_transfer_bytes_, ")"));
    }
    return absl::OkStatus();
  };
  if (absl::Status s = check_size("MM2S", input_bytes, input.size()); !s.ok()) return s;
  if (absl::Status s = check_size("S2MM", output_bytes, output.size()); !s.ok()) return s;

  // Both channels must be running and idle (or fresh from Start, when Idle reads 0 in simple
  // mode until a first transfer completes: then the IOC bit is clear too).
  const uint32_t mm2s_sr = regs_->Read32(kMm2sDmasr);
  const uint32_t s2mm_sr = regs_->Read32(kS2mmDmasr);
  if (((mm2s_sr | s2mm_sr) & (kSrHalted | kSrErrorBits)) != 0) {
    return absl::FailedPreconditionError(
        absl::StrCat(name(), " needs a reset: a channel is halted or in error (DMASR MM2S ",
                     Hex(mm2s_sr), ", S2MM ", Hex(s2mm_sr), ")"));
  }
  regs_->Write32(kMm2sDmasr, kSrIrqBits);
  regs_->Write32(kS2mmDmasr, kSrIrqBits);

  // S2MM first, so the accelerator's output has somewhere to go from its first beat.
  const uint64_t out_addr = output.device_address();
  regs_->Write32(kS2mmDa, static_cast<uint32_t>(out_addr));
  regs_->Write32(kS2mmDaMsb, static_cast<uint32_t>(out_addr >> 32));
  regs_->Write32(kS2mmLength, static_cast<uint32_t>(output_bytes));

  // The pixels the CPU wrote must be in memory before MM2S reads them.
  if (absl::Status s = input.SyncForDevice(0, input_bytes); !s.ok()) return s;
  const uint64_t in_addr = input.device_address();
  regs_->Write32(kMm2sSa, static_cast<uint32_t>(in_addr));
  regs_->Write32(kMm2sSaMsb, static_cast<uint32_t>(in_addr >> 32));
  regs_->Write32(kMm2sLength, static_cast<uint32_t>(input_bytes));  // starts the transfer

  uint32_t mm2s = 0;
  uint32_t s2mm = 0;
  if (absl::Status s = WaitDone(deadline, &mm2s, &s2mm); !s.ok()) return s;
  if (((mm2s | s2mm) & kSrErrorBits) != 0) {
    std::string which;
    if ((mm2s & kSrErrorBits) != 0) {
      which = absl::StrCat("MM2S ", DescribeErrors(mm2s), " (DMASR ", Hex(mm2s), ")");
    }
    if ((s2mm & kSrErrorBits) != 0) {
      absl::StrAppend(&which, which.empty() ? "" : ", ", "S2MM ", DescribeErrors(s2mm), " (DMASR ",
                      Hex(s2mm), ")");
    }
    return absl::UnavailableError(absl::StrCat(name(), " reported ", which));
  }
  const size_t received = regs_->Read32(kS2mmLength);
  if (received > output_bytes) {
    return absl::DataLossError(absl::StrCat(name(), ": S2MM reports ", received,
                                            " bytes received into a ", output_bytes,
                                            "-byte transfer"));
  }
  // Whatever arrived is read by the CPU next: drop stale cache lines over it.
  if (received > 0) {
    if (absl::Status s = output.SyncForCpu(0, received); !s.ok()) return s;
  }
  if (received != expected_output_bytes) {
    return absl::DataLossError(absl::StrCat(name(), ": S2MM received ", received,
                                            " bytes, the batch needs ", expected_output_bytes));
  }
  return received;
}

}  // namespace pynq::accel::fpga
