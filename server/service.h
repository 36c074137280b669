// The gRPC face of the server: GRPCInferenceService on the callback (reactor) API. Health and
// metadata answer inline; ModelInfer and ModelStreamInfer take their messages as raw bytes, so
// the server sees a message's size before parsing it (to charge the memory budget) and can say
// when a message does not parse, then hand requests to the InferHandler and answer from its
// completion, so no reaction ever blocks.
#ifndef PYNQ_SERVER_SERVICE_H_
#define PYNQ_SERVER_SERVICE_H_

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <mutex>
#include <set>
#include <string>

#include "absl/base/thread_annotations.h"
#include "grpcpp/grpcpp.h"
#include "proto/inference.grpc.pb.h"
#include "server/infer_handler.h"
#include "server/memory_budget.h"

namespace pynq::server {

// absl and gRPC share their status codes one for one. The message is cut to kMaxStatusBytes
// (a status travels in an HTTP/2 trailer, which clients limit to a few KB).
grpc::Status ToGrpcStatus(const absl::Status& status);
inline constexpr size_t kMaxStatusBytes = 1024;

// The limits one stream lives within, beside the server-wide MemoryBudget.
struct StreamLimits {
  // Requests a stream may have unanswered or unwritten before the server stops reading it.
  int max_in_flight = 1024;
  // Bytes (requests and answers, as charged to the budget) one stream may hold before the
  // server stops reading it.
  size_t max_bytes = size_t{16} << 20;
};

class StreamInfer;

// Thread-safe; the handler and the budget must outlive the service.
using InferenceServiceBase = inference::GRPCInferenceService::WithCallbackMethod_ServerLive<
    inference::GRPCInferenceService::WithCallbackMethod_ServerReady<
        inference::GRPCInferenceService::WithCallbackMethod_ModelReady<
            inference::GRPCInferenceService::WithCallbackMethod_ServerMetadata<
                inference::GRPCInferenceService::WithCallbackMethod_ModelMetadata<
                    inference::GRPCInferenceService::WithRawCallbackMethod_ModelInfer<
                        inference::GRPCInferenceService::WithRawCallbackMethod_ModelStreamInfer<
                            inference::GRPCInferenceService::Service>>>>>>>;

class InferenceService final : public InferenceServiceBase {
 public:
  InferenceService(InferHandler* handler, MemoryBudget* budget, StreamLimits limits,
                   std::string server_version);

  grpc::ServerUnaryReactor* ServerLive(grpc::CallbackServerContext* context,
                                       const inference::ServerLiveRequest* request,
                                       inference::ServerLiveResponse* response) override;
  grpc::ServerUnaryReactor* ServerReady(grpc::CallbackServerContext* context,
                                        const inference::ServerReadyRequest* request,
                                        inference::ServerReadyResponse* response) override;
  grpc::ServerUnaryReactor* ModelReady(grpc::CallbackServerContext* context,
                                       const inference::ModelReadyRequest* request,
                                       inference::ModelReadyResponse* response) override;
  grpc::ServerUnaryReactor* ServerMetadata(grpc::CallbackServerContext* context,
                                           const inference::ServerMetadataRequest* request,
                                           inference::ServerMetadataResponse* response) override;
  grpc::ServerUnaryReactor* ModelMetadata(grpc::CallbackServerContext* context,
                                          const inference::ModelMetadataRequest* request,
                                          inference::ModelMetadataResponse* response) override;
  grpc::ServerUnaryReactor* ModelInfer(grpc::CallbackServerContext* context,
                                       const grpc::ByteBuffer* request,
                                       grpc::ByteBuffer* response) override;
  grpc::ServerBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer>* ModelStreamInfer(
      grpc::CallbackServerContext* context) override;

  // Shutdown, first step: inference calls that arrive from now on are answered UNAVAILABLE,
  // streams stop reading and end with UNAVAILABLE once their answers are written. Idempotent.
  void BeginDrain();

  // Waits until no inference call is open, or until `deadline`. True when none is open.
  bool WaitForCalls(std::chrono::steady_clock::time_point deadline);

  // Inference calls (unary and streams) open now.
  int open_calls() const;

 private:
  friend class UnaryInfer;
  friend class StreamInfer;

  // Call bookkeeping, from the reactors.
  void CallStarted(StreamInfer* stream);
  void CallDone(StreamInfer* stream);

  InferHandler* const handler_;
  MemoryBudget* const budget_;
  const StreamLimits limits_;
  const std::string version_;

  mutable std::mutex mu_;
  std::condition_variable calls_done_;
  int open_calls_ ABSL_GUARDED_BY(mu_) = 0;
  std::set<StreamInfer*> streams_ ABSL_GUARDED_BY(mu_);
  bool draining_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace pynq::server

#endif  // PYNQ_SERVER_SERVICE_H_
