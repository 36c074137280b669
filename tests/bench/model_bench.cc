// Compute benchmark of the CPU backend: for each model of the zoo, images/s of CpuBackend::Run at
// batch 1 and batch 64, with the fast kernels (what the server runs) and, for comparison, the
// reference kernels they are tested against. Inputs are seeded random pixels (the kernels' work
// does not depend on the values). tests/bench/run_model_bench.sh puts these figures beside
// PyTorch's and OpenCV's (tests/bench/framework_bench.py).
//
// --callgrind N runs exactly N batches between CALLGRIND_START/STOP_INSTRUMENTATION, for
// `valgrind --tool=callgrind --instr-atstart=no model_bench --callgrind 4 ...`: instructions per
// image = the reported total / (N x batch), a figure that does not drift with machine load.
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/types/span.h"
#include "accel/cpu/cpu_backend.h"
#include "models/model.h"
#include "nlohmann/json.hpp"

#if __has_include(<valgrind/callgrind.h>)
#include <valgrind/callgrind.h>
#else
#define CALLGRIND_START_INSTRUMENTATION
#define CALLGRIND_STOP_INSTRUMENTATION
#endif

namespace {

using Clock = std::chrono::steady_clock;
using pynq::accel::cpu::CpuBackend;

std::vector<std::string> Split(const std::string& list) {
  std::vector<std::string> out;
  std::stringstream in(list);
  for (std::string item; std::getline(in, item, ',');) {
    if (!item.empty()) out.push_back(item);
  }
  return out;
}

// `batch` images of the model's input size, seeded random pixels.
std::vector<uint8_t> MakeBatch(const pynq::models::Model& model, int batch) {
  std::vector<uint8_t> pixels(static_cast<size_t>(batch) * model.input_bytes());
  std::mt19937 rng(12345);
  for (auto& p : pixels) p = static_cast<uint8_t>(rng());
  return pixels;
}

struct Figure {
  double images_per_second = 0;
  double seconds_per_image = 0;
  int64_t images = 0;
};

Figure Measure(CpuBackend& backend, const pynq::models::Model& model, int batch, double seconds) {
  const std::vector<uint8_t> input = MakeBatch(model, batch);
  std::vector<int8_t> output(static_cast<size_t>(batch) * static_cast<size_t>(model.num_classes()));
  const auto run = [&] {
    const absl::Status status =
        backend.Run(model, batch, absl::MakeConstSpan(input), absl::MakeSpan(output));
    if (!status.ok()) {
      std::fprintf(stderr, "%s\n", status.ToString().c_str());
      std::exit(1);
    }
  };
  for (int i = 0; i < 3; ++i) run();  // warm-up: scratch grows, caches fill
  int64_t batches = 0;
  const Clock::time_point start = Clock::now();
  double elapsed = 0;
  do {
    run();
    ++batches;
    elapsed = std::chrono::duration<double>(Clock::now() - start).count();
  } while (elapsed < seconds);
  Figure f;
  f.images = batches * batch;
  f.images_per_second = static_cast<double>(f.images) / elapsed;
  f.seconds_per_image = elapsed / static_cast<double>(f.images);
  return f;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "Images/s of the CPU backend for each model of the zoo, at batch 1 and batch 64, fast and "
      "reference kernels."};
  std::string zoo = "models/zoo";
  std::string models_flag;
  std::string batches_flag = "1,64";
  std::string kernels_flag = "fast,reference";
  double seconds = 3.0;
  int threads = 0;
  int callgrind_batches = 0;
  std::string json_path;
  app.add_option("--zoo", zoo, "Model repository (folders <model>/1/model.pb)")
      ->capture_default_str();
  app.add_option("--models", models_flag, "Comma-separated model names (default: every model)");
  app.add_option("--batch", batches_flag, "Comma-separated batch sizes")->capture_default_str();
  app.add_option("--kernels", kernels_flag,
                 "fast, portable (the kernels the board's ARM runs), reference, comma-separated")
      ->capture_default_str();
  app.add_option("--seconds", seconds, "Timed seconds per figure")->capture_default_str();
  app.add_option("--threads", threads, "CPU backend threads (0 = all cores)")
      ->capture_default_str();
  app.add_option("--callgrind", callgrind_batches,
                 "Run exactly N batches per figure inside callgrind's instrumentation (fast "
                 "kernels, first batch size); 0 = timed runs");
  app.add_option("--json", json_path, "Also write the figures to this JSON file");
  CLI11_PARSE(app, argc, argv);

