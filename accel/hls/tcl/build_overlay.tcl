# Vivado: the PYNQ overlay of the HLS kernels: the Zynq PS (FCLK0 = 100 MHz, HP0 on), and per
# kernel one AXI DMA in simple mode (no scatter-gather, 23-bit length, 64-bit streams) whose MM2S
# feeds the kernel's input stream and whose S2MM takes its output; the DMAs' registers on GP0
# through an AXI interconnect, their masters on HP0 through a SmartConnect, their interrupts on
# IRQ_F2P through an xlconcat. Writes <out_dir>/<name>.bit, <name>.hwh and <name>.models.json,
# the sidecar that tells the server which model each accelerator's weights came from.
#
#   vivado -mode batch -source accel/hls/tcl/build_overlay.tcl \
#     -tclargs <ip_dir> <gen_dir> <out_dir> [name] [kernel ...]
#
#   ip_dir   build_hls.tcl's <out_dir>/ip (one folder per kernel IP)
#   gen_dir  where pynq_hls_gen wrote <kernel>.sidecar.json (build/<preset>/accel/hls/gen)
#   name     the overlay's name (default pynq_infer)
#   kernel   lfc_w1a1, lfc_w1a2, mnist_cnn_q8 (default: all three)
#
# Board: PYNQ-Z1 and PYNQ-Z2 are both xc7z020clg400-1. When Vivado knows the PYNQ-Z2 board
# files (tul.com.tw:pynq-z2), their PS preset (DDR, MIO) is applied; otherwise set the PS7's DDR
# and MIO by hand before trusting the bitstream on a board.
#
# Not run in this repository's CI (no Vivado there): written against Vivado 2022.2's commands, it
# has not been executed. See docs/hls.md.

if {[llength $argv] < 3} {
  puts "usage: vivado -mode batch -source build_overlay.tcl -tclargs <ip_dir> <gen_dir> <out_dir> \[name\] \[kernel ...\]"
  exit 2
}
set ip_dir  [file normalize [lindex $argv 0]]
set gen_dir [file normalize [lindex $argv 1]]
set out_dir [file normalize [lindex $argv 2]]
set name    [expr {[llength $argv] > 3 ? [lindex $argv 3] : "pynq_infer"}]
set kernels [lrange $argv 4 end]
if {[llength $kernels] == 0} {
  set kernels {lfc_w1a1 lfc_w1a2 mnist_cnn_q8}
}
set part xc7z020clg400-1
set board tul.com.tw:pynq-z2:part0:1.0

file mkdir $out_dir
create_project -force $name $out_dir/vivado -part $part
set has_board [expr {[llength [get_board_parts -quiet $board]] > 0}]
if {$has_board} {
  set_property board_part $board [current_project]
}
set_property ip_repo_paths [list $ip_dir] [current_project]
update_ip_catalog
create_bd_design $name

# ---- The processing system: FCLK0 100 MHz, GP0 master, HP0 slave (64 bits), fabric IRQs. ----
set ps [create_bd_cell -type ip -vlnv xilinx.com:ip:processing_system7 processing_system7_0]
apply_bd_automation -rule xilinx.com:bd_rule:processing_system7 \
  -config [list make_external "FIXED_IO, DDR" apply_board_preset [expr {$has_board ? 1 : 0}] \
           Master Disable Slave Disable] $ps
set_property -dict [list \
  CONFIG.PCW_FPGA0_PERIPHERAL_FREQMHZ {100} \
  CONFIG.PCW_USE_M_AXI_GP0 {1} \
  CONFIG.PCW_USE_S_AXI_HP0 {1} \
  CONFIG.PCW_S_AXI_HP0_DATA_WIDTH {64} \
  CONFIG.PCW_USE_FABRIC_INTERRUPT {1} \
  CONFIG.PCW_IRQ_F2P_INTR {1}] $ps

