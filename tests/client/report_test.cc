// Report math on small hand-made runs: percentiles, per-class counts, confusion, JSON fields.
#include "client/report.h"

#include <cmath>
#include <string>
#include <vector>

#include "client/progress.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace pynq::client {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::Pair;

TEST(ClientPercentileTest, InterpolatesBetweenClosestRanks) {
  const std::vector<double> v = {10, 20, 30, 40, 50};
  EXPECT_DOUBLE_EQ(Percentile(v, 0.0), 10);
  EXPECT_DOUBLE_EQ(Percentile(v, 0.5), 30);
  EXPECT_DOUBLE_EQ(Percentile(v, 0.9), 46);     // rank 3.6: 40 + 0.6 * 10
  EXPECT_DOUBLE_EQ(Percentile(v, 0.99), 49.6);  // rank 3.96
  EXPECT_DOUBLE_EQ(Percentile(v, 1.0), 50);
  EXPECT_DOUBLE_EQ(Percentile({7}, 0.99), 7);
  EXPECT_TRUE(std::isnan(Percentile({}, 0.5)));
}

TEST(ClientLatencyStatsTest, UnsortedSamples) {
  const LatencyStats s = ComputeLatencyStats({600, 100, 400, 200, 300});
  EXPECT_EQ(s.count, 5u);
  EXPECT_DOUBLE_EQ(s.min, 100);
  EXPECT_DOUBLE_EQ(s.max, 600);
  EXPECT_DOUBLE_EQ(s.mean, 320);
  EXPECT_DOUBLE_EQ(s.p50, 300);
  EXPECT_DOUBLE_EQ(s.p90, 520);  // rank 3.6 between 400 and 600
  EXPECT_DOUBLE_EQ(s.p99, 592);
  EXPECT_NEAR(s.std, std::sqrt(29600.0), 1e-9);  // population deviation
}

TEST(ClientLatencyStatsTest, EmptyIsNaN) {
  const LatencyStats s = ComputeLatencyStats({});
  EXPECT_EQ(s.count, 0u);
  EXPECT_TRUE(std::isnan(s.p50));
  EXPECT_TRUE(std::isnan(s.mean));
}

// Three classes, six images: labels 0 0 1 1 2 2.
Dataset TinySet() {
  Dataset d;
  d.name = "tiny";
  d.image_dims = {1, 1, 1};
  d.image_bytes = 1;
  d.pixels = {0, 1, 2, 3, 4, 5};
  d.labels = {0, 0, 1, 1, 2, 2};
  d.class_names = {"cat", "dog", "owl"};
  return d;
}

ImageResult Answered(int64_t predicted, int64_t latency_us) {
  ImageResult r;
  r.predicted = predicted;
  r.latency_us = latency_us;
  return r;
}

RunResult TinyRun() {
  RunResult run;
  ImageResult failed;
  failed.error = "boom";
  failed.latency_us = 50;
  run.images = {Answered(0, 100), Answered(1, 200), Answered(1, 300),
                Answered(1, 400), failed,           Answered(0, 600)};
  run.answered = 6;
  run.wall = absl::Milliseconds(500);
  run.unmatched = {"answer with unknown id '99'"};
  return run;
}

TEST(ClientReportTest, CountsPerClassAndConfusion) {
  const Report r = BuildReport("m", "/data/tiny.bin", TinySet(), TinyRun());
  EXPECT_EQ(r.images, 6u);
  EXPECT_EQ(r.correct, 3u);
  EXPECT_EQ(r.errors, 2u);  // the failed image and the unmatched answer
  EXPECT_DOUBLE_EQ(r.accuracy(), 0.5);
  ASSERT_EQ(r.per_class.size(), 3u);
  EXPECT_EQ(r.per_class[0].correct, 1);
  EXPECT_EQ(r.per_class[0].total, 2);
  EXPECT_THAT(r.per_class[0].misclassified_as, ElementsAre(Pair(1u, 1)));
  EXPECT_EQ(r.per_class[1].correct, 2);
  EXPECT_TRUE(r.per_class[1].misclassified_as.empty());
  EXPECT_EQ(r.per_class[2].correct, 0);
  EXPECT_EQ(r.per_class[2].total, 2);
  EXPECT_THAT(r.per_class[2].misclassified_as, ElementsAre(Pair(0u, 1)));
  EXPECT_THAT(r.confusion,
              ElementsAre(ElementsAre(1, 1, 0), ElementsAre(0, 2, 0), ElementsAre(1, 0, 0)));
  // Latency over the five successful answers; throughput = 5 answers / 0.5 s.
  EXPECT_EQ(r.latency.count, 5u);
  EXPECT_DOUBLE_EQ(r.latency.p50, 300);
  EXPECT_DOUBLE_EQ(r.throughput_ips, 10);
  EXPECT_THAT(r.error_samples, ElementsAre("image 4: boom", "answer with unknown id '99'"));
}

