// The Prometheus text parser, histogram deltas and quantiles, the server view, and the HTTP GET.
#include <cmath>
#include <string>
#include <vector>

#include "client/metrics_scrape.h"
#include "client/prom_text.h"
#include "client/server_view.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/client/http_test_server.h"

namespace pynq::client {
namespace {

using test::HttpResponse;
using test::HttpTestServer;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Pair;

constexpr char kExposition[] = R"(# HELP pynq_inference_requests_total Requests by outcome.
# TYPE pynq_inference_requests_total counter
pynq_inference_requests_total{model="mnist",version="1",outcome="success"} 150
pynq_inference_requests_total{model="mnist",version="1",outcome="INVALID_ARGUMENT"} 2 1700000000000
pynq_inference_requests_total{model="odd \"name\"\\x\nz",outcome="success",} 7
# a comment that is not HELP or TYPE
process_resident_memory_bytes 2.13e+07
   weird_spacing  {  a = "1" , b="2" }   -Inf
nan_value NaN
h_bucket{le="0.001"} 10
h_bucket{le="+Inf"} 40
)";

TEST(ClientPromTextTest, ParsesSamplesLabelsAndEscapes) {
  absl::StatusOr<Exposition> e = ParsePrometheusText(kExposition);
  ASSERT_TRUE(e.ok()) << e.status();
  ASSERT_EQ(e->samples.size(), 8u);
  EXPECT_EQ(e->types.at("pynq_inference_requests_total"), "counter");
  const Sample& first = e->samples[0];
  EXPECT_EQ(first.name, "pynq_inference_requests_total");
  EXPECT_THAT(first.labels, ElementsAre(Pair("model", "mnist"), Pair("outcome", "success"),
                                        Pair("version", "1")));
  EXPECT_EQ(first.value, 150);
  EXPECT_EQ(e->samples[1].value, 2);  // the timestamp is dropped
  EXPECT_EQ(e->samples[2].labels.at("model"), "odd \"name\"\\x\nz");
  EXPECT_EQ(e->samples[3].value, 2.13e7);
  EXPECT_THAT(e->samples[4].labels, ElementsAre(Pair("a", "1"), Pair("b", "2")));
  EXPECT_TRUE(std::isinf(e->samples[4].value) && e->samples[4].value < 0);
  EXPECT_TRUE(std::isnan(e->samples[5].value));
  EXPECT_EQ(e->samples[7].labels.at("le"), "+Inf");
  EXPECT_EQ(e->samples[7].value, 40);
}

TEST(ClientPromTextTest, RejectsMalformedLinesWithTheLineNumber) {
  for (const char* bad : {"x{a=\"1\" 3", "x{a=1} 3", "x{a=\"unterminated} 3", "x 3 4 5", "x abc",
                          "x{=\"1\"} 2", "x"}) {
    absl::StatusOr<Exposition> e = ParsePrometheusText(absl::StrCat("ok 1\n", bad, "\n"));
    ASSERT_FALSE(e.ok()) << bad;
    EXPECT_EQ(e.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(e.status().message(), HasSubstr("line 2")) << bad;
  }
}

Histogram Buckets(std::vector<std::pair<double, double>> b) {
  Histogram h;
  h.buckets = std::move(b);
  h.count = h.buckets.empty() ? 0 : h.buckets.back().second;
  return h;
}

TEST(ClientHistogramQuantileTest, InterpolatesInsideTheBucket) {
  const Histogram h = Buckets({{0.001, 10}, {0.002, 30}, {0.005, 40}, {INFINITY, 40}});
  EXPECT_NEAR(HistogramQuantile(0.1, h), 0.0004, 1e-12);  // rank 4 in [0, 0.001]
  EXPECT_NEAR(HistogramQuantile(0.5, h), 0.0015, 1e-12);  // rank 20: 10 of 20 into (1, 2] ms
  EXPECT_NEAR(HistogramQuantile(0.9, h), 0.0038, 1e-12);  // rank 36: 6 of 10 into (2, 5] ms
  EXPECT_NEAR(HistogramQuantile(0.99, h), 0.00488, 1e-12);
  EXPECT_NEAR(HistogramQuantile(1.0, h), 0.005, 1e-12);
}

TEST(ClientHistogramQuantileTest, RankInTheInfBucketGivesTheHighestFiniteBound) {
  const Histogram h = Buckets({{1, 5}, {2, 5}, {INFINITY, 10}});
  EXPECT_DOUBLE_EQ(HistogramQuantile(0.9, h), 2);
  EXPECT_DOUBLE_EQ(HistogramQuantile(0.5, h), 1);  // rank 5 reached exactly at le=1
}

TEST(ClientHistogramQuantileTest, DegenerateCasesAreNaN) {
  EXPECT_TRUE(std::isnan(HistogramQuantile(0.5, Buckets({}))));
  EXPECT_TRUE(std::isnan(HistogramQuantile(0.5, Buckets({{1, 0}, {INFINITY, 0}}))));
  EXPECT_TRUE(std::isnan(HistogramQuantile(0.5, Buckets({{1, 3}, {2, 4}}))));  // no +Inf
}

std::vector<Sample> Parse(const std::string& text) {
  absl::StatusOr<Exposition> e = ParsePrometheusText(text);
  EXPECT_TRUE(e.ok()) << e.status();
  return e.ok() ? e->samples : std::vector<Sample>{};
}

// Two backends for model "m", one series for another model that must be ignored.
constexpr char kBefore[] = R"(
pynq_inference_requests_total{model="m",version="1",outcome="success"} 100
pynq_inference_requests_total{model="other",version="1",outcome="success"} 5000
pynq_inference_compute_duration_seconds_bucket{model="m",version="1",backend="cpu",le="0.001"} 50
pynq_inference_compute_duration_seconds_bucket{model="m",version="1",backend="cpu",le="0.01"} 90
pynq_inference_compute_duration_seconds_bucket{model="m",version="1",backend="cpu",le="+Inf"} 100
pynq_inference_compute_duration_seconds_count{model="m",version="1",backend="cpu"} 100
pynq_inference_compute_duration_seconds_sum{model="m",version="1",backend="cpu"} 0.2
pynq_inference_batch_size_count{model="m",version="1",backend="cpu"} 30
pynq_inference_batch_size_sum{model="m",version="1",backend="cpu"} 100
)";

constexpr char kAfter[] = R"(
pynq_inference_requests_total{model="m",version="1",outcome="success"} 180
pynq_inference_requests_total{model="m",version="1",outcome="INVALID_ARGUMENT"} 20
pynq_inference_requests_total{model="other",version="1",outcome="success"} 9000
pynq_inference_compute_duration_seconds_bucket{model="m",version="1",backend="cpu",le="0.001"} 60
pynq_inference_compute_duration_seconds_bucket{model="m",version="1",backend="cpu",le="0.01"} 120
pynq_inference_compute_duration_seconds_bucket{model="m",version="1",backend="cpu",le="+Inf"} 140
pynq_inference_compute_duration_seconds_count{model="m",version="1",backend="cpu"} 140
pynq_inference_compute_duration_seconds_sum{model="m",version="1",backend="cpu"} 0.3
pynq_inference_compute_duration_seconds_bucket{model="m",version="1",backend="fpga",le="0.001"} 30
pynq_inference_compute_duration_seconds_bucket{model="m",version="1",backend="fpga",le="0.01"} 40
pynq_inference_compute_duration_seconds_bucket{model="m",version="1",backend="fpga",le="+Inf"} 40
pynq_inference_compute_duration_seconds_count{model="m",version="1",backend="fpga"} 40
pynq_inference_compute_duration_seconds_sum{model="m",version="1",backend="fpga"} 0.02
pynq_inference_batch_size_count{model="m",version="1",backend="cpu"} 40
pynq_inference_batch_size_sum{model="m",version="1",backend="cpu"} 140
pynq_inference_batch_size_count{model="m",version="1",backend="fpga"} 5
pynq_inference_batch_size_sum{model="m",version="1",backend="fpga"} 40
pynq_inference_queue_depth{model="m",version="1"} 3
process_resident_memory_bytes 21300000
)";

