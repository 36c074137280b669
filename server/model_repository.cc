#include "server/model_repository.h"

#include <algorithm>
#include <filesystem>
#include <system_error>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/file_util.h"
#include "common/status_macros.h"
#include "common/strings.h"
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

// What `path` is, following symbolic links; the error (ELOOP for a loop, EACCES, ...) when it
// cannot be told. Never throws.
absl::StatusOr<fs::file_type> TypeOf(const fs::path& path, const std::string& display_name) {
  std::error_code ec;
  const fs::file_status st = fs::status(path, ec);
  if (ec && st.type() != fs::file_type::not_found) {
    return absl::FailedPreconditionError(
        absl::StrCat(display_name, ": cannot be read: ", ec.message()));
  }
  return st.type();
}

// The names in directory `dir`, sorted. Never throws.
absl::StatusOr<std::vector<std::string>> ListDirectory(const fs::path& dir,
                                                       const std::string& display_name) {
  std::error_code ec;
  std::vector<std::string> names;
  fs::directory_iterator it(dir, ec);
  for (; !ec && it != fs::directory_iterator(); it.increment(ec)) {
    names.push_back(it->path().filename().string());
  }
  if (ec) {
    return absl::FailedPreconditionError(
        absl::StrCat(display_name, ": cannot be listed: ", ec.message()));
  }
  std::sort(names.begin(), names.end());
  return names;
}

// The highest numeric version folder of model folder `dir` ("" when there is none).
// FAILED_PRECONDITION when a numeric entry cannot be examined (a symbolic-link loop): a
// version that cannot be read must not silently leave an older one served.
absl::StatusOr<std::string> LatestVersion(const fs::path& dir, const std::string& name) {
  PYNQ_ASSIGN_OR_RETURN(const std::vector<std::string> names, ListDirectory(dir, name));
  int64_t best = -1;
  for (const std::string& n : names) {
    int64_t v = 0;
    if (!absl::SimpleAtoi(n, &v) || v < 0) continue;
    PYNQ_ASSIGN_OR_RETURN(const fs::file_type type, TypeOf(dir / n, absl::StrCat(name, "/", n)));
    if (type == fs::file_type::directory && v > best) best = v;
  }
  return best < 0 ? "" : std::to_string(best);
}

// A config may name its model file, but only as a file inside the version folder.
bool IsPlainFileName(const std::string& name) {
  return !name.empty() && name != "." && name != ".." && name.find('/') == std::string::npos &&
         name.find('\0') == std::string::npos;
}

// Loads model folder `root`/`name`; every problem ends up in the entry's status.
ModelEntry LoadOne(const fs::path& root, const std::string& name) {
  ModelEntry entry;
  entry.name = name;
  const fs::path dir = root / name;
  entry.path = dir.string();
  auto fail = [&entry](absl::Status status) {
    entry.status = std::move(status);
    return std::move(entry);
  };
  const std::string config_name = absl::StrCat(name, "/config.pbtxt");
  absl::StatusOr<std::string> text =
      ReadRegularFile((dir / "config.pbtxt").string(), config_name, kMaxConfigBytes);
  if (!text.ok()) return fail(text.status());
  absl::StatusOr<config::ModelConfig> config = ParseModelConfigText(*text, config_name);
  if (!config.ok()) return fail(config.status());
  entry.config = *std::move(config);
  if (entry.config.name().empty()) entry.config.set_name(entry.name);
  if (entry.config.name() != entry.name) {
    return fail(absl::InvalidArgumentError(
        absl::StrCat(config_name, ": name '", BoundedForMessage(entry.config.name()),
                     "' differs from its folder name '", entry.name, "'")));
  }
  absl::StatusOr<std::string> version = LatestVersion(dir, name);
  if (!version.ok()) return fail(version.status());
  entry.version = *std::move(version);
  if (entry.version.empty()) {
    return fail(
        absl::NotFoundError(absl::StrCat(name, ": no version folder (expected ", name, "/1/)")));
  }
  const std::string file = entry.config.default_model_filename().empty()
                               ? "model.pb"
                               : entry.config.default_model_filename();
  if (!IsPlainFileName(file)) {
    return fail(absl::InvalidArgumentError(
        absl::StrCat(config_name, ": default_model_filename '", BoundedForMessage(file),
                     "' must be a file name inside the version folder")));
  }
  const std::string model_name = absl::StrCat(name, "/", entry.version, "/", file);
  absl::StatusOr<std::string> bytes = ReadRegularFile((dir / entry.version / file).string(),
                                                      model_name, models::Model::kMaxFileBytes);
  if (!bytes.ok()) return fail(bytes.status());
  absl::StatusOr<std::unique_ptr<const models::Model>> model =
      models::Model::FromBytes(*bytes, model_name);
  if (!model.ok()) return fail(model.status());
  absl::Status reconciled = ReconcileConfig(**model, entry.config);
  if (!reconciled.ok()) {
    return fail(absl::InvalidArgumentError(absl::StrCat(config_name, ": ", reconciled.message())));
  }
  entry.model = std::move(*model);
  return entry;
}

}  // namespace

absl::StatusOr<config::ModelConfig> ParseModelConfigText(const std::string& text,
                                                         const std::string& display_name) {
  config::ModelConfig config;
  google::protobuf::TextFormat::Parser parser;
  FirstError errors;
  parser.RecordErrorsTo(&errors);
  if (!parser.ParseFromString(text, &config)) {
    return absl::InvalidArgumentError(absl::StrCat(display_name, ": ", errors.error()));
  }
  auto bad = [&display_name](const std::string& what) {
    return absl::InvalidArgumentError(absl::StrCat(display_name, ": ", what));
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
  PYNQ_ASSIGN_OR_RETURN(const fs::file_type type, TypeOf(root, "model repository"));
  if (type != fs::file_type::directory) {
    return absl::NotFoundError(absl::StrCat("model repository '", root, "' is not a directory"));
  }
  PYNQ_ASSIGN_OR_RETURN(const std::vector<std::string> names,
                        ListDirectory(root, absl::StrCat("model repository '", root, "'")));
  std::vector<ModelEntry> entries;
  for (const std::string& name : names) {
    if (name.front() == '.') continue;
    absl::StatusOr<fs::file_type> t = TypeOf(fs::path(root) / name, name);
    if (!t.ok()) {  // a symbolic-link loop, a folder we may not enter: a bad model
      ModelEntry bad;
      bad.name = name;
      bad.path = (fs::path(root) / name).string();
      bad.status = t.status();
      entries.push_back(std::move(bad));
    } else if (*t == fs::file_type::directory) {
      entries.push_back(LoadOne(root, name));
    }
  }
  return entries;
}

}  // namespace pynq::server