TEST(ClientReportTest, TextNamesClassesAndMistakes) {
  Report r = BuildReport("m", "/data/tiny.bin", TinySet(), TinyRun());
  r.server_note = "skipped (--no-metrics)";
  const std::string text = FormatReport(r);
  EXPECT_THAT(text, HasSubstr("model m  dataset tiny (6 images from /data/tiny.bin)"));
  EXPECT_THAT(text, HasSubstr("accuracy 3/6 (50.00%)"));
  EXPECT_THAT(text, HasSubstr("throughput 10 img/s"));
  EXPECT_THAT(text, HasSubstr("latency p50 300 us"));
  EXPECT_THAT(text,
              HasSubstr("\n0 cat   1/2         1 (1)\n1 dog   2/2\n2 owl   0/2         0 (1)\n"));
  EXPECT_THAT(text, HasSubstr("server: skipped (--no-metrics)"));
  EXPECT_THAT(text, HasSubstr("errors 2\n  image 4: boom\n"));
}

TEST(ClientReportTest, ServerLine) {
  Report r = BuildReport("m", "f", TinySet(), TinyRun());
  ServerView v;
  v.outcomes = {{"success", 5}, {"INVALID_ARGUMENT", 1}};
  v.requests = 6;
  v.batches = 4;
  v.batched_images = 6;
  v.queue.count = 6;
  v.queue.p50_s = 0.0002;
  v.queue.p99_s = 0.0019;
  v.backend_requests = {{"cpu", 4}, {"fpga", 2}};
  v.backend_images = {{"cpu", 4}, {"fpga", 2}};
  v.backend_batches = {{"cpu", 3}, {"fpga", 1}};
  v.dma_transfers = {{"mm2s", 1}, {"s2mm", 1}};
  v.fallbacks = {{"busy", 2}, {"timeout", 1}, {"dma_error", 0}};
  v.rss_bytes = 21.3e6;
  r.server = v;
  const std::string text = FormatReport(r);
  EXPECT_THAT(text, HasSubstr("server: 6 requests in 4 batches (avg 1.5)"));
  EXPECT_THAT(text, HasSubstr("queue p50 200 us p99 1.90 ms"));
  EXPECT_THAT(text, Not(HasSubstr("compute")));  // no observations: left out
  EXPECT_THAT(text, HasSubstr("served by: cpu 4 images in 3 batches, fpga 2 images in 1 batches"));
  EXPECT_THAT(text, HasSubstr("dma transfers mm2s 1 s2mm 1"));
  EXPECT_THAT(text, HasSubstr("cpu fallbacks busy 2, timeout 1"));
  EXPECT_THAT(text, Not(HasSubstr("dma_error")));  // reasons that did not occur are left out
  EXPECT_THAT(text, HasSubstr("rss 21.3 MB"));
  EXPECT_THAT(text, HasSubstr("server errors: INVALID_ARGUMENT 1"));
}

TEST(ClientReportTest, JsonHasTheSchemaFields) {
  Report r = BuildReport("m", "f", TinySet(), TinyRun());
  const nlohmann::json j = ReportToJson(r);
  for (const char* key :
       {"model", "dataset", "images", "correct", "accuracy", "per_class", "confusion", "latency_us",
        "throughput_ips", "wall_s", "errors", "server"}) {
    EXPECT_TRUE(j.contains(key)) << key;
  }
  EXPECT_EQ(j["model"], "m");
  EXPECT_EQ(j["images"], 6);
  EXPECT_EQ(j["correct"], 3);
  EXPECT_DOUBLE_EQ(j["accuracy"].get<double>(), 0.5);
  EXPECT_EQ(j["errors"], 2);
  EXPECT_TRUE(j["server"].is_null());
  ASSERT_EQ(j["per_class"].size(), 3u);
  EXPECT_EQ(j["per_class"][0]["name"], "cat");
  EXPECT_EQ(j["per_class"][0]["misclassified_as"]["1"], 1);
  EXPECT_EQ(j["per_class"][2]["total"], 2);
  EXPECT_EQ(j["confusion"][2][0], 1);
  for (const char* key : {"min", "p50", "p90", "p99", "max", "mean", "std"}) {
    EXPECT_TRUE(j["latency_us"].contains(key)) << key;
  }
  EXPECT_DOUBLE_EQ(j["latency_us"]["p90"].get<double>(), 520);
  EXPECT_DOUBLE_EQ(j["wall_s"].get<double>(), 0.5);

  ServerView v;
  v.requests = 6;
  v.backend_requests = {{"cpu", 6}};
  v.compute.p99_s = 0.001;
  r.server = v;
  const nlohmann::json s = ReportToJson(r)["server"];
  EXPECT_EQ(s["requests"], 6);
  EXPECT_EQ(s["backends"]["cpu"]["requests"], 6);
  EXPECT_DOUBLE_EQ(s["compute_us"]["p99"].get<double>(), 1000);
  EXPECT_TRUE(s["rss_bytes"].is_null());
}

TEST(ClientFormatTest, MicrosAndBar) {
  EXPECT_EQ(FormatMicros(310), "310 us");
  EXPECT_EQ(FormatMicros(1940), "1.94 ms");
  EXPECT_EQ(FormatMicros(12345), "12.3 ms");
  EXPECT_EQ(FormatMicros(1.2e6), "1.20 s");
  EXPECT_EQ(FormatMicros(NAN), "n/a");
  EXPECT_EQ(Progress::BarLine(25, 100, 4210, 8), "[##......]  25.0% 25/100  4210 img/s");
}

}  // namespace
}  // namespace pynq::client