set clk [get_bd_pins $ps/FCLK_CLK0]
set rst [create_bd_cell -type ip -vlnv xilinx.com:ip:proc_sys_reset rst_fclk0]
connect_bd_net $clk [get_bd_pins $rst/slowest_sync_clk]
connect_bd_net [get_bd_pins $ps/FCLK_RESET0_N] [get_bd_pins $rst/ext_reset_in]
set aresetn [get_bd_pins $rst/peripheral_aresetn]
set ic_aresetn [get_bd_pins $rst/interconnect_aresetn]
connect_bd_net $clk [get_bd_pins $ps/M_AXI_GP0_ACLK] [get_bd_pins $ps/S_AXI_HP0_ACLK]

set n [llength $kernels]
# Registers: GP0 -> one AXI-Lite slave per DMA.
set ctrl [create_bd_cell -type ip -vlnv xilinx.com:ip:axi_interconnect ctrl_interconnect]
set_property -dict [list CONFIG.NUM_SI {1} CONFIG.NUM_MI $n] $ctrl
connect_bd_intf_net [get_bd_intf_pins $ps/M_AXI_GP0] [get_bd_intf_pins $ctrl/S00_AXI]
connect_bd_net $clk [get_bd_pins $ctrl/ACLK] [get_bd_pins $ctrl/S00_ACLK]
connect_bd_net $ic_aresetn [get_bd_pins $ctrl/ARESETN]
connect_bd_net $aresetn [get_bd_pins $ctrl/S00_ARESETN]
# Data: two masters per DMA (MM2S reads, S2MM writes) -> HP0.
set mem [create_bd_cell -type ip -vlnv xilinx.com:ip:smartconnect mem_smartconnect]
set_property -dict [list CONFIG.NUM_SI [expr {2 * $n}] CONFIG.NUM_MI {1}] $mem
connect_bd_intf_net [get_bd_intf_pins $mem/M00_AXI] [get_bd_intf_pins $ps/S_AXI_HP0]
connect_bd_net $clk [get_bd_pins $mem/aclk]
connect_bd_net $aresetn [get_bd_pins $mem/aresetn]
# Interrupts: mm2s_introut, s2mm_introut of each DMA, in kernel order.
set irq [create_bd_cell -type ip -vlnv xilinx.com:ip:xlconcat irq_concat]
set_property -dict [list CONFIG.NUM_PORTS [expr {2 * $n}]] $irq
connect_bd_net [get_bd_pins $irq/dout] [get_bd_pins $ps/IRQ_F2P]

