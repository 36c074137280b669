// The report as text and as JSON.
#include <algorithm>
#include <cmath>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "client/report.h"

namespace pynq::client {
namespace {

std::string Percent(double fraction) { return absl::StrFormat("%.2f%%", 100 * fraction); }

std::string FormatSeconds(double s) { return FormatMicros(s * 1e6); }

// "6 (3), 7 (1)": most frequent first.
std::string Misclassified(const std::map<size_t, int64_t>& as) {
  std::vector<std::pair<size_t, int64_t>> items(as.begin(), as.end());
  std::stable_sort(items.begin(), items.end(),
                   [](const auto& a, const auto& b) { return a.second > b.second; });
  std::vector<std::string> parts;
  for (const auto& [label, n] : items) parts.push_back(absl::StrCat(label, " (", n, ")"));
  return absl::StrJoin(parts, ", ");
}

std::string ClassColumn(const ClassRow& row) {
  return row.name == std::to_string(row.label) ? row.name : absl::StrCat(row.label, " ", row.name);
}

std::string StageText(const char* name, const StageSummary& s) {
  return absl::StrCat(name, " p50 ", FormatSeconds(s.p50_s), " p99 ", FormatSeconds(s.p99_s));
}

std::string ServerText(const ServerView& v) {
  std::string out = absl::StrFormat("server: %.0f requests in %.0f batches (avg %.1f)", v.requests,
                                    v.batches, v.avg_batch());
  for (const auto& [name, stage] : {std::pair<const char*, const StageSummary&>{"queue", v.queue},
                                    {"compute", v.compute},
                                    {"end-to-end", v.end_to_end}}) {
    if (stage.count > 0) absl::StrAppend(&out, "  ", StageText(name, stage));
  }
  if (v.rss_bytes) absl::StrAppendFormat(&out, "  rss %.1f MB", *v.rss_bytes / 1e6);
  // Who served the images: the fabric and the CPU, with the batches of each.
  std::vector<std::string> backends;
  for (const auto& [name, images] : v.backend_images) {
    const auto b = v.backend_batches.find(name);
    backends.push_back(absl::StrFormat("%s %.0f images in %.0f batches", name, images,
                                       b == v.backend_batches.end() ? 0.0 : b->second));
  }
  if (!backends.empty()) absl::StrAppend(&out, "\nserved by: ", absl::StrJoin(backends, ", "));
  if (!v.dma_transfers.empty()) {
    std::vector<std::string> dma;
    for (const auto& [direction, n] : v.dma_transfers) {
      dma.push_back(absl::StrFormat("%s %.0f", direction, n));
    }
    absl::StrAppend(&out, "  dma transfers ", absl::StrJoin(dma, " "));
  }
  std::vector<std::string> fallbacks;
  for (const auto& [reason, n] : v.fallbacks) {
    if (n > 0) fallbacks.push_back(absl::StrFormat("%s %.0f", reason, n));
  }
  if (!fallbacks.empty()) {
    absl::StrAppend(&out, "  cpu fallbacks ", absl::StrJoin(fallbacks, ", "));
  }
  std::vector<std::string> failed;
  for (const auto& [outcome, n] : v.outcomes) {
    if (outcome != "success" && n > 0) failed.push_back(absl::StrFormat("%s %.0f", outcome, n));
  }
  if (!failed.empty()) absl::StrAppend(&out, "\nserver errors: ", absl::StrJoin(failed, ", "));
  if (v.counters_reset)
    absl::StrAppend(&out, "\n(server counters went down: it restarted during the run)");
  return out;
}

nlohmann::json StageJson(const StageSummary& s) {
  return {{"count", s.count},
          {"mean", s.mean_s * 1e6},
          {"p50", s.p50_s * 1e6},
          {"p90", s.p90_s * 1e6},
          {"p99", s.p99_s * 1e6}};
}

nlohmann::json ServerJson(const ServerView& v) {
  nlohmann::json backends = nlohmann::json::object();
  for (const auto& [name, n] : v.backend_requests) backends[name]["requests"] = n;
  for (const auto& [name, n] : v.backend_batches) backends[name]["batches"] = n;
  for (const auto& [name, n] : v.backend_images) backends[name]["images"] = n;
  nlohmann::json outcomes = {{"success", 0}};  // the outcomes that occurred, success always
  for (const auto& [outcome, n] : v.outcomes) {
    if (n > 0) outcomes[outcome] = n;
  }
  nlohmann::json j = {{"requests", v.requests},
                      {"outcomes", outcomes},
                      {"batches", v.batches},
                      {"batched_images", v.batched_images},
                      {"avg_batch_size", v.avg_batch()},
                      {"queue_us", StageJson(v.queue)},
                      {"compute_us", StageJson(v.compute)},
                      {"end_to_end_us", StageJson(v.end_to_end)},
                      {"backends", backends},
                      {"counters_reset", v.counters_reset}};
  j["queue_depth"] = v.queue_depth ? nlohmann::json(*v.queue_depth) : nlohmann::json();
  j["rss_bytes"] = v.rss_bytes ? nlohmann::json(*v.rss_bytes) : nlohmann::json();
  j["dma_transfers"] = v.dma_transfers;
  j["fallbacks"] = v.fallbacks;
  return j;
}

}  // namespace

std::string FormatMicros(double us) {
  if (std::isnan(us)) return "n/a";
  if (us < 1000) return absl::StrFormat("%.0f us", us);
  if (us < 10'000) return absl::StrFormat("%.2f ms", us / 1e3);
  if (us < 1'000'000) return absl::StrFormat("%.1f ms", us / 1e3);
  return absl::StrFormat("%.2f s", us / 1e6);
}

std::string FormatReport(const Report& r) {
  std::string out = absl::StrFormat("model %s  dataset %s (%d images from %s)\n", r.model,
                                    r.dataset, r.images, r.source);
  absl::StrAppendFormat(
      &out, "accuracy %d/%d (%s)   throughput %.0f img/s   latency p50 %s  p90 %s  p99 %s\n",
      r.correct, r.images, Percent(r.accuracy()), r.throughput_ips, FormatMicros(r.latency.p50),
      FormatMicros(r.latency.p90), FormatMicros(r.latency.p99));
  size_t width = 5;  // "class"
  for (const ClassRow& row : r.per_class) width = std::max(width, ClassColumn(row).size());
  width += 2;
  absl::StrAppendFormat(&out, "%-*s %-11s %s\n", width, "class", "correct", "misclassified as");
  for (const ClassRow& row : r.per_class) {
    const std::string line = absl::StrFormat("%-*s %-11s %s", width, ClassColumn(row),
                                             absl::StrCat(row.correct, "/", row.total),
                                             Misclassified(row.misclassified_as));
    absl::StrAppend(&out, absl::StripTrailingAsciiWhitespace(line), "\n");
  }
  if (r.server) {
    absl::StrAppend(&out, ServerText(*r.server), "\n");
  } else if (!r.server_note.empty()) {
    absl::StrAppend(&out, "server: ", r.server_note, "\n");
  }
  absl::StrAppend(&out, "errors ", r.errors, "\n");
  for (const std::string& e : r.error_samples) absl::StrAppend(&out, "  ", e, "\n");
  if (!r.aborted.empty()) absl::StrAppend(&out, "run cut short: ", r.aborted, "\n");
  return out;
}

nlohmann::json ReportToJson(const Report& r) {
  nlohmann::json per_class = nlohmann::json::array();
  for (const ClassRow& row : r.per_class) {
    nlohmann::json as = nlohmann::json::object();
    for (const auto& [label, n] : row.misclassified_as) as[std::to_string(label)] = n;
    per_class.push_back({{"class", row.label},
                         {"name", row.name},
                         {"correct", row.correct},
                         {"total", row.total},
                         {"misclassified_as", as}});
  }
  const LatencyStats& l = r.latency;
  nlohmann::json j = {{"model", r.model},
                      {"dataset", r.dataset},
                      {"source", r.source},
                      {"images", r.images},
                      {"correct", r.correct},
                      {"accuracy", r.accuracy()},
                      {"per_class", per_class},
                      {"confusion", r.confusion},
                      {"latency_us",
                       {{"count", l.count},
                        {"min", l.min},
                        {"p50", l.p50},
                        {"p90", l.p90},
                        {"p99", l.p99},
                        {"max", l.max},
                        {"mean", l.mean},
                        {"std", l.std}}},
                      {"throughput_ips", r.throughput_ips},
                      {"wall_s", r.wall_s},
                      {"errors", r.errors},
                      {"error_messages", r.error_samples},
                      {"aborted", r.aborted}};
  j["server"] = r.server ? ServerJson(*r.server) : nlohmann::json();
  if (!r.server) j["server_note"] = r.server_note;
  return j;
}

}  // namespace pynq::client
