// The fabric's modelled figures: for each HLS kernel built into the virtual overlay, the cycle
// model's (accel/sim/cycle_model.h) initiation interval and the throughput of one DMA transfer
// of a batch at the fabric clock. MODELLED, not measured: no board is here. The measured side
// (CPU alone, and fabric + CPU on the virtual overlay) comes from run_fabric_bench.sh.
//
// Usage: fabric_model_bench [--clock-mhz 100] [--batch 64]
#include <cstdio>
#include <vector>

#include "CLI/CLI.hpp"
#include "accel/sim/cycle_model.h"
#include "accel/sim/virtual_overlay.h"

int main(int argc, char** argv) {
  double clock_mhz = 100;
  std::vector<int> batches = {1, 16, 64};
  CLI::App app{"Modelled throughput of the overlay's HLS kernels (cycle model, no board)"};
  app.add_option("--clock-mhz", clock_mhz, "Fabric clock (PYNQ-Z1/Z2 FCLK0: 100)")
      ->check(CLI::Range(1.0, 1000.0))
      ->capture_default_str();
  app.add_option("--batch", batches, "Images per transfer")->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  pynq::accel::sim::CycleModelOptions cycle;
  cycle.clock_hz = clock_mhz * 1e6;
  std::printf("MODELLED (cycle model at %.0f MHz, 64-bit DMA streams; not measured)\n", clock_mhz);
  std::printf("%-14s %-16s %10s %12s", "kernel", "model", "II cycles", "us/image");
  for (int b : batches) std::printf("   batch %-3d img/s", b);
  std::printf("\n");
  for (const auto* k : pynq::accel::sim::BuiltInKernels()) {
    const uint64_t ii = pynq::accel::sim::InitiationInterval(*k);
    std::printf("%-14s %-16s %10llu %12.2f", k->kernel_name, k->model_name,
                static_cast<unsigned long long>(ii),
                pynq::accel::sim::TransferSeconds(*k, cycle, 10000) / 10000 * 1e6);
    for (int b : batches) {
      std::printf("   %15.0f", b / pynq::accel::sim::TransferSeconds(*k, cycle, b));
    }
    std::printf("\n");
  }
  return 0;
}