TEST(ClientHistogramDeltaTest, SubtractsAndSumsOverBackends) {
  bool reset = false;
  const Histogram h =
      HistogramDelta(Parse(kBefore), Parse(kAfter), "pynq_inference_compute_duration_seconds",
                     {{"model", "m"}}, &reset);
  EXPECT_FALSE(reset);
  // cpu: 10, 30, 40 new; fpga (absent before): 30, 40, 40.
  EXPECT_THAT(h.buckets, ElementsAre(Pair(0.001, 40), Pair(0.01, 70), Pair(INFINITY, 80)));
  EXPECT_DOUBLE_EQ(h.count, 80);
  EXPECT_NEAR(h.sum, 0.12, 1e-12);
  // p50: rank 40 reached exactly at le=0.001; p90: rank 72 is 2 of 10 into the +Inf bucket.
  EXPECT_NEAR(HistogramQuantile(0.5, h), 0.001, 1e-12);
  EXPECT_DOUBLE_EQ(HistogramQuantile(0.9, h), 0.01);
  EXPECT_NEAR(HistogramQuantile(0.75, h), 0.001 + 0.009 * (20.0 / 30.0), 1e-12);
}

TEST(ClientServerViewTest, DeltasForTheChosenModel) {
  const ServerView v = ComputeServerView(Parse(kBefore), Parse(kAfter), "m");
  EXPECT_THAT(v.outcomes, ElementsAre(Pair("INVALID_ARGUMENT", 20), Pair("success", 80)));
  EXPECT_DOUBLE_EQ(v.requests, 100);
  EXPECT_DOUBLE_EQ(v.batches, 15);         // 10 cpu + 5 fpga
  EXPECT_DOUBLE_EQ(v.batched_images, 80);  // 40 cpu + 40 fpga
  EXPECT_NEAR(v.avg_batch(), 80.0 / 15.0, 1e-12);
  EXPECT_THAT(v.backend_requests, ElementsAre(Pair("cpu", 40), Pair("fpga", 40)));
  EXPECT_THAT(v.backend_batches, ElementsAre(Pair("cpu", 10), Pair("fpga", 5)));
  EXPECT_THAT(v.backend_images, ElementsAre(Pair("cpu", 40), Pair("fpga", 40)));
  EXPECT_DOUBLE_EQ(v.compute.count, 80);
  EXPECT_NEAR(v.compute.mean_s, 0.12 / 80, 1e-12);
  EXPECT_NEAR(v.compute.p50_s, 0.001, 1e-12);
  EXPECT_EQ(v.queue_depth, 3);
  EXPECT_EQ(v.rss_bytes, 21.3e6);
  EXPECT_TRUE(v.dma_transfers.empty());  // no overlay: no such counter
  EXPECT_TRUE(v.fallbacks.empty());
  EXPECT_DOUBLE_EQ(v.queue.count, 0);  // absent families read as empty
  EXPECT_TRUE(std::isnan(v.queue.p50_s));
  EXPECT_FALSE(v.counters_reset);
}

