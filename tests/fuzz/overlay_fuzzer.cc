// Fuzz target: an overlay's .hwh (XML) and its .models.json sidecar through the loader's checks
// (accel/fpga/overlay_loader.h, ParseOverlay), the input being the two texts separated by the
// first NUL byte. Invariants: nothing crashes; an accepted overlay describes what the server
// relies on (at least one accelerator, each with a DMA in simple mode whose length width is
// 8..26, a register window, a model name and a 64-digit digest).
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "accel/fpga/overlay_loader.h"
#include "tests/fuzz/fuzz_zoo.h"

using pynq::fuzz::Check;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const size_t split = input.find('\0');
  const std::string_view hwh = input.substr(0, split);
  const std::string_view json = split == std::string_view::npos ? "" : input.substr(split + 1);
  pynq::accel::fpga::OverlayLoaderOptions options;
  options.hwh_path = "fuzz/overlay.hwh";
  absl::StatusOr<pynq::accel::fpga::OverlayDescription> overlay =
      pynq::accel::fpga::ParseOverlay(hwh, json, options);
  if (!overlay.ok()) return 0;
  Check(!overlay->accelerators.empty(), "at least one accelerator");
  for (const auto& a : overlay->accelerators) {
    Check(!a.instance.empty() && !a.model_name.empty(), "names");
    Check(a.model_digest.size() == 64, "a 64-digit digest");
    Check(a.dma.length_width >= 8 && a.dma.length_width <= 26, "length width 8..26");
    Check(a.dma.registers.size > 0, "a register window");
  }
  return 0;
}
