// Sends a dataset's images to infer-server and collects one answer per image: over one
// ModelStreamInfer stream, or as unary ModelInfer calls, with at most `concurrency` in flight.
#ifndef PYNQ_CLIENT_RUNNER_H_
#define PYNQ_CLIENT_RUNNER_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "client/dataset.h"
#include "client/infer_protocol.h"
#include "proto/inference.grpc.pb.h"

namespace pynq::client {

struct RunnerOptions {
  size_t concurrency = 8;  // requests in flight, >= 1
  bool unary = false;      // unary ModelInfer calls instead of one ModelStreamInfer stream
  // Unary: each call's deadline. Stream: the longest wait for the next answer while requests
  // are in flight, after which the stream is cancelled. Zero or less: no limit.
  absl::Duration timeout = absl::Seconds(10);
  // Called on the calling thread with the number of images answered so far, at most once per
  // `progress_interval` and once at the end. May be empty.
  std::function<void(size_t answered)> progress;
  absl::Duration progress_interval = absl::Milliseconds(100);
};

// What became of one image.
struct ImageResult {
  int64_t predicted = -1;   // the class the server answered; -1 when the request failed
  int64_t latency_us = -1;  // send to answer, microseconds; -1 when there was no answer
  std::string error;        // why the request failed; empty on success

  bool ok() const { return error.empty(); }
};

struct RunResult {
  std::vector<ImageResult> images;  // images[i] is dataset image i; one per image sent
  absl::Duration wall;              // first send to last answer
  size_t answered = 0;              // images with an answer: a class or an error message
  // Answers that matched no outstanding request (unknown or repeated id): protocol violations.
  std::vector<std::string> unmatched;
  // Why the run ended before every image was answered (stream status, timeout); empty if not.
  std::string aborted;

  size_t errors() const;  // images whose request failed, plus unmatched answers
};

// Sends images [0, count) of `data` as `target` describes, each request's id its index, and
// waits for every answer. Never fails as a whole: an image that got no answer (the stream broke,
// the server went away, a timeout) is an ImageResult with an error, and `aborted` says why.
// A stream answer carrying error_message fails its image; one with no id fails the oldest
// outstanding image. Answers out of order are matched by id. Runs on the calling thread.
RunResult RunInference(inference::GRPCInferenceService::StubInterface& stub,
                       const InferTarget& target, const Dataset& data, size_t count,
                       const RunnerOptions& options);

}  // namespace pynq::client

#endif  // PYNQ_CLIENT_RUNNER_H_
