// infer-client's run, flags aside: load the test set, check the model, scrape the server's
// metrics, send every image, report. main.cc turns the command line into ClientOptions.
#ifndef PYNQ_CLIENT_CLIENT_APP_H_
#define PYNQ_CLIENT_CLIENT_APP_H_

#include <cstdint>
#include <optional>
#include <string>

namespace pynq::client {

// Exit codes of infer-client.
enum ExitCode : int {
  kExitOk = 0,         // every image answered, accuracy not below --min-accuracy
  kExitRunFailed = 1,  // some requests failed, or accuracy below --min-accuracy
  kExitSetup = 2,      // usage or setup: bad flags, dataset not found, server unreachable...
};

struct ClientOptions {
  std::string dataset;                 // mnist, fashion-mnist, cifar10
  std::string host = "localhost";      // HOST[:PORT], port 8001 by default
  std::string model;                   // empty: the dataset's default model
  std::string data_dir;                // empty: $INFER_DATA_DIR, then ../shared/datasets
  std::string data_file;               // one file named directly, instead of data_dir
  size_t limit = 0;                    // first N images only; 0: all
  size_t concurrency = 8;              // requests in flight
  bool unary = false;                  // unary calls instead of one stream
  std::string json_path;               // also write the report as JSON here
  std::string metrics_url;             // empty: http://HOST:8002/metrics
  bool no_metrics = false;             // skip the server's metrics
  int64_t timeout_ms = 10000;          // see RunnerOptions::timeout; 0: none
  std::optional<double> min_accuracy;  // fraction 0..1 (a value > 1 is read as percent)
  bool progress = true;                // progress on stderr
};

// The model a dataset is sent to unless --model says otherwise.
std::string DefaultModel(const std::string& dataset);

// Runs the client; writes the report to stdout, progress and problems to stderr. Returns an
// ExitCode.
int RunClient(const ClientOptions& options);

}  // namespace pynq::client

#endif  // PYNQ_CLIENT_CLIENT_APP_H_
