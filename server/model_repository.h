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
  std::string path;     // the folder on this machine: for the log, never for clients
  std::string version;  // the version folder served ("1"); empty when none was found
  config::ModelConfig config;
  std::shared_ptr<const models::Model> model;  // null when not ready
  // OK when ready, else why not. Its message names files relative to the repository
  // ("mnist-cnn-q8/config.pbtxt: line 3 ..."), never a server-side path: clients may read it.
  absl::Status status;
};

// The largest config.pbtxt read (Triton configs are a few hundred bytes).
inline constexpr size_t kMaxConfigBytes = 256 << 10;

// Parses the text of one config.pbtxt (protobuf text format) and checks what can be checked
// without the model file. INVALID_ARGUMENT naming `display_name`, the line and column, or the
// field at fault.
[[nodiscard]] absl::StatusOr<config::ModelConfig> ParseModelConfigText(
    const std::string& text, const std::string& display_name);

// Checks a parsed config against its model file: input dims, output dims, class count, and
// fills defaults (outputs, max_queue_size). INVALID_ARGUMENT naming the field on a mismatch.
[[nodiscard]] absl::Status ReconcileConfig(const models::Model& model, config::ModelConfig& config);

// Loads every model folder under `root` (sorted by name). Never throws and never blocks: the
// layout has a fixed depth (<root>/<model>/<version>/<file>, nothing deeper is visited), only
// directories and regular files are followed (a FIFO, device or symbolic-link loop is a bad
// entry), and files are size-capped before they are read. Hidden entries (".name") and plain
// files at the top are skipped. NOT_FOUND when `root` is not a directory; FAILED_PRECONDITION
// when it cannot be listed; per-model problems are in each entry's status.
[[nodiscard]] absl::StatusOr<std::vector<ModelEntry>> LoadRepository(const std::string& root);

}  // namespace pynq::server

#endif  // PYNQ_SERVER_MODEL_REPOSITORY_H_
