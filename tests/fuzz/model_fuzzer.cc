// Fuzz target: the bytes of a model file through the loader's parse and validation
// (models::Model::FromBytes). Invariants: nothing crashes or reads out of bounds; a model that
// validates has consistent geometry (the backends trust it without checking again).
#include <cstddef>
#include <cstdint>
#include <string>

#include "models/model.h"
#include "tests/fuzz/fuzz_zoo.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using pynq::fuzz::Check;
  pynq::fuzz::ZooModel();  // loads it once, and silences protobuf's logging
  const std::string bytes(reinterpret_cast<const char*>(data), size);
  absl::StatusOr<std::unique_ptr<const pynq::models::Model>> model =
      pynq::models::Model::FromBytes(bytes, "fuzz/1/model.pb");
  if (!model.ok()) {
    Check(!model.status().message().empty(), "a refusal says why");
    return 0;
  }
  const pynq::models::Model& m = **model;
  size_t product = 1;
  for (int64_t d : m.input_dims()) {
    Check(d > 0, "positive input dims");
    product *= static_cast<size_t>(d);
  }
  Check(product == m.input_bytes(), "input_bytes is the product of the dims");
  Check(m.num_classes() > 0, "at least one class");
  Check(m.labels().empty() || static_cast<int>(m.labels().size()) == m.num_classes(),
        "one label per class");
  return 0;
}
