// The FPGA path end to end, in-process: infer-server on the virtual overlay (--overlay sim), the
// MNIST test set streamed over loopback gRPC, every answer compared bit for bit with the CPU
// backend run in-process; faults injected into the DMA mid-stream; overlays that are missing,
// broken, or built from another model; and the batching the fabric sees under load.
#include <algorithm>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "accel/cpu/cpu_backend.h"
#include "accel/sim/sim_axi_dma.h"
#include "client/dataset.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "models/model.h"
#include "prometheus/metric_family.h"
#include "tests/integration/test_server.h"

namespace pynq {
namespace accel::sim {
// Names the fault in test output ("hang", not its bytes).
void PrintTo(SimFault fault, std::ostream* os) { *os << SimFaultName(fault); }
}  // namespace accel::sim

namespace {

namespace fs = std::filesystem;
using accel::sim::SimFault;

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
constexpr bool kSanitized = true;
#else
constexpr bool kSanitized = false;
#endif

constexpr int kClasses = 10;
// The fault tests' stream: at least 5,000 requests (fewer under the sanitizers, which run the C
// simulation ~10x slower).
constexpr size_t kFaultStream = kSanitized ? 1200 : 5000;

// The sum of the samples of `name` (a counter or gauge, or a histogram's count with `_count`, or
// its sum with `_sum`) over the series whose labels include `match`.
double Metric(const server::InferenceServer& server, const std::string& name,
              const std::map<std::string, std::string>& match) {
  std::string family = name;
  bool count = false;
  bool sum = false;
  for (const char* suffix : {"_count", "_sum"}) {
    const std::string s(suffix);
    if (name.size() > s.size() && name.compare(name.size() - s.size(), s.size(), s) == 0 &&
        name.find("_total") == std::string::npos) {
      family = name.substr(0, name.size() - s.size());
      count = s == "_count";
      sum = s == "_sum";
    }
  }
  double total = 0;
  for (const prometheus::MetricFamily& f : server.registry()->Collect()) {
    if (f.name != family) continue;
    for (const prometheus::ClientMetric& m : f.metric) {
      size_t hits = 0;
      for (const auto& label : m.label) {
        const auto it = match.find(label.name);
        if (it != match.end() && it->second == label.value) ++hits;
      }
      if (hits != match.size()) continue;
      if (count) {
        total += static_cast<double>(m.histogram.sample_count);
      } else if (sum) {
        total += m.histogram.sample_sum;
      } else {
        total += f.type == prometheus::MetricType::Counter ? m.counter.value : m.gauge.value;
      }
    }
  }
  return total;
}

// The MNIST test set and, per model, the CPU backend's logits for every image.
class Reference {
 public:
  static Reference& Get() {
    static Reference* instance = new Reference();
    return *instance;
  }
  const client::Dataset& data() const { return *data_; }
  const models::Model& model(const std::string& name) {
    Load(name);
    return *models_.at(name);
  }
  const std::vector<int8_t>& logits(const std::string& name) {
    Load(name);
    return logits_.at(name);
  }

 private:
  Reference() {
    absl::StatusOr<client::Dataset> data =
        client::LoadTestSet(client::DatasetKind::kMnist, testing::DataDir());
    if (!data.ok()) std::fprintf(stderr, "MNIST: %s\n", data.status().ToString().c_str());
    data_ = std::make_unique<client::Dataset>(data.ok() ? *std::move(data) : client::Dataset{});
  }
  void Load(const std::string& name) {
    std::lock_guard<std::mutex> lock(mu_);
    if (models_.count(name) != 0) return;
    auto model =
        models::Model::LoadFromFile(testing::SourceDir() + "/models/zoo/" + name + "/1/model.pb");
    ASSERT_TRUE(model.ok()) << model.status();
    std::vector<int8_t> logits(data_->size() * kClasses);
    // A backend of its own, gone when done (this object lives to the end of the process, and
    // oneTBB's per-thread scratch of a backend never destroyed reads as a leak).
    std::unique_ptr<accel::cpu::CpuBackend> cpu = *accel::cpu::CpuBackend::Create({});
    ASSERT_TRUE(cpu->Run(**model, static_cast<int>(data_->size()),
                         absl::MakeConstSpan(data_->pixels), absl::MakeSpan(logits))
                    .ok());
    models_[name] = std::move(*model);
    logits_[name] = std::move(logits);
  }

