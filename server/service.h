// The gRPC face of the server: GRPCInferenceService on the callback (reactor) API. Health and
// metadata answer inline; ModelInfer and ModelStreamInfer hand requests to the InferHandler and
// answer from its completion, so no reaction ever blocks.
#ifndef PYNQ_SERVER_SERVICE_H_
#define PYNQ_SERVER_SERVICE_H_

#include <string>

#include "grpcpp/grpcpp.h"
#include "proto/inference.grpc.pb.h"
#include "server/infer_handler.h"

namespace pynq::server {

// absl and gRPC share their status codes one for one.
grpc::Status ToGrpcStatus(const absl::Status& status);

// Thread-safe; the handler must outlive the service.
class InferenceService final : public inference::GRPCInferenceService::CallbackService {
 public:
  InferenceService(InferHandler* handler, std::string server_version);

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
                                       const inference::ModelInferRequest* request,
                                       inference::ModelInferResponse* response) override;
  grpc::ServerBidiReactor<inference::ModelInferRequest, inference::ModelStreamInferResponse>*
  ModelStreamInfer(grpc::CallbackServerContext* context) override;

 private:
  InferHandler* const handler_;
  const std::string version_;
};

}  // namespace pynq::server

#endif  // PYNQ_SERVER_SERVICE_H_
