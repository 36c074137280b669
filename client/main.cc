// infer-client: sends a test set to infer-server and reports accuracy, latency and the server's
// own view of the run. See docs/client.md.
#include <cstdlib>

#include "CLI/CLI.hpp"
#include "client/client_app.h"

int main(int argc, char** argv) {
  pynq::client::ClientOptions o;
  CLI::App app{
      "infer-client: classify a test set with infer-server (Open Inference Protocol over gRPC) "
      "and report accuracy, per-class results, latency percentiles and the server's metrics.\n"
      "Exit code: 0 all answered (and accuracy >= --min-accuracy), 1 request errors or accuracy "
      "too low, 2 usage or setup error."};
  app.add_option("--dataset", o.dataset, "Test set: mnist, fashion-mnist or cifar10")->required();
  app.add_option("--host", o.host, "infer-server address HOST[:PORT]; port 8001 by default")
      ->capture_default_str();
  app.add_option("--model", o.model,
                 "Model name (default: mnist-cnn-q8, fashion-cnn-q8 or cifar10-resnet-q8 by "
                 "dataset)");
  app.add_option("--data-dir", o.data_dir,
                 "Dataset folder (default: $INFER_DATA_DIR, else ../shared/datasets)");
  app.add_option("--data-file", o.data_file,
                 "One data file named directly, e.g. cifar-10/jpeg/test.bin.gz or an MNIST "
                 "t10k-images-idx3-ubyte[.gz] (its labels file beside it)")
      ->excludes("--data-dir");
  app.add_option("--limit", o.limit, "Send only the first N images (0: all)")
      ->check(CLI::NonNegativeNumber);
  app.add_option("--concurrency", o.concurrency, "Requests in flight")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_flag("--unary", o.unary, "Unary ModelInfer calls instead of one ModelStreamInfer stream");
  app.add_option("--timeout-ms", o.timeout_ms,
                 "Unary: each call's deadline. Stream: the longest wait for an answer before the "
                 "stream is cancelled. 0: no limit")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  app.add_option("--json", o.json_path, "Also write the report as JSON to this file");
  auto* metrics = app.add_option("--metrics-url", o.metrics_url,
                                 "The server's Prometheus endpoint (default: "
                                 "http://HOST:8002/metrics)");
  app.add_flag("--no-metrics", o.no_metrics, "Do not scrape the server's metrics")
      ->excludes(metrics);
  app.add_option("--min-accuracy", o.min_accuracy,
                 "Exit 1 when accuracy is below this (a fraction 0..1, or a percent above 1)")
      ->check(CLI::Range(0.0, 100.0));
  bool no_progress = false;
  app.add_flag("--no-progress", no_progress, "No progress output on stderr");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);
    return code == 0 ? 0 : pynq::client::kExitSetup;
  }
  o.progress = !no_progress;
  return pynq::client::RunClient(o);
}
