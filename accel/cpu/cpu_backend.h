// The CPU backend: runs a quantized model with the fast integer kernels (a ModelPlan per model:
// model_plan.h), or the reference kernels they match bit for bit (kernels.h), on a oneTBB arena,
// blocks of a batch's images in parallel. The fallback when no fabric is present or healthy, and
// the golden model the FPGA backend is compared against.
#ifndef PYNQ_ACCEL_CPU_CPU_BACKEND_H_
#define PYNQ_ACCEL_CPU_CPU_BACKEND_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string_view>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "accel/backend.h"
#include "accel/cpu/model_plan.h"
#include "models/model.h"
#include "tbb/enumerable_thread_specific.h"
#include "tbb/task_arena.h"

namespace pynq::accel::cpu {

// Thread-safe: several threads may call Run at once (on the same or different models); they share
// the one arena, so together they use at most `threads` cores.
class CpuBackend final : public Backend {
 public:
  enum class Kernels {
    kFast,       // the default
    kPortable,   // the fast kernels' portable versions only (what the board's ARM runs), on any
                 // CPU: for tests and benchmarks on x86
    kReference,  // the plain loops of kernels.h: the oracle the fast kernels are tested against
  };
  struct Options {
    int threads = 0;  // worker threads of the arena; 0 = all hardware threads
    Kernels kernels = Kernels::kFast;
  };

  // INVALID_ARGUMENT when options.threads is negative.
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<CpuBackend>> Create(const Options& options);

  CpuBackend(const CpuBackend&) = delete;
  CpuBackend& operator=(const CpuBackend&) = delete;

  std::string_view name() const override { return "cpu"; }

  // A zero-filled heap buffer; RESOURCE_EXHAUSTED when the allocation fails.
  [[nodiscard]] absl::StatusOr<std::unique_ptr<BatchBuffer>> Allocate(size_t bytes) override;

  // See Backend::Run. INVALID_ARGUMENT when batch is negative or a span is too small (the message
  // gives both sizes); RESOURCE_EXHAUSTED when scratch memory cannot be had; never UNAVAILABLE.
  // A batch of 0 does nothing. Each image is independent: results do not depend on the batch
  // size, the thread count or what else runs.
  [[nodiscard]] absl::Status Run(const models::Model& model, int batch,
                                 absl::Span<const uint8_t> input,
                                 absl::Span<int8_t> output) override;

  // The arena's concurrency (options.threads, or the hardware's when that was 0).
  int threads() const { return threads_; }

 private:
  CpuBackend(int threads, Kernels kernels);

  // The plan of `model` (its weights packed for the fast kernels), built on first use.
  std::shared_ptr<const ModelPlan> PlanFor(const models::Model& model);

  static constexpr size_t kMaxPlans = 64;

  // Constant after construction.
  const int threads_;
  const Kernels kernels_;
  tbb::task_arena arena_;
  // Per-thread scratch: the activations of a block of images and the fast kernels' working
  // memory, grown on first use by a larger model; a body never blocks, so one thread runs one
  // block at a time.
  tbb::enumerable_thread_specific<std::vector<int8_t>> scratch_;

  std::mutex plans_mu_;
  // By Model::id().
  absl::flat_hash_map<uint64_t, std::shared_ptr<const ModelPlan>> plans_ ABSL_GUARDED_BY(plans_mu_);
};

}  // namespace pynq::accel::cpu

#endif  // PYNQ_ACCEL_CPU_CPU_BACKEND_H_
