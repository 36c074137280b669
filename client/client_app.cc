#include "client/client_app.h"

#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <iostream>
#include <memory>
#include <thread>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "client/dataset.h"
#include "client/dataset_files.h"
#include "client/endpoint.h"
#include "client/infer_protocol.h"
#include "client/metrics_scrape.h"
#include "client/progress.h"
#include "client/report.h"
#include "client/runner.h"
#include "client/server_view.h"
#include "common/status_macros.h"
#include "grpcpp/grpcpp.h"

namespace pynq::client {
namespace {

using Stub = inference::GRPCInferenceService::Stub;

constexpr absl::Duration kMetadataTimeout = absl::Seconds(5);
constexpr absl::Duration kScrapeTimeout = absl::Seconds(3);
// The server may count a request just after answering it: re-scrape a few times until the
// counts cover the run.
constexpr int kScrapeRetries = 5;
constexpr absl::Duration kScrapeRetryDelay = absl::Milliseconds(100);

struct LoadedSet {
  std::string path;
  Dataset data;
};

absl::StatusOr<LoadedSet> LoadDataset(DatasetKind kind, const ClientOptions& o) {
  LoadedSet set;
  if (!o.data_file.empty()) {
    set.path = o.data_file;
  } else {
    PYNQ_ASSIGN_OR_RETURN(const std::string dir, ResolveDataDir(o.data_dir));
    PYNQ_ASSIGN_OR_RETURN(set.path, FindTestSetFile(kind, dir));
  }
  PYNQ_ASSIGN_OR_RETURN(set.data, LoadFile(kind, set.path));
  return set;
}

// ModelMetadata, with errors phrased for the user.
absl::StatusOr<InferTarget> FetchTarget(Stub& stub, const std::string& target_address,
                                        const std::string& model, const Dataset& data) {
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() +
                       absl::ToChronoMilliseconds(kMetadataTimeout));
  inference::ModelMetadataRequest request;
  request.set_name(model);
  inference::ModelMetadataResponse response;
  const grpc::Status status = stub.ModelMetadata(&context, request, &response);
  switch (status.error_code()) {
    case grpc::StatusCode::OK:
      return MatchModelMetadata(response, data.image_dims);
    case grpc::StatusCode::UNAVAILABLE:
    case grpc::StatusCode::DEADLINE_EXCEEDED:
      return absl::UnavailableError(absl::StrCat("cannot reach infer-server at ", target_address,
                                                 ": ", status.error_message(),
                                                 " (is it running? --host)"));
    case grpc::StatusCode::NOT_FOUND:
      return absl::NotFoundError(absl::StrCat("infer-server at ", target_address, " has no model '",
                                              model, "': ", status.error_message(), " (--model)"));
    default:
      return absl::Status(static_cast<absl::StatusCode>(status.error_code()),
                          absl::StrCat("ModelMetadata(", model, ") at ", target_address,
                                       " failed: ", status.error_message()));
  }
}

// The server's view of the run, or why there is none (in *note).
std::optional<ServerView> ScrapeAfter(const std::string& url, const std::vector<Sample>& before,
                                      const std::string& model, size_t answered,
                                      std::string* note) {
  std::optional<ServerView> view;
  for (int attempt = 0; attempt <= kScrapeRetries; ++attempt) {
    if (attempt > 0) std::this_thread::sleep_for(absl::ToChronoMilliseconds(kScrapeRetryDelay));
    absl::StatusOr<std::vector<Sample>> after = ScrapeMetrics(url, kScrapeTimeout);
    if (!after.ok()) {
      *note = absl::StrCat("metrics scrape after the run failed: ", after.status().message());
      std::fprintf(stderr, "warning: %s\n", note->c_str());
      return std::nullopt;
    }
    view = ComputeServerView(before, *after, model);
    if (view->requests >= static_cast<double>(answered)) break;
  }
  return view;
}

int Fail(const absl::Status& status) {
  std::fprintf(stderr, "infer-client: %s\n", std::string(status.message()).c_str());
  return kExitSetup;
}

bool StderrIsTty() { return isatty(fileno(stderr)) == 1; }

void AnnounceDataset(const LoadedSet& set, size_t count) {
  std::fprintf(stderr, "dataset %s: %zu of %zu images from %s\n", set.data.name.c_str(), count,
               set.data.size(), set.path.c_str());
  if (absl::EndsWith(set.path, "test_batch.first1000.bin.gz")) {
    std::fprintf(stderr,
                 "note: that is the exact 1000-record subset of the CIFAR-10 test batch (no full "
                 "test_batch.bin found); --data-file cifar-10/jpeg/test.bin.gz has all 10000 "
                 "with approximate (JPEG-decoded) pixels\n");
  }
}

// The metrics before the run; nullopt (and why, in *note) when they cannot be read.
std::optional<std::vector<Sample>> ScrapeBefore(const std::string& url, std::string* note) {
  absl::StatusOr<std::vector<Sample>> scraped = ScrapeMetrics(url, kScrapeTimeout);
  if (scraped.ok()) return *std::move(scraped);
  *note = absl::StrCat("no metrics: ", scraped.status().message());
  std::fprintf(stderr,
               "warning: cannot read the server's metrics (%s); the report has no server "
               "section (--metrics-url, --no-metrics)\n",
               std::string(scraped.status().message()).c_str());
  return std::nullopt;
}

RunResult RunWithProgress(Stub& stub, const InferTarget& target, const Dataset& data, size_t count,
                          const ClientOptions& o) {
  Progress progress(count, stderr, StderrIsTty());
  RunnerOptions runner;
  runner.concurrency = o.concurrency;
  runner.unary = o.unary;
  runner.timeout = absl::Milliseconds(o.timeout_ms);
  if (o.progress) runner.progress = [&progress](size_t done) { progress.Update(done); };
  RunResult run = RunInference(stub, target, data, count, runner);
  if (o.progress) progress.Finish(run.answered);
  return run;
}

// Prints the report, writes the JSON, and picks the exit code.
int Conclude(const Report& report, const ClientOptions& o) {
  std::fputs(FormatReport(report).c_str(), stdout);
  std::fflush(stdout);
  if (!o.json_path.empty()) {
    std::ofstream out(o.json_path);
    out << ReportToJson(report).dump(2) << "\n";
    if (!out) return Fail(absl::UnavailableError("cannot write " + o.json_path + " (--json)"));
  }
  if (report.errors > 0) return kExitRunFailed;
  if (o.min_accuracy) {
    const double min = *o.min_accuracy > 1 ? *o.min_accuracy / 100 : *o.min_accuracy;
    if (report.accuracy() < min) {
      std::fprintf(stderr, "infer-client: accuracy %.2f%% is below --min-accuracy %.2f%%\n",
                   100 * report.accuracy(), 100 * min);
      return kExitRunFailed;
    }
  }
  return kExitOk;
}

}  // namespace