set i 0
foreach kernel $kernels {
  set dma [create_bd_cell -type ip -vlnv xilinx.com:ip:axi_dma ${kernel}_dma]
  # Simple mode (PG021 "Direct Register Mode"), as accel/fpga's driver programs it: 23 length
  # bits (8 MiB per transfer, ~10,000 MNIST images), 64-bit memory and stream data.
  set_property -dict [list \
    CONFIG.c_include_sg {0} \
    CONFIG.c_sg_length_width {23} \
    CONFIG.c_m_axi_mm2s_data_width {64} \
    CONFIG.c_m_axis_mm2s_tdata_width {64} \
    CONFIG.c_m_axi_s2mm_data_width {64} \
    CONFIG.c_s_axis_s2mm_tdata_width {64} \
    CONFIG.c_mm2s_burst_size {16} \
    CONFIG.c_s2mm_burst_size {16}] $dma
  set acc [create_bd_cell -type ip -vlnv pynq-infer:hls:${kernel}:1.0 ${kernel}_0]

  # Vitis HLS names the stream ports after the arguments (in -> in_r, out -> out_r: `in` and
  # `out` are HDL keywords); find them by direction instead of by name.
  set acc_in [get_bd_intf_pins -of_objects $acc -filter {MODE == Slave}]
  set acc_out [get_bd_intf_pins -of_objects $acc -filter {MODE == Master}]
  connect_bd_intf_net [get_bd_intf_pins $dma/M_AXIS_MM2S] $acc_in
  connect_bd_intf_net $acc_out [get_bd_intf_pins $dma/S_AXIS_S2MM]

  set mi [format "M%02d" $i]
  connect_bd_intf_net [get_bd_intf_pins $ctrl/${mi}_AXI] [get_bd_intf_pins $dma/S_AXI_LITE]
  connect_bd_net $clk [get_bd_pins $ctrl/${mi}_ACLK]
  connect_bd_net $aresetn [get_bd_pins $ctrl/${mi}_ARESETN]
  connect_bd_intf_net [get_bd_intf_pins $dma/M_AXI_MM2S] \
    [get_bd_intf_pins $mem/[format "S%02d_AXI" [expr {2 * $i}]]]
  connect_bd_intf_net [get_bd_intf_pins $dma/M_AXI_S2MM] \
    [get_bd_intf_pins $mem/[format "S%02d_AXI" [expr {2 * $i + 1}]]]

  connect_bd_net $clk [get_bd_pins $dma/s_axi_lite_aclk] [get_bd_pins $dma/m_axi_mm2s_aclk] \
    [get_bd_pins $dma/m_axi_s2mm_aclk] [get_bd_pins $acc/ap_clk]
  connect_bd_net $aresetn [get_bd_pins $dma/axi_resetn] [get_bd_pins $acc/ap_rst_n]
  connect_bd_net [get_bd_pins $dma/mm2s_introut] [get_bd_pins $irq/In[expr {2 * $i}]]
  connect_bd_net [get_bd_pins $dma/s2mm_introut] [get_bd_pins $irq/In[expr {2 * $i + 1}]]
  incr i
}

# Addresses: each DMA's 64 KiB register window from 0x4040_0000 (PYNQ's usual DMA base), all of
# DDR for the masters.
assign_bd_address
set i 0
foreach kernel $kernels {
  set seg [get_bd_addr_segs -of_objects [get_bd_addr_spaces $ps/Data] \
    -filter "NAME =~ *${kernel}_dma*"]
  set_property offset [format 0x%08X [expr {0x40400000 + $i * 0x10000}]] $seg
  set_property range 64K $seg
  incr i
}
validate_bd_design
save_bd_design

set bd_file [get_files $name.bd]
make_wrapper -files $bd_file -top
add_files -norecurse [glob $out_dir/vivado/$name.gen/sources_1/bd/$name/hdl/${name}_wrapper.v]
set_property top ${name}_wrapper [current_fileset]
generate_target all $bd_file
launch_runs impl_1 -to_step write_bitstream -jobs 4
wait_on_run impl_1
if {[get_property PROGRESS [get_runs impl_1]] ne "100%"} {
  puts "implementation failed: see $out_dir/vivado/$name.runs/impl_1"
  exit 1
}

# The bitstream and the hardware handoff, named alike, as PYNQ's Overlay loads them.
file copy -force $out_dir/vivado/$name.runs/impl_1/${name}_wrapper.bit $out_dir/$name.bit
set hwh [glob -nocomplain $out_dir/vivado/$name.gen/sources_1/bd/$name/hw_handoff/$name.hwh \
                          $out_dir/vivado/$name.srcs/sources_1/bd/$name/hw_handoff/$name.hwh]
file copy -force [lindex $hwh 0] $out_dir/$name.hwh

# The sidecar: {"accelerators":[<entry of each kernel>]}, the entries as pynq_hls_gen wrote them
# (instance <kernel>_0, the model's name and digest).
set entries {}
foreach kernel $kernels {
  set f [open $gen_dir/$kernel.sidecar.json r]
  lappend entries [string trim [read $f]]
  close $f
}
set f [open $out_dir/$name.models.json w]
puts $f "{\"accelerators\":\[[join $entries ,]\]}"
close $f
puts "wrote $out_dir/$name.bit, $name.hwh, $name.models.json"
exit 0
