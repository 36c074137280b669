#include "server/fabric.h"

#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "accel/fpga/overlay_loader.h"
#include "accel/fpga/uio_platform.h"
#include "spdlog/spdlog.h"
#ifdef PYNQ_HAVE_XRT
#include "accel/fpga/xrt_platform.h"
#endif

namespace pynq::server {
namespace {

struct FaultSpec {
  accel::sim::SimFault fault = accel::sim::SimFault::kNone;
  int transfers = -1;  // -1: until cleared
};

// "hang" or "hang:20" -> the fault and how many transfers it lasts.
absl::StatusOr<FaultSpec> ParseFaultSpec(const std::string& spec) {
  FaultSpec out;
  if (spec.empty() || spec == "none") return out;
  const std::pair<std::string, std::string> parts = absl::StrSplit(spec, absl::MaxSplits(':', 1));
  const std::optional<accel::sim::SimFault> fault = accel::sim::ParseSimFault(parts.first);
  int transfers = -1;
  if (!fault.has_value() || *fault == accel::sim::SimFault::kNone ||
      (!parts.second.empty() && (!absl::SimpleAtoi(parts.second, &transfers) || transfers < 1))) {
    std::string names;
    for (accel::sim::SimFault f : accel::sim::AllSimFaults()) {
      absl::StrAppend(&names, names.empty() ? "" : ", ", std::string(accel::sim::SimFaultName(f)));
    }
    return absl::InvalidArgumentError(absl::StrCat("--sim-fault '", spec,
                                                   "': expected NAME or NAME:TRANSFERS (>= 1), "
                                                   "NAME one of ",
                                                   names));
  }
  out.fault = *fault;
  out.transfers = transfers;
  return out;
}

}  // namespace

absl::Status Fabric::ValidateOptions(const FabricOptions& options) {
  if (options.platform != "uio" && options.platform != "xrt") {
    return absl::InvalidArgumentError(
        absl::StrCat("--fpga-platform '", options.platform, "': expected uio or xrt"));
  }
#ifndef PYNQ_HAVE_XRT
  if (options.platform == "xrt") {
    return absl::InvalidArgumentError(
        "--fpga-platform xrt: this build has no XRT platform (libxrt-dev was not found when it "
        "was built; Debian has it for amd64 and arm64 only). Use --fpga-platform uio");
  }
#endif
  if (options.dispatch != "share" && options.dispatch != "fabric-first") {
    return absl::InvalidArgumentError(
        absl::StrCat("--dispatch '", options.dispatch, "': expected share or fabric-first"));
  }
  if (!options.sim_fault.empty() && options.overlay != "sim") {
    return absl::InvalidArgumentError("--sim-fault applies to --overlay sim only");
  }
  if (options.transfer_timeout.count() <= 0) {
    return absl::InvalidArgumentError("--fabric-timeout-ms must be > 0");
  }
  return ParseFaultSpec(options.sim_fault).status();
}

absl::StatusOr<std::unique_ptr<Fabric>> Fabric::Open(const FabricOptions& options) {
  if (absl::Status s = ValidateOptions(options); !s.ok()) return s;
  std::unique_ptr<Fabric> fabric(new Fabric());
  fabric->options_ = options;
  if (options.overlay.empty() || options.overlay == "none") return fabric;

  if (options.overlay == "sim") {
    accel::sim::VirtualOverlay::Options sim;
    sim.kernels = accel::sim::BuiltInKernels();
    sim.length_width = options.sim_length_width;
    sim.realtime = options.sim_realtime;
    sim.cycle.clock_hz = options.sim_clock_hz;
    absl::StatusOr<std::unique_ptr<accel::sim::VirtualOverlay>> overlay =
        accel::sim::VirtualOverlay::Create(sim);
    if (!overlay.ok()) return overlay.status();
    const FaultSpec fault = *ParseFaultSpec(options.sim_fault);
    if (fault.fault != accel::sim::SimFault::kNone) {
      (*overlay)->faults().Inject(fault.fault, fault.transfers);
      spdlog::warn("virtual overlay: fault '{}' injected for {}",
                   std::string(accel::sim::SimFaultName(fault.fault)),
                   fault.transfers < 0 ? std::string("every transfer")
                                       : absl::StrCat(fault.transfers, " transfers"));
    }
    fabric->description_ = (*overlay)->description();
    fabric->virtual_overlay_ = overlay->get();
    fabric->platform_ = std::move(*overlay);
    spdlog::info(
        "virtual overlay: {} accelerator(s), fabric clock {} MHz, DMA length width {} "
        "({}; timings are modelled)",
        fabric->description_.accelerators.size(), options.sim_clock_hz / 1e6,
        options.sim_length_width,
        options.sim_realtime ? "transfers keep the modelled time"
                             : "transfers as fast as the C simulation");
    return fabric;
  }

  absl::StatusOr<accel::fpga::OverlayDescription> description =
      accel::fpga::LoadOverlay(options.overlay);
  if (!description.ok()) return description.status();
  if (options.platform == "uio") {
    accel::fpga::UioPlatform::Options uio;
    uio.udmabuf_name = options.udmabuf;
    uio.udmabuf_device = "/dev/" + options.udmabuf;
    uio.udmabuf_class_dir = "/sys/class/u-dma-buf/" + options.udmabuf;
    absl::StatusOr<std::unique_ptr<accel::fpga::UioPlatform>> p =
        accel::fpga::UioPlatform::Create(uio);
    if (!p.ok()) return p.status();
    fabric->platform_ = std::move(*p);
  } else if (options.platform == "xrt") {
#ifdef PYNQ_HAVE_XRT
    accel::fpga::XrtPlatform::Options xrt;
    xrt.xclbin_path = options.xclbin;
    absl::StatusOr<std::unique_ptr<accel::fpga::XrtPlatform>> p =
        accel::fpga::XrtPlatform::Create(xrt);
    if (!p.ok()) return p.status();
    fabric->platform_ = std::move(*p);
#endif
  }
  fabric->description_ = std::move(*description);
  spdlog::info("overlay {}: {} accelerator(s) on the {} platform", options.overlay,
               fabric->description_.accelerators.size(), fabric->platform_->name());
  return fabric;
}

std::string Fabric::source() const {
  return has_overlay() ? description_.source : std::string("none");
}

std::unique_ptr<accel::fpga::Accelerator> Fabric::Attach(std::shared_ptr<const models::Model> model,
                                                         accel::Backend* reference,
                                                         int max_batch_images,
                                                         const ObserverFactory& observer_for) {
  if (!has_overlay()) return nullptr;
  // The accelerator built from exactly this model; else one built for its name, which Create
  // then refuses with both digests in the message.
  const accel::fpga::AcceleratorDescription* match = nullptr;
  for (const auto& a : description_.accelerators) {
    if (a.model_name != model->name()) continue;
    if (a.model_digest == model->digest()) {
      match = &a;
      break;
    }
    if (match == nullptr) match = &a;
  }
  if (match == nullptr) {
    spdlog::info("model {}: the overlay ({}) has no accelerator for it; the CPU serves it",
                 model->name(), description_.source);
    return nullptr;
  }
  accel::fpga::Accelerator::Options options;
  options.description = *match;
  options.platform = platform_.get();
  options.model = std::move(model);
  options.reference = reference;
  options.max_batch_images = max_batch_images;
  options.transfer_timeout = options_.transfer_timeout;
  options.observer = observer_for ? observer_for(match->instance) : nullptr;
  const std::string name = options.model->name();
  absl::StatusOr<std::unique_ptr<accel::fpga::Accelerator>> accel =
      accel::fpga::Accelerator::Create(std::move(options));
  if (!accel.ok()) {
    spdlog::error("model {}: not using its accelerator: {}; the CPU serves it", name,
                  accel.status().ToString());
    return nullptr;
  }
  return std::move(*accel);
}

}  // namespace pynq::server
