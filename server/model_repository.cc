#include "server/model_repository.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <system_error>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "google/protobuf/io/tokenizer.h"
#include "google/protobuf/text_format.h"

namespace pynq::server {
namespace fs = std::filesystem;
namespace {

constexpr int kMaxBatchSizeLimit = 1024;
constexpr int kDefaultQueueBatches = 32;  // default queue bound, in batches of max size
constexpr uint64_t kMaxQueueDelayLimitUs = 10'000'000;

// Collects the text-format parser's first error with its position.
class FirstError final : public google::protobuf::io::ErrorCollector {
 public:
  void AddError(int line, int column, const std::string& message) override {
    if (error_.empty())
      error_ = absl::StrCat("line ", line + 1, ", column ", column + 1, ": ", message);
  }
  const std::string& error() const { return error_; }

 private:
  std::string error_;
};

std::string DimsString(const google::protobuf::RepeatedField<int64_t>& dims) {
  return absl::StrCat("[", absl::StrJoin(dims, ","), "]");
}

// The highest numeric version folder under `dir`, or "" when there is none.
std::string LatestVersion(const fs::path& dir) {
  int64_t best = -1;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    int64_t v = 0;
    if (e.is_directory() && absl::SimpleAtoi(e.path().filename().string(), &v) && v > best)
      best = v;
  }
  return best < 0 ? "" : std::to_string(best);
}

ModelEntry LoadOne(const fs::path& dir) {
  ModelEntry entry;
  entry.name = dir.filename().string();
  const fs::path config_path = dir / "config.pbtxt";
  absl::StatusOr<config::ModelConfig> config = ParseModelConfig(config_path.string());
  if (!config.ok()) {
    entry.status = config.status();
    return entry;
  }
  entry.config = *std::move(config);
  if (entry.config.name().empty()) entry.config.set_name(entry.name);
  if (entry.config.name() != entry.name) {
    entry.status = absl::InvalidArgumentError(
        absl::StrCat(config_path.string(), ": name '", entry.config.name(),
                     "' differs from its folder name '", entry.name, "'"));
    return entry;
  }
  entry.version = LatestVersion(dir);
  if (entry.version.empty()) {
    entry.status = absl::NotFoundError(
        absl::StrCat(dir.string(), ": no version folder (expected ", dir.string(), "/1/)"));
    return entry;
  }
  const std::string file = entry.config.default_model_filename().empty()
                               ? "model.pb"
                               : entry.config.default_model_filename();
  absl::StatusOr<std::unique_ptr<const models::Model>> model =
      models::Model::LoadFromFile((dir / entry.version / file).string());
  if (!model.ok()) {
    entry.status = model.status();
    return entry;
  }
  absl::Status reconciled = ReconcileConfig(**model, entry.config);
  if (!reconciled.ok()) {
    entry.status =
        absl::InvalidArgumentError(absl::StrCat(config_path.string(), ": ", reconciled.message()));
    return entry;
  }
  entry.model = std::move(*model);
  return entry;
}

}  // namespace

