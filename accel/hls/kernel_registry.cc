// AllKernels and FindKernelForModel (kernel_info.h) over the kernels of this build.
#include "accel/hls/kernel_registry.h"

#include <cstdint>
#include <cstring>

#include "accel/hls/kernel_info.h"

namespace pynq::hls_kernels {
namespace {

const KernelInfo* const kAll[] = {&kLfcW1A1Kernel, &kLfcW1A2Kernel, &kMnistCnnQ8Kernel};

}  // namespace

const KernelInfo* const* AllKernels(std::uint32_t* count) {
  *count = static_cast<std::uint32_t>(sizeof(kAll) / sizeof(kAll[0]));
  return kAll;
}

const KernelInfo* FindKernelForModel(const char* model_name) {
  if (model_name == nullptr) return nullptr;
  for (const KernelInfo* kernel : kAll) {
    if (std::strcmp(kernel->model_name, model_name) == 0) return kernel;
  }
  return nullptr;
}

}  // namespace pynq::hls_kernels