  std::mutex mu_;
  std::unique_ptr<client::Dataset> data_;
  std::map<std::string, std::unique_ptr<const models::Model>> models_;
  std::map<std::string, std::vector<int8_t>> logits_;
};

struct StreamOutcome {
  std::vector<int> answers;  // per image: how many answers arrived
  size_t correct = 0;        // argmax equal to the label
  size_t mismatches = 0;     // logits not bit-identical to the CPU's
  size_t errors = 0;         // error answers
};

// Streams images [0, count) of MNIST to `model` over one ModelStreamInfer call with `window`
// requests in flight; `midway(n)` runs on the reading thread after n answers (fault injection).
StreamOutcome StreamImages(const server::InferenceServer& server, const std::string& model,
                           size_t count, int window,
                           const std::function<void(size_t)>& midway = nullptr) {
  Reference& ref = Reference::Get();
  const client::Dataset& data = ref.data();
  const models::Model& m = ref.model(model);
  const std::vector<int8_t>& expected = ref.logits(model);
  auto stub = testing::Connect(server.grpc_port());
  StreamOutcome out;
  out.answers.assign(count, 0);
  size_t answered = 0;
  const grpc::Status status = testing::StreamWindowed(
      *stub, count, window,
      [&](size_t i) {
        return testing::MnistRequest(model, data.image(i).data(), 1, std::to_string(i));
      },
      [&](const inference::ModelStreamInferResponse& response) {
        const size_t i = std::stoul(response.infer_response().id());
        if (i >= count) return;
        ++out.answers[i];
        if (midway) midway(++answered);
        if (!response.error_message().empty()) {
          ++out.errors;
          return;
        }
        const std::string& raw = response.infer_response().raw_output_contents(0);
        float got[kClasses];
        std::memcpy(got, raw.data(), sizeof(got));
        const int8_t* want = expected.data() + i * kClasses;
        bool same = true;
        for (int c = 0; c < kClasses; ++c) {
          const float w = m.output_scale() * static_cast<float>(want[c] - m.output_zero_point());
          same = same && std::memcmp(&got[c], &w, sizeof(float)) == 0;
        }
        if (!same && out.mismatches++ < 5) {
          ADD_FAILURE() << model << " image " << i << ": logits differ from the CPU backend's";
        }
        if (std::max_element(want, want + kClasses) - want == data.labels[i]) ++out.correct;
      });
  EXPECT_TRUE(status.ok()) << status.error_message();
  return out;
}

size_t CpuCorrect(const std::string& model, size_t count) {
  Reference& ref = Reference::Get();
  const std::vector<int8_t>& logits = ref.logits(model);
  size_t correct = 0;
  for (size_t i = 0; i < count; ++i) {
    const int8_t* row = logits.data() + i * kClasses;
    if (std::max_element(row, row + kClasses) - row == ref.data().labels[i]) ++correct;
  }
  return correct;
}

// The virtual overlay runs the HLS kernels' C simulation in its DMA's worker thread, so a
// transfer takes as long as that (the CNN: ~3 ms per image here, ten times more under the
// sanitizers), not the board's microseconds: the transfer timeout leaves room for it. The fault
// tests use the LFC (~0.1 ms per image) and a short timeout, so a hang costs little.
server::ServerOptions SimOptions(
    const std::string& repository,
    std::chrono::milliseconds timeout = std::chrono::milliseconds(kSanitized ? 30000 : 5000)) {
  server::ServerOptions o = testing::LoopbackOptions(repository);
  o.fabric.overlay = "sim";
  o.fabric.transfer_timeout = timeout;
  return o;
}

constexpr std::chrono::milliseconds kFaultTimeout(kSanitized ? 2000 : 300);

// ---- Bit-exact over the test set, per model. ----

class FabricModelTest : public ::testing::TestWithParam<std::string> {
 protected:
  // With fabric-first dispatch every image goes through the fabric (the CPU would take only
  // faulted batches, and there are none): all `count` logits come from the HLS kernels.
  void Run(size_t count) {
    ASSERT_GE(Reference::Get().data().size(), count) << "MNIST test set missing";
    server::ServerOptions options = SimOptions(testing::SourceDir() + "/models/zoo");
    options.fabric.dispatch = "fabric-first";
    auto server = server::InferenceServer::Create(options);
    ASSERT_TRUE(server.ok()) << server.status();
    const std::string model = GetParam();
    const StreamOutcome out = StreamImages(**server, model, count, 64);
    EXPECT_EQ(out.mismatches, 0u);
    EXPECT_EQ(out.errors, 0u);
    EXPECT_EQ(std::count(out.answers.begin(), out.answers.end(), 1), static_cast<long>(count));
    // The same logits, so the same accuracy as the CPU's.
    EXPECT_EQ(out.correct, CpuCorrect(model, count));
    const double fpga_images =
        Metric(**server, "pynq_inference_batch_size_sum", {{"model", model}, {"backend", "fpga"}});
    const double cpu_images =
        Metric(**server, "pynq_inference_batch_size_sum", {{"model", model}, {"backend", "cpu"}});
    std::printf(
        "%s on the virtual overlay: %zu/%zu correct (%.2f%%), %0.f images on the fabric, "
        "%0.f on the CPU\n",
        model.c_str(), out.correct, count, 100.0 * out.correct / count, fpga_images, cpu_images);
    EXPECT_EQ(fpga_images, static_cast<double>(count)) << "every image through the fabric";
    EXPECT_EQ(cpu_images, 0);
  }
};

TEST_P(FabricModelTest, FiveHundredImagesBitExactOnTheVirtualOverlay) { Run(500); }

// Excluded from the sanitizer runs by its name.
TEST_P(FabricModelTest, WholeTestSetBitExactOnTheVirtualOverlay) { Run(10000); }

INSTANTIATE_TEST_SUITE_P(Models, FabricModelTest,
                         ::testing::Values("mnist-lfc-w1a1", "mnist-lfc-w1a2", "mnist-cnn-q8"),
                         [](const auto& param_info) {
                           std::string name = param_info.param;
                           name.erase(std::remove(name.begin(), name.end(), '-'), name.end());
                           return name;
                         });

// ---- Faults injected mid-stream. ----

const char* ExpectedReason(SimFault fault) {
  switch (fault) {
    case SimFault::kHang:
      return "timeout";
    case SimFault::kShortS2mm:
      return "short_transfer";
    default:
      return "dma_error";
  }
}

class FabricFaultTest : public ::testing::TestWithParam<SimFault> {};

TEST_P(FabricFaultTest, EveryRequestAnsweredOnceBitExactAndTheFabricComesBack) {
  const SimFault fault = GetParam();
  const std::string model = "mnist-lfc-w1a1";
  ASSERT_GE(Reference::Get().data().size(), kFaultStream) << "MNIST test set missing";
  auto server = server::InferenceServer::Create(
      SimOptions(testing::SourceDir() + "/models/zoo", kFaultTimeout));
  ASSERT_TRUE(server.ok()) << server.status();
  accel::sim::VirtualOverlay* overlay = (*server)->fabric().virtual_overlay();
  ASSERT_NE(overlay, nullptr);
  const std::map<std::string, std::string> fpga = {{"model", model}, {"backend", "fpga"}};

  double fpga_batches_at_fault = 0;
  const StreamOutcome out = StreamImages(**server, model, kFaultStream, 64, [&](size_t n) {
    if (n == kFaultStream / 5) {
      fpga_batches_at_fault = Metric(**server, "pynq_inference_batch_size_count", fpga);
      // Three transfers fail: the batch that meets it, then the first two checks after a reset
      // (the back-off doubles); the third check passes and the fabric serves again.
      overlay->faults().Inject(fault, 3);
    }
  });
  EXPECT_EQ(out.errors, 0u);
  EXPECT_EQ(out.mismatches, 0u);
  EXPECT_EQ(std::count(out.answers.begin(), out.answers.end(), 1), static_cast<long>(kFaultStream))
      << "every request answered exactly once";
  EXPECT_GE(Metric(**server, "pynq_fpga_fallbacks_total",
                   {{"model", model}, {"reason", ExpectedReason(fault)}}),
            1);
  // Wait for the recovery to finish if the stream ended first.
  for (int i = 0;
       i < 200 && Metric(**server, "pynq_fpga_accelerator_healthy", {{"model", model}}) < 1; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_EQ(Metric(**server, "pynq_fpga_accelerator_healthy", {{"model", model}}), 1);
  EXPECT_GE(Metric(**server, "pynq_fpga_accelerator_resets_total",
                   {{"model", model}, {"outcome", "success"}}),
            1);
  EXPECT_GE(Metric(**server, "pynq_fpga_accelerator_resets_total",
                   {{"model", model}, {"outcome", "failure"}}),
            1);
  // The fabric served again after the fault cleared: more fabric batches than before it, and
  // more than the faulty ones could account for.
  const StreamOutcome after = StreamImages(**server, model, 300, 16);
  EXPECT_EQ(after.mismatches, 0u);
  EXPECT_GT(Metric(**server, "pynq_inference_batch_size_count", fpga), fpga_batches_at_fault);
  std::printf("%s: fallbacks %s %.0f, resets ok %.0f failed %.0f\n",
              std::string(accel::sim::SimFaultName(fault)).c_str(), ExpectedReason(fault),
              Metric(**server, "pynq_fpga_fallbacks_total",
                     {{"model", model}, {"reason", ExpectedReason(fault)}}),
              Metric(**server, "pynq_fpga_accelerator_resets_total",
                     {{"model", model}, {"outcome", "success"}}),
              Metric(**server, "pynq_fpga_accelerator_resets_total",
                     {{"model", model}, {"outcome", "failure"}}));
}

INSTANTIATE_TEST_SUITE_P(Faults, FabricFaultTest, ::testing::ValuesIn(accel::sim::AllSimFaults()),
                         [](const auto& param_info) {
                           std::string name(accel::sim::SimFaultName(param_info.param));
                           name.erase(std::remove(name.begin(), name.end(), '-'), name.end());
                           return name;
                         });

// ---- Overlays the server cannot use: it serves on the CPU and says why. ----

class FabricOverlayTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("pynq_fabric_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  // Serves ten images of mnist-lfc-w1a1 and checks they were answered, all by the CPU.
  static void ExpectCpuServes(const server::InferenceServer& server) {
    const StreamOutcome out = StreamImages(server, "mnist-lfc-w1a1", 10, 4);
    EXPECT_EQ(out.mismatches, 0u);
    EXPECT_EQ(std::count(out.answers.begin(), out.answers.end(), 1), 10);
    EXPECT_EQ(Metric(server, "pynq_inference_batch_size_sum",
                     {{"model", "mnist-lfc-w1a1"}, {"backend", "fpga"}}),
              0);
  }

  fs::path dir_;
};

TEST_F(FabricOverlayTest, MissingOverlayFileServesEveryModelOnTheCpu) {
  server::ServerOptions o = testing::LoopbackOptions(testing::SourceDir() + "/models/zoo");
  o.fabric.overlay = (dir_ / "absent.hwh").string();
  auto server = server::InferenceServer::Create(o);
  ASSERT_TRUE(server.ok()) << server.status();
  EXPECT_FALSE((*server)->fabric().has_overlay());
  ExpectCpuServes(**server);
}

TEST_F(FabricOverlayTest, MalformedOverlayFileServesEveryModelOnTheCpu) {
  std::ofstream(dir_ / "broken.hwh") << "<EDKSYSTEM><MODULES><MODULE INSTANCE=";
  std::ofstream(dir_ / "broken.models.json") << "{\"accelerators\": []}";
  server::ServerOptions o = testing::LoopbackOptions(testing::SourceDir() + "/models/zoo");
  o.fabric.overlay = (dir_ / "broken.hwh").string();
  auto server = server::InferenceServer::Create(o);
  ASSERT_TRUE(server.ok()) << server.status();
  EXPECT_FALSE((*server)->fabric().has_overlay());
  ExpectCpuServes(**server);
}

TEST_F(FabricOverlayTest, BadFabricFlagsAreRefusedAtStart) {
  server::ServerOptions o = SimOptions(testing::SourceDir() + "/models/zoo");
  o.fabric.sim_fault = "melt";
  auto server = server::InferenceServer::Create(o);
  ASSERT_EQ(server.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(server.status().message(), ::testing::HasSubstr("--sim-fault 'melt'"));
  o.fabric.overlay = "none";
  o.fabric.sim_fault = "hang";
  EXPECT_THAT(server::InferenceServer::Create(o).status().message(),
              ::testing::HasSubstr("--sim-fault applies to --overlay sim only"));
}

TEST_F(FabricOverlayTest, AcceleratorBuiltFromAnotherVersionOfTheModelIsNotUsed) {
  // The same model retrained (here: its description changed) has another digest: the weights
  // in the overlay's bitstream are not its weights.
  const fs::path zoo = fs::path(testing::SourceDir()) / "models/zoo/mnist-lfc-w1a1";
  fs::create_directories(dir_ / "mnist-lfc-w1a1/1");
  fs::copy_file(zoo / "config.pbtxt", dir_ / "mnist-lfc-w1a1/config.pbtxt");
  std::ifstream in(zoo / "1/model.pb", std::ios::binary);
  pynq::model::ModelFile file;
  ASSERT_TRUE(file.ParseFromIstream(&in));
  file.set_description(file.description() + " (retrained)");
  std::ofstream out(dir_ / "mnist-lfc-w1a1/1/model.pb", std::ios::binary);
  ASSERT_TRUE(file.SerializeToOstream(&out));
  out.close();
  auto server = server::InferenceServer::Create(SimOptions(dir_.string()));
  ASSERT_TRUE(server.ok()) << server.status();
  EXPECT_TRUE((*server)->fabric().has_overlay());
  ExpectCpuServes(**server);
}

// ---- Under load: one transfer pair per fabric batch, full batches. ----

// Streams 64 requests at a time to mnist-lfc-w1a1 configured with `max_batch` images per batch,
// `instances` workers and a queue delay long enough for a batch to fill (20 ms: the answers of
// the batch before go out one at a time, and their clients' next requests trickle in behind
// them, more slowly still while ctest runs other tests beside this one); checks one MM2S and one
// S2MM transfer per fabric batch and fabric batches averaging at least 0.8 * max_batch.
void RunLoad(int max_batch, int instances) {
  const fs::path dir =
      fs::temp_directory_path() / ("pynq_fabric_load_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  const fs::path zoo = fs::path(testing::SourceDir()) / "models/zoo/mnist-lfc-w1a1";
  fs::create_directories(dir / "mnist-lfc-w1a1/1");
  fs::copy_file(zoo / "1/model.pb", dir / "mnist-lfc-w1a1/1/model.pb");
  std::ifstream config_in(zoo / "config.pbtxt");
  std::string config((std::istreambuf_iterator<char>(config_in)), std::istreambuf_iterator<char>());
  const auto replace = [&](const std::string& from, const std::string& to) {
    const size_t at = config.find(from);
    ASSERT_NE(at, std::string::npos) << from;
    config.replace(at, from.size(), to);
  };
  replace("max_batch_size: 64", "max_batch_size: " + std::to_string(max_batch));
  replace("count: 2", "count: " + std::to_string(instances));
  // Under the sanitizers the stream writes the batch before's answers, and the client sends the
  // next requests, ~10x slower (a batch of 64 fills in ~0.25 s under TSan): a longer wait.
  replace("max_queue_delay_microseconds: 0", kSanitized ? "max_queue_delay_microseconds: 1000000"
                                                        : "max_queue_delay_microseconds: 20000");
  std::ofstream(dir / "mnist-lfc-w1a1/config.pbtxt") << config;

  auto server = server::InferenceServer::Create(SimOptions(dir.string()));
  ASSERT_TRUE(server.ok()) << server.status();
  const std::string model = "mnist-lfc-w1a1";
  // The first and last batches of a stream are partial: enough batches that they weigh little.
  const size_t count = kSanitized ? 2500 : 5000;
  const StreamOutcome out = StreamImages(**server, model, count, 64);
  EXPECT_EQ(out.mismatches, 0u);
  const std::map<std::string, std::string> fpga = {{"model", model}, {"backend", "fpga"}};
  const double batches = Metric(**server, "pynq_inference_batch_size_count", fpga);
  const double images = Metric(**server, "pynq_inference_batch_size_sum", fpga);
  const double mm2s =
      Metric(**server, "pynq_fpga_dma_transfers_total", {{"model", model}, {"direction", "mm2s"}});
  const double s2mm =
      Metric(**server, "pynq_fpga_dma_transfers_total", {{"model", model}, {"direction", "s2mm"}});
  // The accelerator's start-up check is one more transfer pair, outside any batch.
  EXPECT_EQ(mm2s, batches + 1);
  EXPECT_EQ(s2mm, batches + 1);
  ASSERT_GT(batches, 0);
  const double avg = images / batches;
  std::printf(
      "max_batch_size %d, %d instance(s): fabric %.0f batches, %.0f images, average batch %.1f; "
      "cpu %.0f images\n",
      max_batch, instances, batches, images, avg,
      Metric(**server, "pynq_inference_batch_size_sum", {{"model", model}, {"backend", "cpu"}}));
  EXPECT_GE(avg, 0.8 * max_batch);
  fs::remove_all(dir);
}

// The zoo's max_batch_size (64) with one worker: every batch can hold all 64 requests in flight.
TEST(FabricLoadTest, OneTransferPairPerFabricBatchAndFullBatchesOf64AtConcurrency64) {
  RunLoad(/*max_batch=*/64, /*instances=*/1);
}

// Two workers (fabric and CPU serving at once) share the 64 requests in flight, so a batch can
// hold about 64 / 2 of them: max_batch_size 32.
TEST(FabricLoadTest, OneTransferPairPerFabricBatchAndFullBatchesOf32WithTwoWorkers) {
  RunLoad(/*max_batch=*/32, /*instances=*/2);
}

}  // namespace
}  // namespace pynq
