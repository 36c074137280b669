// One accelerator of an overlay serving one model: the AXI DMA that feeds it, whether it may
// serve, and how it comes back after a fault. The dispatcher (server/model_runner.h) offers it
// each batch with TryRun and runs the batch on the CPU whenever TryRun does not.
#ifndef PYNQ_ACCEL_FPGA_ACCELERATOR_H_
#define PYNQ_ACCEL_FPGA_ACCELERATOR_H_

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "accel/backend.h"
#include "accel/fpga/axi_dma.h"
#include "accel/fpga/overlay.h"
#include "accel/fpga/platform.h"
#include "models/model.h"

namespace pynq::accel::fpga {

// Why a batch did not run on the fabric. The names are metric label values.
enum class FallbackReason {
  kBusy,           // another batch held the fabric (the normal overflow under load)
  kUnhealthy,      // a fault was seen and the reset or its check has not succeeded yet
  kTooLarge,       // more images than one transfer carries
  kDmaError,       // a DMA error bit (DMAIntErr, DMASlvErr, DMADecErr)
  kTimeout,        // the transfer missed its deadline (a hang)
  kShortTransfer,  // S2MM received fewer bytes than the batch needs
  kDriverError,    // anything else the driver refused (a cache sync failed, ...)
};
inline constexpr int kNumFallbackReasons = 7;
const char* FallbackReasonName(FallbackReason reason);

// What an accelerator reports, for metrics. Implementations must be thread-safe and must not
// block (they are called on the dispatch path and from the recovery thread).
class AcceleratorObserver {
 public:
  virtual ~AcceleratorObserver() = default;
  // One completed MM2S + S2MM pair of `images` images, `seconds` from start to both idle.
  virtual void OnTransfer(int images, size_t mm2s_bytes, size_t s2mm_bytes, double seconds) = 0;
  // The fabric could not take a batch that then ran on the CPU.
  virtual void OnFallback(FallbackReason reason) = 0;
  // Healthy (true) or not; called on every change.
  virtual void OnHealth(bool healthy) = 0;
  // One reset attempt and whether it (and the check after it) succeeded.
  virtual void OnReset(bool succeeded) = 0;
};

// Thread-safe: TryRun may be called from several dispatch threads; at most one runs on the
// fabric at a time, the others are told kBusy at once.
class Accelerator {
 public:
  using Clock = std::chrono::steady_clock;

  struct Options {
    AcceleratorDescription description;
    Platform* platform = nullptr;  // not owned; outlives the accelerator
    std::shared_ptr<const models::Model> model;
    // Computes the expected answer of the check batch (the CPU backend). Not owned.
    Backend* reference = nullptr;
    // The most images a batch may hold (the model's max_batch_size); the accelerator serves
    // batches of up to min(this, what one transfer carries).
    int max_batch_images = 64;
    // A transfer not finished after this long is abandoned, the engine reset.
    std::chrono::milliseconds transfer_timeout{1000};
    // Back-off between reset attempts: doubles from initial to max while they fail.
    std::chrono::milliseconds reset_backoff_initial{20};
    std::chrono::milliseconds reset_backoff_max{2000};
    AcceleratorObserver* observer = nullptr;  // optional; outlives the accelerator
  };

  // Checks that the accelerator was built for options.model (same name and digest), maps its
  // DMA, resets it and runs the check batch, comparing every logit with the reference backend.
  //   FAILED_PRECONDITION: built for another model, or an image does not fit one transfer;
  //   the platform's error when the registers cannot be mapped or DMA memory allocated;
  //   DEADLINE_EXCEEDED / UNAVAILABLE / DATA_LOSS from the driver; INTERNAL when the fabric's
  //   logits differ from the CPU's (the message names the first difference).
  // Every message starts with the instance name.
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<Accelerator>> Create(Options options);

  Accelerator(const Accelerator&) = delete;
  Accelerator& operator=(const Accelerator&) = delete;
  // Stops the recovery thread; a transfer in flight on another thread must have returned.
  ~Accelerator();

  // The most images one TryRun takes.
  int max_images_per_transfer() const { return max_images_; }
  const std::string& instance() const { return options_.description.instance; }
  bool healthy() const { return healthy_.load(std::memory_order_acquire); }

  // DMA memory for batches: a buffer of `bytes` bytes from the platform.
  [[nodiscard]] absl::StatusOr<std::unique_ptr<DmaBuffer>> AllocateBuffer(size_t bytes) {
    return options_.platform->AllocateDma(bytes);
  }

  enum class Outcome {
    kRan,      // `output` holds images * num_classes int8 logits
    kSkipped,  // not attempted (busy, unhealthy, too large): `*reason` says why
    kFailed,   // attempted and failed: `*reason` and `*error` say why; the accelerator is now
               // unhealthy and resetting in the background. `output` holds nothing useful, and
               // until the reset the device may still write it: do not reuse it for results.
  };
  // Runs `images` images whose pixels the CPU wrote at input->data() (images * input_bytes) on
  // the fabric, if it is healthy and free, into `output`. When it is busy: returns kSkipped
  // (kBusy) at once, or with `wait_if_busy` waits for the batch ahead (which itself ends within
  // its transfer_timeout). Returns within transfer_timeout (plus a poll interval) of starting
  // its own transfer even when the fabric hangs.
  Outcome TryRun(DmaBuffer& input, int images, DmaBuffer& output, FallbackReason* reason,
                 absl::Status* error, bool wait_if_busy = false);

 private:
  explicit Accelerator(Options options, std::unique_ptr<AxiDma> dma, int max_images);

  // One transfer of `images` images; requires run_mu_.
  absl::StatusOr<size_t> TransferLocked(DmaBuffer& input, int images, DmaBuffer& output)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(run_mu_);
  // Runs the check batch and compares it with the reference's logits; requires run_mu_.
  absl::Status CheckLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(run_mu_);
  void MarkUnhealthy();
  void RecoveryLoop();

  // Constant after construction.
  const Options options_;
  const int max_images_;
  const size_t input_bytes_;   // per image
  const size_t output_bytes_;  // per image

  std::atomic<bool> healthy_{false};

  // Held for a transfer, a reset or a check: the one engine does one thing at a time.
  std::mutex run_mu_;
  const std::unique_ptr<AxiDma> dma_ ABSL_PT_GUARDED_BY(run_mu_);
  // The check batch: its pixels, the reference's logits, and fabric buffers of its own.
  std::vector<int8_t> check_expected_;
  std::unique_ptr<DmaBuffer> check_input_ ABSL_PT_GUARDED_BY(run_mu_);
  std::unique_ptr<DmaBuffer> check_output_ ABSL_PT_GUARDED_BY(run_mu_);
  int check_images_ = 0;

  std::mutex recovery_mu_;
  std::condition_variable recovery_cv_;
  bool recovery_wanted_ ABSL_GUARDED_BY(recovery_mu_) = false;
  bool stopping_ ABSL_GUARDED_BY(recovery_mu_) = false;
  std::thread recovery_;
};

}  // namespace pynq::accel::fpga

#endif  // PYNQ_ACCEL_FPGA_ACCELERATOR_H_
