#include "client/runner.h"

#include <algorithm>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "client/run_book.h"

namespace pynq::client {

size_t RunResult::errors() const {
  return unmatched.size() +
         std::count_if(images.begin(), images.end(), [](const ImageResult& r) { return !r.ok(); });
}

RunBook::RunBook(size_t count, size_t num_classes) : num_classes_(num_classes), sent_at_(count) {
  result_.images.resize(count);
}

void RunBook::Sent(size_t index) {
  const Clock::time_point now = Clock::now();
  if (!any_sent_) first_sent_ = now;
  any_sent_ = true;
  sent_at_[index] = now;
  last_event_ = now;
  outstanding_.insert(index);
}

void RunBook::Answer(size_t index, const absl::StatusOr<int64_t>& predicted) {
  const Clock::time_point now = Clock::now();
  if (outstanding_.erase(index) == 0) {
    Unmatched(absl::StrCat("answer for image ", index, ", which is not awaiting one"));
    return;
  }
  last_event_ = now;
  ++result_.answered;
  ImageResult& image = result_.images[index];
  image.latency_us =
      std::chrono::duration_cast<std::chrono::microseconds>(now - sent_at_[index]).count();
  if (!predicted.ok()) {
    image.error = std::string(predicted.status().message());
  } else if (*predicted < 0 || static_cast<size_t>(*predicted) >= num_classes_) {
    image.error = absl::StrCat("class ", *predicted, " out of range 0..", num_classes_ - 1);
  } else {
    image.predicted = *predicted;
  }
}

void RunBook::Unmatched(std::string what) { result_.unmatched.push_back(std::move(what)); }

void RunBook::Abort(const std::string& why) {
  if (result_.aborted.empty()) result_.aborted = why;
  for (ImageResult& image : result_.images) {
    if (image.ok() && image.latency_us < 0) image.error = why;
  }
  outstanding_.clear();
}

RunResult RunBook::Finish() {
  if (any_sent_) result_.wall = absl::FromChrono(last_event_ - first_sent_);
  return std::move(result_);
}

std::string GrpcStatusString(const grpc::Status& status) {
  return absl::StrCat(absl::StatusCodeToString(static_cast<absl::StatusCode>(status.error_code())),
                      ": ", status.error_message());
}

void ProgressTicker::Tick(size_t answered, bool force) {
  if (!options_.progress) return;
  const RunBook::Clock::time_point now = RunBook::Clock::now();
  if (!force && now < next_) return;
  next_ = now + absl::ToChronoNanoseconds(options_.progress_interval);
  options_.progress(answered);
}

RunResult RunInference(inference::GRPCInferenceService::StubInterface& stub,
                       const InferTarget& target, const Dataset& data, size_t count,
                       const RunnerOptions& options) {
  count = std::min(count, data.size());
  RunnerOptions checked = options;
  checked.concurrency = std::max<size_t>(options.concurrency, 1);
  return checked.unary ? RunUnary(stub, target, data, count, checked)
                       : RunStream(stub, target, data, count, checked);
}

}  // namespace pynq::client
