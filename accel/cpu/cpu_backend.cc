#include "accel/cpu/cpu_backend.h"

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <memory>
#include <new>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "accel/cpu/fast_kernels.h"
#include "accel/cpu/kernels.h"
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
         "race:check_being_stolen\n";
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

using ::pynq::model::Layer;
using LayerInfo = ::pynq::models::Model::LayerInfo;

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

TensorShape ToTensorShape(const models::Model::Shape& s) {
  return TensorShape{s.channels, s.height, s.width};
}

constexpr size_t kScratchAlign = 64;
size_t AlignUp(size_t bytes) { return (bytes + kScratchAlign - 1) / kScratchAlign * kScratchAlign; }

ConvParams ConvParamsOf(const Layer& layer, const LayerInfo& info) {
  const pynq::model::Conv2D& c = layer.conv2d();
  ConvParams params;
  params.input_offset = -info.input_zero_point;
  params.output_offset = layer.output().zero_point();
  params.stride_height = c.stride_h();
  params.stride_width = c.stride_w();
  params.padding_top = c.pad_top();
  params.padding_left = c.pad_left();
  params.quantized_activation_min = info.output_min;
  params.quantized_activation_max = info.output_max;
  return params;
}

FilterShape FilterShapeOf(const pynq::model::Conv2D& c) {
  return FilterShape{c.out_channels(), c.in_channels(), c.kernel_h(), c.kernel_w()};
}

BinaryDenseParams BinaryDenseParamsOf(const Layer& layer, const LayerInfo& info) {
  const pynq::model::BinaryDense& d = layer.binary_dense();
  BinaryDenseParams p;
  p.in_features = d.in_features();
  p.out_features = d.out_features();
  p.input_bipolar = d.input_values() == pynq::model::BinaryDense::BIPOLAR;
  p.input_bits = d.input_bits();
  p.input_offset = -info.input_zero_point;
  p.weights = reinterpret_cast<const uint8_t*>(d.weights().data());
  p.words_per_row = (d.in_features() + 63) / 64;
  if (d.output() == pynq::model::BinaryDense::THRESHOLDS) {
    p.thresholds = d.thresholds().data();
    p.threshold_count = d.thresholds_size() / d.out_features();
    p.output_bipolar = d.output_values() == pynq::model::BinaryDense::BIPOLAR;
  } else {
    p.bias = d.bias().data();
    p.output_multiplier = d.requant().multiplier().data();
    p.output_shift = d.requant().shift().data();
    p.output_offset = layer.output().zero_point();
  }
  return p;
}

// Bytes of kernel scratch (beyond the activations) the fast kernels need for any layer.
size_t KernelScratchBytes(const models::Model& model) {
  size_t most = 0;
  const auto& infos = model.layer_info();
  for (size_t i = 0; i < infos.size(); ++i) {
    const Layer& layer = model.file().layers(static_cast<int>(i));
    size_t need = 0;
    switch (layer.kind_case()) {
      case Layer::kConv2D:
        need = fast::ConvScratchBytes(FilterShapeOf(layer.conv2d()),
                                      ToTensorShape(infos[i].output_shape));
        break;
      case Layer::kDense:
        need = fast::FullyConnectedScratchBytes(layer.dense().in_features());
        break;
      case Layer::kBinaryDense:
        need = fast::BinaryDenseScratchBytes(BinaryDenseParamsOf(layer, infos[i]));
        break;
      default:
        break;
    }
    most = std::max(most, need);
  }
  return most;
}

void RunConv(const Layer& layer, const LayerInfo& info, const int8_t* input, int8_t* output,
             void* scratch) {
  const pynq::model::Conv2D& c = layer.conv2d();
  const ConvParams params = ConvParamsOf(layer, info);
  const auto* weights = reinterpret_cast<const int8_t*>(c.weights().data());
  if (scratch != nullptr) {
    fast::ConvPerChannel(params, c.requant().multiplier().data(), c.requant().shift().data(),
                         ToTensorShape(info.input_shape), input, FilterShapeOf(c), weights,
                         c.bias().data(), ToTensorShape(info.output_shape), output, scratch);
    return;
  }
  ConvPerChannel(params, c.requant().multiplier().data(), c.requant().shift().data(),
                 ToTensorShape(info.input_shape), input, FilterShapeOf(c), weights, c.bias().data(),
                 ToTensorShape(info.output_shape), output);
}

