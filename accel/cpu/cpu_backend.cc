#include "accel/cpu/cpu_backend.h"

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <memory>
#include <mutex>
#include <new>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "accel/cpu/model_plan.h"
#include "accel/cpu/simd.h"
#include "tbb/blocked_range.h"
#include "tbb/enumerable_thread_specific.h"
#include "tbb/info.h"
#include "tbb/parallel_for.h"

#if defined(__SANITIZE_THREAD__)
#define PYNQ_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define PYNQ_TSAN 1
#endif
#endif

#ifdef PYNQ_TSAN
#include <sanitizer/tsan_interface.h>

// Debian's libtbb is not built with ThreadSanitizer, so TSan sees none of the synchronization
// inside it and would report the scheduler's own bookkeeping (its task tree and wait counters,
// inlined from the oneTBB headers) as races. Those functions, which never call our code, are
// suppressed here for every binary that links the CPU backend; our hand-offs are declared below.
extern "C" const char* __tsan_default_suppressions() {
  return "race_top:/oneapi/tbb/\n"
         "race:tbb::detail::d1::fold_tree\n"
         "race:tbb::detail::d1::node::node\n"
         "race:tbb::detail::d1::wait_context\n"
         "race:mark_task_stolen\n"
         "race:check_being_stolen\n"
         // enumerable_thread_specific's slots come from libtbb's allocator, which reuses memory
         // across threads without TSan seeing the hand-over.
         "race:tbb::detail::d1::enumerable_thread_specific\n";
}
#endif

namespace pynq::accel::cpu {
namespace {

// The hand-offs that the oneTBB arena synchronizes, declared to ThreadSanitizer (see above) on one
// static address: whoever writes data for another thread (the caller filling a BatchJob, TBB
// copying an ImageLoop, a body writing its logits) releases it afterwards; whoever reads such
// data acquires it first. Bodies that overlap in time stay unordered, so TSan still sees races
// between them. No-ops in other builds.
#ifdef PYNQ_TSAN
char tsan_arena_sync;
void ForkJoinRelease() { __tsan_release(&tsan_arena_sync); }
void ForkJoinAcquire() { __tsan_acquire(&tsan_arena_sync); }
#else
void ForkJoinRelease() {}
void ForkJoinAcquire() {}
#endif

class HeapBatchBuffer final : public BatchBuffer {
 public:
  HeapBatchBuffer(std::unique_ptr<uint8_t[]> data, size_t size)
      : data_(std::move(data)), size_(size) {}
  uint8_t* data() override { return data_.get(); }
  size_t size() const override { return size_; }

 private:
  std::unique_ptr<uint8_t[]> data_;
  size_t size_;
};

// What one Run hands to the threads that run its images; lives on the caller's stack.
struct BatchJob {
  const models::Model* model;
  const ModelPlan* plan;  // null: the reference kernels, one image at a time
  const uint8_t* input;
  int8_t* output;
  size_t image_bytes;
  size_t classes;
  size_t scratch_bytes;  // per thread
  tbb::enumerable_thread_specific<std::vector<int8_t>>* scratch;
};

// The parallel_for body: runs images [r.begin(), r.end()) of a job, in the plan's blocks. TBB
// copies it into its tasks inside libtbb, hence the ForkJoin calls in the copy constructor (see
// above).
class ImageLoop {
 public:
  explicit ImageLoop(const BatchJob* job) : job_(job) { ForkJoinRelease(); }
  ImageLoop(const ImageLoop& other) : job_((ForkJoinAcquire(), other.job_)) { ForkJoinRelease(); }
  ImageLoop& operator=(const ImageLoop&) = delete;

  void operator()(const tbb::blocked_range<int>& range) const {
    ForkJoinAcquire();
    const BatchJob& job = *job_;
    // One thread runs one body at a time (a body never waits), so its scratch is its own.
    std::vector<int8_t>& scratch = job.scratch->local();
    const size_t needed = job.scratch_bytes + kScratchAlign;
    if (scratch.size() < needed) scratch.resize(needed);  // grows once per thread and model size
    auto base = reinterpret_cast<uintptr_t>(scratch.data());
    base = AlignUp(base);
    auto* aligned = reinterpret_cast<int8_t*>(base);
    if (job.plan == nullptr) {
      for (int i = range.begin(); i != range.end(); ++i) {
        const auto n = static_cast<size_t>(i);
        RunReference(*job.model, job.input + n * job.image_bytes, aligned,
                     job.output + n * job.classes);
      }
    } else {
      const int block = job.plan->block_images();
      for (int i = range.begin(); i < range.end(); i += block) {
        const auto n = static_cast<size_t>(i);
        job.plan->RunBlock(std::min(block, range.end() - i), job.input + n * job.image_bytes,
                           job.output + n * job.classes, aligned);
      }
    }
    ForkJoinRelease();
  }

