#include "server/infer_handler.h"

#include <algorithm>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/strings.h"
#include "spdlog/spdlog.h"

namespace pynq::server {
namespace {

std::string ShapeString(const google::protobuf::RepeatedField<int64_t>& shape) {
  return absl::StrCat("[", absl::StrJoin(shape, ","), "]");
}

std::string DataTypeName(config::DataType t) {
  // The protocol's names are the config's without the TYPE_ prefix.
  return config::DataType_Name(t).substr(5);
}

// Owns a request's typed contents packed into bytes, beside whatever owned the request.
struct PackedContents {
  std::shared_ptr<void> request_owner;
  std::string bytes;
};

}  // namespace

absl::StatusOr<ValidatedInput> ValidateInferRequest(const inference::ModelInferRequest& request,
                                                    const ServedModel& model,
                                                    std::string* scratch) {
  const config::ModelConfig& config = model.entry.config;
  const config::ModelInput& expected = config.input(0);
  auto bad = [&expected](const std::string& what) {
    return absl::InvalidArgumentError(absl::StrCat("input '", expected.name(), "': ", what));
  };
  if (request.inputs_size() != 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("model '", config.name(), "' takes exactly one input tensor '",
                     expected.name(), "', got ", request.inputs_size()));
  }
  const auto& input = request.inputs(0);
  if (input.name() != expected.name()) {
    return absl::InvalidArgumentError(
        absl::StrCat("unknown input '", BoundedForMessage(input.name()), "'; model '",
                     config.name(), "' takes '", expected.name(), "'"));
  }
  if (input.datatype() != "UINT8") {
    return bad(
        absl::StrCat("datatype '", BoundedForMessage(input.datatype()), "', expected UINT8"));
  }
  // Shape: [N, dims...] with N in 1..max_batch_size.
  const auto& dims = expected.dims();
  const std::string want =
      absl::StrCat("[N,", absl::StrJoin(dims, ","), "] with 1 <= N <= ", config.max_batch_size());
  if (input.shape_size() != dims.size() + 1 ||
      !std::equal(dims.begin(), dims.end(), input.shape().begin() + 1)) {
    return bad(absl::StrCat("shape ", ShapeString(input.shape()), ", expected ", want));
  }
  const int64_t n = input.shape(0);
  if (n < 1)
    return bad(absl::StrCat("shape ", ShapeString(input.shape()), " is empty; expected ", want));
  if (n > config.max_batch_size()) {
    return bad(absl::StrCat("batch of ", n, " exceeds max_batch_size ", config.max_batch_size()));
  }
  const size_t need = static_cast<size_t>(n) * model.entry.model->input_bytes();

  ValidatedInput out;
  out.images = static_cast<int>(n);
  const bool has_typed = input.has_contents();
  const bool has_raw = request.raw_input_contents_size() > 0;
  if (has_typed && has_raw) {
    return bad("both 'contents' and 'raw_input_contents' are set; use one");
  }
  if (has_raw) {
    if (request.raw_input_contents_size() != 1) {
      return absl::InvalidArgumentError(absl::StrCat(
          "raw_input_contents has ", request.raw_input_contents_size(), " entries for 1 input"));
    }
    const std::string& raw = request.raw_input_contents(0);
    if (raw.size() != need) {
      return bad(absl::StrCat(raw.size(), " bytes, but shape ", ShapeString(input.shape()),
                              " of UINT8 needs ", need));
    }
    out.pixels = raw;
  } else if (has_typed) {
    const auto& values = input.contents().uint_contents();
    if (static_cast<size_t>(values.size()) != need) {
      return bad(absl::StrCat(values.size(), " uint_contents values, but shape ",
                              ShapeString(input.shape()), " needs ", need));
    }
    scratch->resize(need);
    for (size_t i = 0; i < need; ++i) {
      if (values[static_cast<int>(i)] > 255) {
        return bad(absl::StrCat("uint_contents[", i, "] = ", values[static_cast<int>(i)],
                                " does not fit UINT8"));
      }
      (*scratch)[i] = static_cast<char>(values[static_cast<int>(i)]);
    }
    out.pixels = *scratch;
  } else {
    return bad("no data: set raw_input_contents (or contents.uint_contents)");
  }

  if (request.outputs_size() > 0) {
    out.outputs = {false, false};
    for (const auto& o : request.outputs()) {
      if (o.name() == kLogitsOutput) {
        out.outputs.logits = true;
      } else if (o.name() == kClassOutput) {
        out.outputs.classes = true;
      } else {
        return absl::InvalidArgumentError(
            absl::StrCat("unknown output '", BoundedForMessage(o.name()), "'; outputs are '",
                         kLogitsOutput, "' and '", kClassOutput, "'"));
      }
    }
  }
  return out;
}

void FillInferResponse(const ServedModel& model, const inference::ModelInferRequest& request,
                       const OutputSelection& outputs, int images, absl::Span<const int8_t> logits,
                       inference::ModelInferResponse* response) {
  const models::Model& m = *model.entry.model;
  const int classes = m.num_classes();
  response->set_model_name(model.entry.name);
  response->set_model_version(model.entry.version);
  response->set_id(request.id());
  if (outputs.logits) {
    auto* t = response->add_outputs();
    t->set_name(kLogitsOutput);
    t->set_datatype("FP32");
    t->add_shape(images);
    t->add_shape(classes);
    std::string* raw = response->add_raw_output_contents();
    raw->resize(logits.size() * sizeof(float));
    const float scale = m.output_scale();
    const int32_t zero = m.output_zero_point();
    for (size_t i = 0; i < logits.size(); ++i) {
      const float v = scale * static_cast<float>(static_cast<int32_t>(logits[i]) - zero);
      std::memcpy(raw->data() + i * sizeof(float), &v, sizeof(float));
    }
  }
  if (outputs.classes) {
    auto* t = response->add_outputs();
    t->set_name(kClassOutput);
    t->set_datatype("INT64");
    t->add_shape(images);
    std::string* raw = response->add_raw_output_contents();
    raw->resize(static_cast<size_t>(images) * sizeof(int64_t));
    for (int i = 0; i < images; ++i) {
      const int8_t* row = logits.data() + static_cast<size_t>(i) * classes;
      // Ties go to the lowest class index; the int8 argmax equals the float one (monotonic).
      const int64_t best = std::max_element(row, row + classes) - row;
      std::memcpy(raw->data() + static_cast<size_t>(i) * sizeof(int64_t), &best, sizeof(best));
    }
  }
}

