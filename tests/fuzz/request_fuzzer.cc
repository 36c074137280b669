// Fuzz target: the bytes of a ModelInferRequest, as a client sends them, through everything
// the server does with a request before it is queued: parsing, finding the model, validation.
// Invariants: nothing crashes; a refusal's message stays bounded whatever the request holds
// (issue 11: no error answer may outgrow a message or trailer limit); an accepted request's
// pixels are exactly images * input_bytes long.
#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/strings/str_cat.h"
#include "common/strings.h"
#include "tests/fuzz/fuzz_zoo.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using pynq::fuzz::Check;
  const pynq::server::ServedModel& model = pynq::fuzz::ZooModel();
  inference::ModelInferRequest request;
  if (!request.ParseFromArray(data, static_cast<int>(size))) return 0;

  // The model look-up's refusal names the client's strings; it must stay short.
  const std::string& name = request.model_name();
  if (name != model.entry.name) {
    const std::string message = absl::StrCat("unknown model '", pynq::BoundedForMessage(name), "'");
    Check(message.size() <= 4 * pynq::kMaxEchoBytes + 64, "bounded name");
  }

  std::string scratch;
  absl::StatusOr<pynq::server::ValidatedInput> input =
      pynq::server::ValidateInferRequest(request, model, &scratch);
  if (!input.ok()) {
    Check(input.status().message().size() <= 2048, "validation message is bounded");
    return 0;
  }
  Check(input->images >= 1 && input->images <= model.entry.config.max_batch_size(),
        "batch within max_batch_size");
  Check(
      input->pixels.size() == static_cast<size_t>(input->images) * model.entry.model->input_bytes(),
      "pixels match the shape");
  // An accepted request's answer can be built (the logits' values do not matter here).
  const std::vector<int8_t> logits(
      static_cast<size_t>(input->images) * static_cast<size_t>(model.entry.model->num_classes()),
      0);
  inference::ModelInferResponse response;
  pynq::server::FillInferResponse(model, request, input->outputs, input->images, logits, &response);
  Check(response.outputs_size() == response.raw_output_contents_size(), "outputs and contents");
  return 0;
}