  std::vector<std::string> names = Split(models_flag);
  if (names.empty()) {
    std::error_code ec;
    for (const auto& entry : std::filesystem::directory_iterator(zoo, ec)) {
      if (std::filesystem::exists(entry.path() / "1" / "model.pb")) {
        names.push_back(entry.path().filename().string());
      }
    }
    if (ec) {
      std::fprintf(stderr, "%s: %s\n", zoo.c_str(), ec.message().c_str());
      return 2;
    }
    std::sort(names.begin(), names.end());
  }
  std::vector<int> batches;
  for (const std::string& b : Split(batches_flag)) batches.push_back(std::stoi(b));

  nlohmann::json out = nlohmann::json::object();
  std::printf("%-20s %-10s %6s %14s %14s\n", "model", "kernels", "batch", "images/s", "us/image");
  for (const std::string& name : names) {
    auto model = pynq::models::Model::LoadFromFile(zoo + "/" + name + "/1/model.pb");
    if (!model.ok()) {
      std::fprintf(stderr, "%s\n", model.status().ToString().c_str());
      return 1;
    }
    for (const std::string& kernels : Split(kernels_flag)) {
      CpuBackend::Options options;
      options.threads = threads;
      if (kernels == "reference") {
        options.kernels = CpuBackend::Kernels::kReference;
      } else if (kernels == "portable") {
        options.kernels = CpuBackend::Kernels::kPortable;
      } else if (kernels == "fast") {
        options.kernels = CpuBackend::Kernels::kFast;
      } else {
        std::fprintf(stderr, "--kernels: unknown kernels '%s' (fast, portable, reference)\n",
                     kernels.c_str());
        return 2;
      }
      auto backend = CpuBackend::Create(options);
      if (!backend.ok()) {
        std::fprintf(stderr, "%s\n", backend.status().ToString().c_str());
        return 1;
      }
      for (int batch : batches) {
        if (callgrind_batches > 0) {
          const std::vector<uint8_t> input = MakeBatch(**model, batch);
          std::vector<int8_t> output(static_cast<size_t>(batch) *
                                     static_cast<size_t>((*model)->num_classes()));
          const auto run = [&] {
            (void)(*backend)->Run(**model, batch, absl::MakeConstSpan(input),
                                  absl::MakeSpan(output));
          };
          run();  // warm-up outside the instrumented region
          CALLGRIND_START_INSTRUMENTATION;
          for (int i = 0; i < callgrind_batches; ++i) run();
          CALLGRIND_STOP_INSTRUMENTATION;
          std::printf("%-20s %-10s %6d   %d batches instrumented\n", name.c_str(), kernels.c_str(),
                      batch, callgrind_batches);
          continue;
        }
        const Figure f = Measure(**backend, **model, batch, seconds);
        std::printf("%-20s %-10s %6d %14.1f %14.1f\n", name.c_str(), kernels.c_str(), batch,
                    f.images_per_second, f.seconds_per_image * 1e6);
        std::fflush(stdout);
        out[name][kernels][std::to_string(batch)] = {{"images_per_second", f.images_per_second},
                                                     {"images", f.images},
                                                     {"threads", (*backend)->threads()}};
      }
    }
  }
  if (!json_path.empty()) {
    std::ofstream(json_path) << out.dump(2) << "\n";
  }
  return 0;
}
