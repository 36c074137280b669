// A model of one AXI DMA (PG021, direct-register mode) wired to one HLS accelerator, register for
// register: halted after reset; Run/Stop starts a channel; DMACR.Reset resets both channels and
// aborts a transfer in flight; a LENGTH write arms S2MM or starts MM2S (the value is cut to
// c_sg_length_width bits, as the hardware's register is that wide); on completion Idle and
// IOC_Irq are set and S2MM_LENGTH holds the bytes received; an address outside every DMA buffer
// is a DMADecErr, an S2MM packet longer than its LENGTH a DMAIntErr, and an error halts its
// channel. A worker thread streams the MM2S bytes as AXI-Stream beats through the kernel's C
// simulation and writes its output stream to S2MM memory, finishing no earlier than the cycle
// model says a board would. Faults can be injected for tests and demos.
#ifndef PYNQ_ACCEL_SIM_SIM_AXI_DMA_H_
#define PYNQ_ACCEL_SIM_SIM_AXI_DMA_H_

#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "accel/hls/kernel_info.h"
#include "accel/sim/cycle_model.h"
#include "accel/sim/sim_memory.h"

namespace pynq::accel::sim {

// What can be made to go wrong in a transfer.
enum class SimFault {
  kNone,
  kMm2sIntErr,  // MM2S ends with DMAIntErr (and Err_Irq), channel halted
  kMm2sSlvErr,
  kMm2sDecErr,
  kS2mmIntErr,  // S2MM likewise
  kS2mmSlvErr,
  kS2mmDecErr,
  kHang,       // the transfer never completes (until a reset)
  kShortS2mm,  // the accelerator's output ends one image early: S2MM_LENGTH is short
};

// "mm2s-slverr", "hang", ... (the names the server's --sim-fault flag takes); "none".
std::string_view SimFaultName(SimFault fault);
// The fault of that name, or nullopt.
std::optional<SimFault> ParseSimFault(std::string_view name);
// Every fault but kNone, for tests and --help.
const std::vector<SimFault>& AllSimFaults();

// Thread-safe fault schedule, shared by the DMAs of one overlay.
class SimFaultPlan {
 public:
  // From the next transfer on, `transfers` transfers get `fault` (-1: until Clear).
  void Inject(SimFault fault, int transfers = -1);
  void Clear();
  // The fault for the transfer starting now (consumes one of a counted fault).
  SimFault Next();

 private:
  std::mutex mu_;
  SimFault fault_ ABSL_GUARDED_BY(mu_) = SimFault::kNone;
  int remaining_ ABSL_GUARDED_BY(mu_) = 0;
};

// Thread-safe: registers may be accessed from any thread; the worker runs alongside.
class SimAxiDma {
 public:
  struct Options {
    const hls_kernels::KernelInfo* kernel = nullptr;  // required; outlives this
    SimMemory* memory = nullptr;                      // required; outlives this
    SimFaultPlan* faults = nullptr;                   // optional; outlives this
    int length_width = 23;
    CycleModelOptions cycle;
    // Complete each transfer no earlier than its modelled duration after it started (the wall
    // clock then shows the board's timing wherever the C simulation is faster).
    bool realtime = true;
  };

  explicit SimAxiDma(const Options& options);
  SimAxiDma(const SimAxiDma&) = delete;
  SimAxiDma& operator=(const SimAxiDma&) = delete;
  ~SimAxiDma();

  uint32_t Read32(uint32_t offset);
  void Write32(uint32_t offset, uint32_t value);

  // Transfers started on MM2S since construction (for tests: one per batch).
  uint64_t transfers_started() const;

 private:
  struct Channel {
    uint32_t cr = 0;
    uint32_t sr = 0;
    uint64_t address = 0;
    uint32_t length = 0;
    bool busy = false;  // armed (S2MM) or started (MM2S), not yet complete
  };
  struct Job {
    uint64_t generation = 0;
    uint64_t source = 0;
    uint32_t bytes = 0;
    SimFault fault = SimFault::kNone;
  };

  void ResetLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void WriteCr(Channel& channel, uint32_t value) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void StartMm2sLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void WorkerLoop();
  void RunJob(const Job& job);
  // Ends a channel with error bits, halting it. Requires mu_.
  static void Fail(Channel& channel, uint32_t error_bits);

  const Options options_;
  const uint32_t length_mask_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  Channel mm2s_ ABSL_GUARDED_BY(mu_);
  Channel s2mm_ ABSL_GUARDED_BY(mu_);
  // Bumped by every reset: a job of an older generation is abandoned and writes nothing.
  uint64_t generation_ ABSL_GUARDED_BY(mu_) = 0;
  std::optional<Job> pending_ ABSL_GUARDED_BY(mu_);
  uint64_t transfers_started_ ABSL_GUARDED_BY(mu_) = 0;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::thread worker_;
};

}  // namespace pynq::accel::sim

#endif  // PYNQ_ACCEL_SIM_SIM_AXI_DMA_H_
