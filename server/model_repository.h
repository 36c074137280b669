// The model repository: Triton's layout, `<root>/<model>/config.pbtxt` beside version folders
// `<root>/<model>/<n>/model.pb`. Loading never fails as a whole because one model is bad: each
// model comes back loaded or with the reason it is not ready.
#ifndef PYNQ_SERVER_MODEL_REPOSITORY_H_
#define PYNQ_SERVER_MODEL_REPOSITORY_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "models/model.h"
#include "proto/model_config.pb.h"

namespace pynq::server {

// The input and output names every zoo model serves under (the tensor contract in docs/).
inline constexpr char kLogitsOutput[] = "logits";
inline constexpr char kClassOutput[] = "class";

struct ModelEntry {
  std::string name;     // the folder name, which the config's name must equal
  std::string version;  // the version folder served ("1"); empty when none was found
  config::ModelConfig config;
  std::shared_ptr<const models::Model> model;  // null when not ready
  absl::Status status;                         // OK when ready, else why not
};

// Parses one config.pbtxt (protobuf text format) and checks what can be checked without the
// model file. INVALID_ARGUMENT naming the file, line and column, or the field at fault.
[[nodiscard]] absl::StatusOr<config::ModelConfig> ParseModelConfig(const std::string& path);

// Checks a parsed config against its model file: input dims, output dims, class count, and
// fills defaults (outputs, max_queue_size). INVALID_ARGUMENT naming the field on a mismatch.
[[nodiscard]] absl::Status ReconcileConfig(const models::Model& model, config::ModelConfig& config);

// Loads every model folder under `root` (sorted by name). NOT_FOUND when `root` is not a
// directory; per-model problems are in each entry's status.
[[nodiscard]] absl::StatusOr<std::vector<ModelEntry>> LoadRepository(const std::string& root);

}  // namespace pynq::server

#endif  // PYNQ_SERVER_MODEL_REPOSITORY_H_
