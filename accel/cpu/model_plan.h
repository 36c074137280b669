// How the CPU backend runs a model: the reference kernels one image at a time (RunReference), or
// a ModelPlan, which packs every convolution's and binarized dense layer's weights (and every
// residual add's tables) once for the fast kernels and runs images in blocks, so that a layer's
// weights, once in cache, serve every image of the block.
#ifndef PYNQ_ACCEL_CPU_MODEL_PLAN_H_
#define PYNQ_ACCEL_CPU_MODEL_PLAN_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "accel/cpu/binary_kernels.h"
#include "accel/cpu/conv_kernels.h"
#include "accel/cpu/fast_kernels.h"
#include "models/model.h"

namespace pynq::accel::cpu {

// Runs one image through the reference kernels (kernels.h). `arena` holds
// model.activation_bytes() bytes; `logits` receives model.num_classes() values.
void RunReference(const models::Model& model, const uint8_t* pixels, int8_t* arena, int8_t* logits);

// Immutable after construction: thread-safe, each thread bringing its own scratch. Keeps
// pointers into `model`, which must outlive it.
class ModelPlan {
 public:
  // `portable` forces the portable kernels (what the board runs) on any CPU.
  ModelPlan(const models::Model& model, bool portable);

  ModelPlan(const ModelPlan&) = delete;
  ModelPlan& operator=(const ModelPlan&) = delete;

  // The most images RunBlock takes at once: 1 for models without binarized dense layers (their
  // layers gain nothing from it), else as many as fit ~256 KiB of activations, at most 16.
  int block_images() const { return block_images_; }

  // Scratch bytes of RunBlock (any count up to block_images()).
  size_t ScratchBytes() const { return scratch_bytes_; }

  // Runs `count` (1 .. block_images()) images: pixels of image j at input + j *
  // model.input_bytes(), its logits to output + j * model.num_classes(). `scratch` holds
  // ScratchBytes() bytes, 64-byte aligned. Allocates nothing.
  void RunBlock(int count, const uint8_t* input, int8_t* output, void* scratch) const;

 private:
  const models::Model& model_;
  int block_images_ = 1;
  size_t activation_stride_ = 0;  // per image, 64-byte aligned
  size_t scratch_bytes_ = 0;
  // Index for index with the model's layers; null for other kinds.
  std::vector<std::unique_ptr<fast::ConvPlan>> conv_;
  std::vector<std::unique_ptr<fast::BinaryDensePlan>> binary_;
  std::vector<std::unique_ptr<fast::AddPlan>> add_;
};

}  // namespace pynq::accel::cpu

#endif  // PYNQ_ACCEL_CPU_MODEL_PLAN_H_