inference::ModelMetadataResponse BuildMetadata(const ModelEntry& entry) {
  inference::ModelMetadataResponse md;
  md.set_name(entry.name);
  if (!entry.version.empty()) md.add_versions(entry.version);
  md.set_platform("pynq_quantized");
  for (const auto& in : entry.config.input()) {
    auto* t = md.add_inputs();
    t->set_name(in.name());
    t->set_datatype(DataTypeName(in.data_type()));
    t->add_shape(-1);
    for (int64_t d : in.dims()) t->add_shape(d);
  }
  for (const auto& out : entry.config.output()) {
    auto* t = md.add_outputs();
    t->set_name(out.name());
    t->set_datatype(DataTypeName(out.data_type()));
    t->add_shape(-1);
    if (out.name() != kClassOutput) {
      for (int64_t d : out.dims()) t->add_shape(d);
    }
  }
  return md;
}

InferHandler::InferHandler(std::vector<std::unique_ptr<ServedModel>> models, ServerMetrics* metrics)
    : metrics_(metrics) {
  for (auto& m : models) {
    any_ready_ = any_ready_ || m->ready();
    std::string name = m->entry.name;
    models_.emplace(std::move(name), std::move(m));
  }
}

absl::StatusOr<const ServedModel*> InferHandler::Find(std::string_view name,
                                                      std::string_view version) const {
  auto it = models_.find(name);
  if (it == models_.end()) {
    std::vector<std::string> names;
    for (const auto& [n, m] : models_) names.push_back(n);
    return absl::NotFoundError(
        absl::StrCat("unknown model '", BoundedForMessage(name),
                     "'; the server has: ", names.empty() ? "none" : absl::StrJoin(names, ", ")));
  }
  const ServedModel* m = it->second.get();
  if (!version.empty() && version != m->entry.version) {
    return absl::NotFoundError(absl::StrCat("model '", BoundedForMessage(name),
                                            "' has no version '", BoundedForMessage(version),
                                            "'; served version is '", m->entry.version, "'"));
  }
  return m;
}

void InferHandler::Submit(const inference::ModelInferRequest& request, Clock::time_point deadline,
                          std::shared_ptr<void> keepalive, inference::ModelInferResponse* response,
                          Reply reply) {
  absl::StatusOr<const ServedModel*> found = Find(request.model_name(), request.model_version());
  if (!found.ok()) {
    spdlog::debug("request '{}' refused: {}", BoundedForMessage(request.id()),
                  found.status().ToString());
    if (metrics_ != nullptr) metrics_->CountUnknownModel();
    reply(found.status());
    return;
  }
  const ServedModel* model = *found;
  if (!model->ready()) {
    reply(absl::UnavailableError(absl::StrCat("model '", model->entry.name,
                                              "' is not ready: ", model->entry.status.message())));
    return;
  }
  const ModelMetrics* metrics = model->metrics;
  auto fail = [&](const absl::Status& status) {
    spdlog::debug("model {}: request '{}' refused: {}", model->entry.name,
                  BoundedForMessage(request.id()), status.ToString());
    metrics->CountOutcome(status.code());
    reply(status);
  };
  if (!accepting_.load()) {
    fail(absl::UnavailableError("server is shutting down; not accepting requests"));
    return;
  }
  std::string scratch;
  absl::StatusOr<ValidatedInput> input = ValidateInferRequest(request, *model, &scratch);
  if (!input.ok()) {
    fail(input.status());
    return;
  }
  const Clock::time_point arrived = Clock::now();
  if (deadline <= arrived) {
    fail(absl::DeadlineExceededError("deadline passed before the request was queued"));
    return;
  }
  if (!scratch.empty()) {
    auto packed = std::make_shared<PackedContents>();
    packed->request_owner = std::move(keepalive);
    packed->bytes = std::move(scratch);
    input->pixels = packed->bytes;
    keepalive = std::move(packed);
  }
  const OutputSelection outputs = input->outputs;
  const int images = input->images;
  auto done = [model, req = &request, response, outputs, images, arrived, reply = std::move(reply)](
                  const absl::Status& status, absl::Span<const int8_t> logits) {
    if (status.ok()) {
      FillInferResponse(*model, *req, outputs, images, logits, response);
      model->metrics->request_seconds->Observe(
          std::chrono::duration<double>(Clock::now() - arrived).count());
    }
    model->metrics->CountOutcome(status.code());
    reply(status);
  };
  // A refusal (queue full, draining) has already been answered by Enqueue.
  model->runner
      ->Enqueue(std::make_unique<InferRequest>(input->pixels, images, deadline,
                                               std::move(keepalive), std::move(done)))
      .IgnoreError();
}

void InferHandler::StopAccepting() { accepting_.store(false); }

void InferHandler::Drain() {
  accepting_.store(false);
  for (auto& [name, model] : models_) {
    if (model->runner != nullptr) model->runner->Drain();
  }
}

}  // namespace pynq::server
