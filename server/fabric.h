// The server's FPGA overlay: opens the one named by --overlay (a board's .hwh through UIO +
// u-dma-buf or XRT, the virtual overlay, or none), and attaches an accelerator to each model the
// overlay was built for, saying in the log why a model gets none.
#ifndef PYNQ_SERVER_FABRIC_H_
#define PYNQ_SERVER_FABRIC_H_

#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "accel/backend.h"
#include "accel/fpga/accelerator.h"
#include "accel/fpga/overlay.h"
#include "accel/fpga/platform.h"
#include "accel/sim/virtual_overlay.h"
#include "models/model.h"

namespace pynq::server {

struct FabricOptions {
  // "none" (CPU only), "sim" (the virtual overlay) or the path of a board overlay's .hwh.
  std::string overlay = "none";
  // For a .hwh: "uio" (UIO + u-dma-buf: PYNQ-Z1/Z2) or "xrt" (needs xclbin, and a build with
  // libxrt-dev).
  std::string platform = "uio";
  std::string xclbin;
  std::string udmabuf = "udmabuf0";
  // "share": a batch runs on the CPU whenever the fabric is busy (both serve under load);
  // "fabric-first": batches wait for the fabric, the CPU runs only what it cannot.
  std::string dispatch = "share";
  // A transfer not done after this long is abandoned and the accelerator reset.
  std::chrono::milliseconds transfer_timeout{1000};
  // The virtual overlay: whether transfers keep the cycle model's time, the DMA's
  // c_sg_length_width, the fabric clock, and a fault injected from the start ("name" or
  // "name:transfers", names as sim::ParseSimFault; empty: none).
  bool sim_realtime = true;
  int sim_length_width = 23;
  double sim_clock_hz = 100e6;
  std::string sim_fault;
};

// Thread-compatible: Open and Attach run during start-up. Must outlive the accelerators it
// attaches (they use its platform).
class Fabric {
 public:
  // INVALID_ARGUMENT naming the flag when an option is bad (an unknown platform or fault, a
  // fault without the virtual overlay): the operator must fix those.
  [[nodiscard]] static absl::Status ValidateOptions(const FabricOptions& options);

  // "none" gives a Fabric without an overlay. ValidateOptions' errors; otherwise the
  // platform's or the loader's error, naming the file (a board without its overlay).
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<Fabric>> Open(const FabricOptions& options);

  Fabric(const Fabric&) = delete;
  Fabric& operator=(const Fabric&) = delete;

  bool has_overlay() const { return platform_ != nullptr; }
  // "virtual overlay", the .hwh path, or "none".
  std::string source() const;

  // An accelerator for `model`, checked against the CPU (see Accelerator::Create), or null when
  // the overlay has none for it or it fails to start: the log says which and why, and the model
  // is served by the CPU.
  // `observer_for` gives the observer of the accelerator instance chosen (called once, before
  // it starts).
  using ObserverFactory =
      std::function<accel::fpga::AcceleratorObserver*(const std::string& instance)>;
  std::unique_ptr<accel::fpga::Accelerator> Attach(std::shared_ptr<const models::Model> model,
                                                   accel::Backend* reference, int max_batch_images,
                                                   const ObserverFactory& observer_for);

  // The virtual overlay (for tests and demos: fault injection), or null.
  accel::sim::VirtualOverlay* virtual_overlay() const { return virtual_overlay_; }

 private:
  Fabric() = default;

  FabricOptions options_;
  std::unique_ptr<accel::fpga::Platform> platform_;
  accel::fpga::OverlayDescription description_;
  accel::sim::VirtualOverlay* virtual_overlay_ = nullptr;  // platform_, when simulated
};

}  // namespace pynq::server

#endif  // PYNQ_SERVER_FABRIC_H_
