// The interface every compute backend implements: the oneTBB CPU backend (accel/cpu) now, the
// FPGA backend (accel/fpga) later. The server's batcher and dispatcher see only this.
#ifndef PYNQ_ACCEL_BACKEND_H_
#define PYNQ_ACCEL_BACKEND_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "models/model.h"

namespace pynq::accel {

// A contiguous block of memory that a backend hands out for one batch's input or output. The
// FPGA backend returns DMA-able memory (physically contiguous, cache-managed), so the batcher's
// single copy of each request lands where the fabric reads it. Not thread-safe: one batch owns it.
class BatchBuffer {
 public:
  virtual ~BatchBuffer() = default;
  virtual uint8_t* data() = 0;
  virtual size_t size() const = 0;
};

// Runs whole batches of a model. Implementations are thread-safe: several dispatcher threads
// (one per model instance) may call Run at once.
class Backend {
 public:
  virtual ~Backend() = default;

  // A short label for logs and metrics ("cpu", "fpga").
  virtual std::string_view name() const = 0;

  // Returns a buffer of at least `bytes` bytes, zero-filled. RESOURCE_EXHAUSTED when the backend
  // has no memory of the kind it needs.
  [[nodiscard]] virtual absl::StatusOr<std::unique_ptr<BatchBuffer>> Allocate(size_t bytes) = 0;

  // Runs `batch` images of `model`. `input` holds batch * model.input_bytes() uint8 pixels,
  // images back to back in the model's input layout; `output` receives
  // batch * model.num_classes() int8 logits. Returns INVALID_ARGUMENT when the spans are too
  // small, UNAVAILABLE when the device failed (the caller may retry the batch elsewhere), OK
  // otherwise. Blocks until done; never keeps a pointer to the spans after returning.
  [[nodiscard]] virtual absl::Status Run(const models::Model& model, int batch,
                                         absl::Span<const uint8_t> input,
                                         absl::Span<int8_t> output) = 0;
};

}  // namespace pynq::accel

#endif  // PYNQ_ACCEL_BACKEND_H_