absl::StatusOr<config::ModelConfig> ParseModelConfig(const std::string& path) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat(path, ": cannot open the model config"));
  std::stringstream text;
  text << in.rdbuf();

  config::ModelConfig config;
  google::protobuf::TextFormat::Parser parser;
  FirstError errors;
  parser.RecordErrorsTo(&errors);
  if (!parser.ParseFromString(text.str(), &config)) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": ", errors.error()));
  }
  auto bad = [&path](const std::string& what) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": ", what));
  };
  if (!config.platform().empty() && config.platform() != "pynq_quantized") {
    return bad(
        absl::StrCat("platform '", config.platform(), "' is not served (use pynq_quantized)"));
  }
  if (config.max_batch_size() < 1 || config.max_batch_size() > kMaxBatchSizeLimit) {
    return bad(absl::StrCat("max_batch_size ", config.max_batch_size(), " is outside 1..",
                            kMaxBatchSizeLimit));
  }
  if (config.input_size() != 1) {
    return bad(absl::StrCat("expected exactly one input, found ", config.input_size()));
  }
  const config::ModelInput& input = config.input(0);
  if (input.name().empty()) return bad("input has no name");
  if (input.data_type() != config::TYPE_UINT8) {
    return bad(absl::StrCat("input '", input.name(), "' has data_type ",
                            config::DataType_Name(input.data_type()),
                            "; only TYPE_UINT8 is served"));
  }
  for (int64_t d : input.dims()) {
    if (d <= 0)
      return bad(absl::StrCat("input '", input.name(), "' has dims ", DimsString(input.dims()),
                              "; every dim must be > 0"));
  }
  for (const config::ModelOutput& out : config.output()) {
    if (out.name() != kLogitsOutput && out.name() != kClassOutput) {
      return bad(absl::StrCat("output '", out.name(), "' is unknown (outputs are '", kLogitsOutput,
                              "' and '", kClassOutput, "')"));
    }
  }
  const auto& batching = config.dynamic_batching();
  if (batching.max_queue_delay_microseconds() > kMaxQueueDelayLimitUs) {
    return bad(absl::StrCat("dynamic_batching.max_queue_delay_microseconds ",
                            batching.max_queue_delay_microseconds(), " exceeds 10 s"));
  }
  for (int p : batching.preferred_batch_size()) {
    if (p < 1 || p > config.max_batch_size()) {
      return bad(absl::StrCat("preferred_batch_size ", p, " is outside 1..max_batch_size (",
                              config.max_batch_size(), ")"));
    }
  }
  for (const auto& group : config.instance_group()) {
    if (group.count() < 0 || group.count() > 16) {
      return bad(absl::StrCat("instance_group count ", group.count(), " is outside 0..16"));
    }
  }
  return config;
}

absl::Status ReconcileConfig(const models::Model& model, config::ModelConfig& config) {
  const config::ModelInput& input = config.input(0);
  if (!std::equal(input.dims().begin(), input.dims().end(), model.input_dims().begin(),
                  model.input_dims().end())) {
    return absl::InvalidArgumentError(absl::StrCat(
        "input '", input.name(), "' dims ", DimsString(input.dims()),
        " differ from the model file's [", absl::StrJoin(model.input_dims(), ","), "]"));
  }
  if (config.output_size() == 0) {
    auto* logits = config.add_output();
    logits->set_name(kLogitsOutput);
    logits->set_data_type(config::TYPE_FP32);
    logits->add_dims(model.num_classes());
    auto* cls = config.add_output();
    cls->set_name(kClassOutput);
    cls->set_data_type(config::TYPE_INT64);
  }
  for (const config::ModelOutput& out : config.output()) {
    if (out.name() == kLogitsOutput) {
      if (out.data_type() != config::TYPE_FP32 || out.dims_size() != 1 ||
          out.dims(0) != model.num_classes()) {
        return absl::InvalidArgumentError(absl::StrCat("output 'logits' must be TYPE_FP32 dims [",
                                                       model.num_classes(), "] for this model"));
      }
    } else if (out.data_type() != config::TYPE_INT64 || out.dims_size() > 1 ||
               (out.dims_size() == 1 && out.dims(0) != 1)) {
      return absl::InvalidArgumentError("output 'class' must be TYPE_INT64 with dims [] or [1]");
    }
  }
  if (config.max_queue_size() == 0) {
    config.set_max_queue_size(
        static_cast<uint32_t>(kDefaultQueueBatches * config.max_batch_size()));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<ModelEntry>> LoadRepository(const std::string& root) {
  std::error_code ec;
  if (!fs::is_directory(root, ec)) {
    return absl::NotFoundError(absl::StrCat("model repository '", root, "' is not a directory"));
  }
  std::vector<fs::path> dirs;
  for (const auto& e : fs::directory_iterator(root, ec)) {
    if (e.is_directory()) dirs.push_back(e.path());
  }
  std::sort(dirs.begin(), dirs.end());
  std::vector<ModelEntry> entries;
  for (const fs::path& dir : dirs) entries.push_back(LoadOne(dir));
  return entries;
}

}  // namespace pynq::server