void RunDense(const Layer& layer, const LayerInfo& info, const int8_t* input, int8_t* output,
              void* scratch) {
  const pynq::model::Dense& d = layer.dense();
  FullyConnectedParams params;
  params.input_offset = -info.input_zero_point;
  params.output_offset = layer.output().zero_point();
  params.quantized_activation_min = info.output_min;
  params.quantized_activation_max = info.output_max;
  const auto* weights = reinterpret_cast<const int8_t*>(d.weights().data());
  if (scratch != nullptr) {
    fast::FullyConnectedPerChannel(params, d.requant().multiplier().data(),
                                   d.requant().shift().data(), d.in_features(), input,
                                   d.out_features(), weights, d.bias().data(), output, scratch);
    return;
  }
  FullyConnectedPerChannel(params, d.requant().multiplier().data(), d.requant().shift().data(),
                           d.in_features(), input, d.out_features(), weights, d.bias().data(),
                           output);
}

void RunMaxPool(const Layer& layer, const LayerInfo& info, const int8_t* input, int8_t* output) {
  const pynq::model::MaxPool2D& p = layer.max_pool2d();
  PoolParams params;
  params.filter_height = p.kernel_h();
  params.filter_width = p.kernel_w();
  params.stride_height = p.stride_h();
  params.stride_width = p.stride_w();
  MaxPool(params, ToTensorShape(info.input_shape), input, ToTensorShape(info.output_shape), output);
}

void RunAdd(const Layer& layer, const LayerInfo& info, const int8_t* a, const int8_t* b,
            int8_t* output, bool fast_kernels) {
  const pynq::model::Add& add = layer.add();
  AddParams params;
  params.a_offset = -info.input_zero_point;
  params.b_offset = -info.second_zero_point;
  params.left_shift = add.left_shift();
  params.a_multiplier = add.a_multiplier();
  params.a_shift = add.a_shift();
  params.b_multiplier = add.b_multiplier();
  params.b_shift = add.b_shift();
  params.output_multiplier = add.output_multiplier();
  params.output_shift = add.output_shift();
  params.output_offset = layer.output().zero_point();
  params.quantized_activation_min = info.output_min;
  params.quantized_activation_max = info.output_max;
  if (fast_kernels) {
    fast::AddElementwise(params, info.output_shape.elements(), a, b, output);
  } else {
    AddElementwise(params, info.output_shape.elements(), a, b, output);
  }
}

void RunGlobalAveragePool(const Layer& layer, const LayerInfo& info, const int8_t* input,
                          int8_t* output) {
  GlobalAveragePoolParams params;
  params.input_offset = -info.input_zero_point;
  params.multiplier = layer.global_average_pool().multiplier();
  params.shift = layer.global_average_pool().shift();
  params.output_offset = layer.output().zero_point();
  GlobalAveragePoolInt8(params, ToTensorShape(info.input_shape), input, output);
}

void RunBinaryDense(const Layer& layer, const LayerInfo& info, const int8_t* input, int8_t* output,
                    void* scratch) {
  const BinaryDenseParams params = BinaryDenseParamsOf(layer, info);
  if (scratch != nullptr) {
    fast::BinaryDense(params, input, scratch, output);
  } else {
    BinaryDenseReference(params, input, output);
  }
}

void EncodeInput(const models::Model& model, const uint8_t* pixels, int8_t* input) {
  const pynq::model::InputSpec& spec = model.file().input();
  if (!spec.has_resample()) {
    Uint8ToInt8(pixels, model.input_bytes(), input);
    return;
  }
  ResampleParams params;
  params.crop_top = spec.resample().crop_top();
  params.crop_left = spec.resample().crop_left();
  params.downscale = std::max(1, spec.resample().downscale());
  ResampleUint8ToInt8(params, ToTensorShape(model.image_shape()), pixels,
                      ToTensorShape(model.input_shape()), input);
}

