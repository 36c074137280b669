// Fuzz target: the text of a config.pbtxt through the repository's parse and checks
// (ParseModelConfigText), then ReconcileConfig against the zoo's MNIST model. Invariants:
// nothing crashes; an accepted config has the bounds the server relies on.
#include <cstddef>
#include <cstdint>
#include <string>

#include "tests/fuzz/fuzz_zoo.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using pynq::fuzz::Check;
  pynq::fuzz::ZooModel();  // loads it once, and silences protobuf's logging
  if (size > pynq::server::kMaxConfigBytes) return 0;  // the loader refuses these unread
  const std::string text(reinterpret_cast<const char*>(data), size);
  absl::StatusOr<pynq::config::ModelConfig> config =
      pynq::server::ParseModelConfigText(text, "fuzz/config.pbtxt");
  if (!config.ok()) return 0;
  Check(config->max_batch_size() >= 1 && config->max_batch_size() <= 1024, "max_batch_size");
  Check(config->input_size() == 1, "one input");
  const absl::Status reconciled =
      pynq::server::ReconcileConfig(*pynq::fuzz::ZooModel().entry.model, *config);
  if (reconciled.ok()) {
    Check(config->output_size() >= 1, "outputs filled in");
    Check(config->max_queue_size() > 0, "queue size filled in");
  }
  return 0;
}
