// Reads an overlay's description from what Vivado writes beside the bitstream: the hardware
// handoff (.hwh, XML) for the accelerators, their AXI DMAs and the register addresses, and our
// sidecar (<stem>.models.json) for the model each accelerator was built from. docs/overlay.md
// describes both files.
//
// What counts as an accelerator: a module whose VLNV starts with one of
// OverlayLoaderOptions::accelerator_vlnv_prefixes (by default "pynq-infer:hls:", the vendor our
// HLS Tcl packages with, and "xilinx.com:hls:", Vitis HLS's default). Each one must take its
// input stream straight from an axi_dma's M_AXIS_MM2S and give its output stream straight to
// the same axi_dma's S_AXIS_S2MM; the DMA must be in simple (direct register) mode and have an
// address range in the processing system's memory map.
#ifndef PYNQ_ACCEL_FPGA_OVERLAY_LOADER_H_
#define PYNQ_ACCEL_FPGA_OVERLAY_LOADER_H_

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "accel/fpga/overlay.h"

namespace pynq::accel::fpga {

struct OverlayLoaderOptions {
  // "overlays/pynq_infer.hwh". Messages name the files by these paths.
  std::string hwh_path;
  // Empty: beside the .hwh, its name with ".hwh" replaced by ".models.json".
  std::string models_path;
  std::vector<std::string> accelerator_vlnv_prefixes = {"pynq-infer:hls:", "xilinx.com:hls:"};
  // Bounds on what is read (bytes). PYNQ's own base overlay .hwh is 3.3 MB.
  size_t max_hwh_bytes = 64 << 20;
  size_t max_models_bytes = 1 << 20;
};

// The sidecar that belongs to `hwh_path`: "a/b.hwh" -> "a/b.models.json" (a name without
// ".hwh" gets ".models.json" appended).
std::string ModelsSidecarPath(const std::string& hwh_path);

// Reads and checks both files. The accelerators come in the order of the .hwh's modules.
// NOT_FOUND when a file is missing; RESOURCE_EXHAUSTED when one is larger than its bound;
// INVALID_ARGUMENT when the content is malformed or does not describe a usable overlay
// (the message names the file and what is wrong: an accelerator without a DMA, a DMA in
// scatter-gather mode, no memory map, no sidecar entry, ...).
[[nodiscard]] absl::StatusOr<OverlayDescription> LoadOverlay(const OverlayLoaderOptions& options);
[[nodiscard]] absl::StatusOr<OverlayDescription> LoadOverlay(const std::string& hwh_path);

// The checks of LoadOverlay on texts already in memory (tests, fuzzing); the paths in
// `options` only name the texts in messages and the result's source.
[[nodiscard]] absl::StatusOr<OverlayDescription> ParseOverlay(std::string_view hwh_xml,
                                                              std::string_view models_json,
                                                              const OverlayLoaderOptions& options);

}  // namespace pynq::accel::fpga

#endif  // PYNQ_ACCEL_FPGA_OVERLAY_LOADER_H_