// One image through every layer. `arena` holds model.activation_bytes() bytes; each tensor has
// its own place in it (LayerInfo::output_offset), so nothing is allocated here. `scratch` is the
// fast kernels' scratch (KernelScratchBytes), or null to run the reference kernels.
void RunImage(const models::Model& model, const uint8_t* pixels, int8_t* arena, void* scratch,
              int8_t* logits) {
  const pynq::model::ModelFile& file = model.file();
  const std::vector<LayerInfo>& infos = model.layer_info();
  EncodeInput(model, pixels, arena);
  const auto tensor = [&](int index) {
    return arena + (index < 0 ? 0 : infos[static_cast<size_t>(index)].output_offset);
  };
  for (size_t i = 0; i < infos.size(); ++i) {
    const Layer& layer = file.layers(static_cast<int>(i));
    const LayerInfo& info = infos[i];
    const int8_t* input = tensor(info.input);
    int8_t* output = arena + info.output_offset;
    switch (layer.kind_case()) {
      case Layer::kConv2D:
        RunConv(layer, info, input, output, scratch);
        break;
      case Layer::kDense:
        RunDense(layer, info, input, output, scratch);
        break;
      case Layer::kMaxPool2D:
        RunMaxPool(layer, info, input, output);
        break;
      case Layer::kAdd:
        RunAdd(layer, info, input, tensor(info.second_input), output, scratch != nullptr);
        break;
      case Layer::kGlobalAveragePool:
        RunGlobalAveragePool(layer, info, input, output);
        break;
      case Layer::kBinaryDense:
        RunBinaryDense(layer, info, input, output, scratch);
        break;
      case Layer::KIND_NOT_SET:  // the loader refuses such models
        break;
    }
  }
  std::memcpy(logits, arena + infos.back().output_offset, static_cast<size_t>(model.num_classes()));
}

// What one Run hands to the threads that run its images; lives on the caller's stack.
struct BatchJob {
  const models::Model* model;
  const uint8_t* input;
  int8_t* output;
  size_t image_bytes;
  size_t classes;
  size_t activation_bytes;  // at the start of each thread's scratch, 64-byte aligned
  size_t kernel_bytes;      // then the fast kernels' scratch; 0 = run the reference kernels
  tbb::enumerable_thread_specific<std::vector<int8_t>>* scratch;
};

// The parallel_for body: runs images [r.begin(), r.end()) of a job. TBB copies it into its tasks
// inside libtbb, hence the ForkJoin calls in the copy constructor (see above).
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
    const size_t needed = job.activation_bytes + job.kernel_bytes + kScratchAlign;
    if (scratch.size() < needed) scratch.resize(needed);  // grows once per thread and model size
    auto base = reinterpret_cast<uintptr_t>(scratch.data());
    base = (base + kScratchAlign - 1) / kScratchAlign * kScratchAlign;
    auto* arena = reinterpret_cast<int8_t*>(base);
    void* kernel_scratch = job.kernel_bytes == 0 ? nullptr : arena + job.activation_bytes;
    for (int i = range.begin(); i != range.end(); ++i) {
      const auto n = static_cast<size_t>(i);
      RunImage(*job.model, job.input + n * job.image_bytes, arena, kernel_scratch,
               job.output + n * job.classes);
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

  const BatchJob job{&model,
                     input.data(),
                     output.data(),
                     model.input_bytes(),
                     static_cast<size_t>(model.num_classes()),
                     AlignUp(model.activation_bytes()),
                     kernels_ == Kernels::kFast ? KernelScratchBytes(model) : 0,
                     &scratch_};
  auto run_batch = [&job, batch] {
    ForkJoinAcquire();
    tbb::parallel_for(tbb::blocked_range<int>(0, batch), ImageLoop(&job));
  };
  ForkJoinRelease();
  try {
    arena_.execute(run_batch);
  } catch (const std::bad_alloc&) {
    return absl::ResourceExhaustedError(
        absl::StrCat("cpu backend: ", model.name(), ": cannot allocate ",
                     job.activation_bytes + job.kernel_bytes, " bytes of scratch"));
  }
  ForkJoinAcquire();
  return absl::OkStatus();
}

}  // namespace pynq::accel::cpu