std::string DefaultModel(const std::string& dataset) {
  absl::StatusOr<DatasetKind> kind = ParseDatasetKind(dataset);
  if (!kind.ok()) return "";
  switch (*kind) {
    case DatasetKind::kMnist:
      return "mnist-cnn-q8";
    case DatasetKind::kFashionMnist:
      return "fashion-cnn-q8";
    case DatasetKind::kCifar10:
      return "cifar10-resnet-q8";
  }
  return "";
}

int RunClient(const ClientOptions& o) {
  absl::StatusOr<DatasetKind> kind = ParseDatasetKind(o.dataset);
  if (!kind.ok()) return Fail(kind.status());
  absl::StatusOr<Endpoint> endpoint = ParseEndpoint(o.host);
  if (!endpoint.ok()) return Fail(endpoint.status());
  const std::string model = o.model.empty() ? DefaultModel(o.dataset) : o.model;

  absl::StatusOr<LoadedSet> set = LoadDataset(*kind, o);
  if (!set.ok()) return Fail(set.status());
  const size_t count = o.limit == 0 ? set->data.size() : std::min(o.limit, set->data.size());
  AnnounceDataset(*set, count);

  const std::string address = endpoint->GrpcTarget();
  auto stub = inference::GRPCInferenceService::NewStub(
      grpc::CreateChannel(address, grpc::InsecureChannelCredentials()));
  absl::StatusOr<InferTarget> target = FetchTarget(*stub, address, model, set->data);
  if (!target.ok()) return Fail(target.status());

  const std::string metrics_url =
      o.metrics_url.empty() ? endpoint->DefaultMetricsUrl() : o.metrics_url;
  std::string server_note = "skipped (--no-metrics)";
  std::optional<std::vector<Sample>> before;
  if (!o.no_metrics) before = ScrapeBefore(metrics_url, &server_note);

  const RunResult run = RunWithProgress(*stub, *target, set->data, count, o);
  Report report = BuildReport(model, set->path, set->data, run);
  if (before) {
    report.server = ScrapeAfter(metrics_url, *before, model, run.answered, &server_note);
  }
  report.server_note = server_note;
  return Conclude(report, o);
}

}  // namespace pynq::client