 private:
  const BatchJob* job_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<CpuBackend>> CpuBackend::Create(const Options& options) {
  if (options.threads < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("cpu backend: threads is ", options.threads, ", must be >= 0 (0 = all)"));
  }
  const int threads = options.threads > 0 ? options.threads : tbb::info::default_concurrency();
  return std::unique_ptr<CpuBackend>(new CpuBackend(threads, options.kernels));
}

CpuBackend::CpuBackend(int threads, Kernels kernels)
    : threads_(threads), kernels_(kernels), arena_(threads) {}

absl::StatusOr<std::unique_ptr<BatchBuffer>> CpuBackend::Allocate(size_t bytes) {
  std::unique_ptr<uint8_t[]> data(new (std::nothrow) uint8_t[bytes == 0 ? 1 : bytes]());
  if (data == nullptr) {
    return absl::ResourceExhaustedError(
        absl::StrCat("cpu backend: cannot allocate ", bytes, " bytes"));
  }
  return std::unique_ptr<BatchBuffer>(new HeapBatchBuffer(std::move(data), bytes));
}

absl::Status CpuBackend::Run(const models::Model& model, int batch, absl::Span<const uint8_t> input,
                             absl::Span<int8_t> output) {
  if (batch < 0) {
    return absl::InvalidArgumentError(absl::StrCat("cpu backend: batch is ", batch));
  }
  // 64-bit products: size_t is 32 bits on the board.
  const uint64_t input_needed = uint64_t{static_cast<uint32_t>(batch)} * model.input_bytes();
  const uint64_t output_needed =
      uint64_t{static_cast<uint32_t>(batch)} * static_cast<uint64_t>(model.num_classes());
  if (input.size() < input_needed) {
    return absl::InvalidArgumentError(absl::StrCat(
        "cpu backend: ", model.name(), ": input holds ", input.size(), " bytes, a batch of ", batch,
        " x ", model.input_bytes(), " needs ", input_needed));
  }
  if (output.size() < output_needed) {
    return absl::InvalidArgumentError(absl::StrCat(
        "cpu backend: ", model.name(), ": output holds ", output.size(), " logits, a batch of ",
        batch, " x ", model.num_classes(), " needs ", output_needed));
  }
  if (batch == 0) return absl::OkStatus();

  std::shared_ptr<const ModelPlan> plan;
  if (kernels_ != Kernels::kReference) {
    try {
      plan = PlanFor(model);
    } catch (const std::bad_alloc&) {
      return absl::ResourceExhaustedError(
          absl::StrCat("cpu backend: ", model.name(), ": cannot allocate its packed weights"));
    }
  }
  const BatchJob job{&model,
                     plan.get(),
                     input.data(),
                     output.data(),
                     model.input_bytes(),
                     static_cast<size_t>(model.num_classes()),
                     plan != nullptr ? plan->ScratchBytes() : model.activation_bytes(),
                     &scratch_};
  // Images in parallel, a block per task. (Sharing a lone image's convolutions out over the
  // arena, output channels per thread, was tried: on the development VM it made batch 1 slower,
  // the fork-join per layer costing more than the second core gave.)
  const int grain = plan != nullptr ? plan->block_images() : 1;
  auto run_batch = [&job, batch, grain] {
    ForkJoinAcquire();
    tbb::parallel_for(tbb::blocked_range<int>(0, batch, grain), ImageLoop(&job));
  };
  ForkJoinRelease();
  try {
    arena_.execute(run_batch);
  } catch (const std::bad_alloc&) {
    return absl::ResourceExhaustedError(absl::StrCat("cpu backend: ", model.name(),
                                                     ": cannot allocate ", job.scratch_bytes,
                                                     " bytes of scratch"));
  }
  ForkJoinAcquire();
  return absl::OkStatus();
}

std::shared_ptr<const ModelPlan> CpuBackend::PlanFor(const models::Model& model) {
  std::lock_guard<std::mutex> lock(plans_mu_);
  auto it = plans_.find(model.id());
  if (it != plans_.end()) return it->second;
  // Plans of models that were unloaded are never used again (ids are not reused); forget them
  // all now and then rather than track unloads. Runs in flight keep theirs alive.
  if (plans_.size() >= kMaxPlans) plans_.clear();
  auto plan = std::make_shared<const ModelPlan>(model, kernels_ == Kernels::kPortable);
  plans_.emplace(model.id(), plan);
  return plan;
}

}  // namespace pynq::accel::cpu