TEST(ClientServerViewTest, CounterThatWentDownMeansARestart) {
  const ServerView v =
      ComputeServerView(Parse("pynq_inference_requests_total{model=\"m\",outcome=\"success\"} 500\n"
                              "pynq_fpga_dma_transfers_total{model=\"m\",direction=\"mm2s\"} 7\n"
                              "pynq_fpga_dma_transfers_total{model=\"x\",direction=\"mm2s\"} 1\n"),
                        Parse("pynq_inference_requests_total{model=\"m\",outcome=\"success\"} 30\n"
                              "pynq_fpga_dma_transfers_total{model=\"m\",direction=\"mm2s\"} 19\n"
                              "pynq_fpga_dma_transfers_total{model=\"m\",direction=\"s2mm\"} 12\n"
                              "pynq_fpga_dma_transfers_total{model=\"x\",direction=\"mm2s\"} 100\n"
                              "pynq_fpga_fallbacks_total{model=\"m\",reason=\"busy\"} 3\n"),
                        "m");
  EXPECT_TRUE(v.counters_reset);
  EXPECT_DOUBLE_EQ(v.requests, 30);
  EXPECT_THAT(v.dma_transfers, ElementsAre(Pair("mm2s", 12), Pair("s2mm", 12)));
  EXPECT_THAT(v.fallbacks, ElementsAre(Pair("busy", 3)));
}

TEST(ClientScrapeTest, ReadsTheSamplesOverHttp) {
  HttpTestServer server([] { return HttpResponse("200 OK", "a_total{model=\"m\"} 3\nb 4\n"); });
  absl::StatusOr<std::vector<Sample>> samples = ScrapeMetrics(server.Url(), absl::Seconds(5));
  ASSERT_TRUE(samples.ok()) << samples.status();
  ASSERT_EQ(samples->size(), 2u);
  EXPECT_EQ((*samples)[0].labels.at("model"), "m");
  EXPECT_EQ((*samples)[1].value, 4);
}

TEST(ClientScrapeTest, HttpErrorStatusFails) {
  HttpTestServer server([] { return HttpResponse("404 Not Found", "no"); });
  absl::StatusOr<std::string> body = HttpGet(server.Url(), absl::Seconds(5));
  EXPECT_EQ(body.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(body.status().message(), HasSubstr("404"));
}

TEST(ClientScrapeTest, NothingListeningFails) {
  std::string url;
  {
    HttpTestServer server([] { return HttpResponse("200 OK", ""); });
    url = server.Url();
    ASSERT_TRUE(HttpGet(url, absl::Seconds(5)).ok());
  }
  absl::StatusOr<std::string> body = HttpGet(url, absl::Seconds(5));
  EXPECT_EQ(body.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(body.status().message(), HasSubstr(url));
}

}  // namespace
}  // namespace pynq::client
