// What an overlay holds, as the server needs it: each accelerator, the AXI DMA that feeds it,
// and the model its weights were built from. Read from a .hwh (overlay_loader.h) on the board,
// or described by the virtual overlay (accel/sim) here.
#ifndef PYNQ_ACCEL_FPGA_OVERLAY_H_
#define PYNQ_ACCEL_FPGA_OVERLAY_H_

#include <cstdint>
#include <string>
#include <vector>

#include "accel/fpga/platform.h"

namespace pynq::accel::fpga {

// One AXI DMA (PG021) in direct-register (simple) mode.
struct DmaDescription {
  IpWindow registers;
  std::string vlnv;  // "xilinx.com:ip:axi_dma:7.1"
  // c_sg_length_width, 8..26: the largest transfer is 2^width - 1 bytes.
  int length_width = 14;
  int mm2s_data_width = 64;  // c_m_axis_mm2s_tdata_width, bits
  int s2mm_data_width = 64;  // c_s_axis_s2mm_tdata_width, bits
};

// One HLS accelerator and the DMA whose MM2S feeds its input stream and whose S2MM takes its
// output stream.
struct AcceleratorDescription {
  std::string instance;  // "lfc_w1a1_0"
  std::string vlnv;      // "pynq-infer:hls:lfc_w1a1:1.0"
  DmaDescription dma;
  // The model the weights in the bitstream were generated from: its name and
  // models::Model::digest() (lower-case hex SHA-256). The server uses the accelerator for that
  // exact model only.
  std::string model_name;
  std::string model_digest;
};

struct OverlayDescription {
  // Where it came from ("overlays/pynq_infer.hwh", "virtual overlay"), for messages.
  std::string source;
  std::vector<AcceleratorDescription> accelerators;
};

}  // namespace pynq::accel::fpga

#endif  // PYNQ_ACCEL_FPGA_OVERLAY_H_
