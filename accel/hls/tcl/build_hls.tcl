# Vitis HLS: synthesizes each kernel of accel/hls into an IP core for the PYNQ-Z1/Z2
# (xc7z020clg400-1) at 100 MHz, after a C simulation of its own small test bench.
#
#   vitis_hls -f accel/hls/tcl/build_hls.tcl -tclargs <repo> <gen_dir> <out_dir> [kernel ...]
#
#   repo     the source tree (the folder holding accel/ and models/)
#   gen_dir  where pynq_hls_gen wrote <kernel>_params.h (build/<preset>/accel/hls/gen)
#   out_dir  one HLS project per kernel, and its exported IP in <out_dir>/ip/<kernel>
#   kernel   lfc_w1a1, lfc_w1a2, mnist_cnn_q8 (default: all three)
#
# Not run in this repository's CI (no Vitis there): written against Vitis HLS 2022.2's
# commands, it has not been executed. See docs/hls.md for what was verified and what was not.

if {[llength $argv] < 3} {
  puts "usage: vitis_hls -f build_hls.tcl -tclargs <repo> <gen_dir> <out_dir> \[kernel ...\]"
  exit 2
}
set repo    [file normalize [lindex $argv 0]]
set gen_dir [file normalize [lindex $argv 1]]
set out_dir [file normalize [lindex $argv 2]]
set kernels [lrange $argv 3 end]
if {[llength $kernels] == 0} {
  set kernels {lfc_w1a1 lfc_w1a2 mnist_cnn_q8}
}

# kernel -> {top function, top source}
set tops [dict create \
  lfc_w1a1     {pynq::hls_kernels::LfcW1A1Top    accel/hls/lfc_w1a1_top.cc} \
  lfc_w1a2     {pynq::hls_kernels::LfcW1A2Top    accel/hls/lfc_w1a2_top.cc} \
  mnist_cnn_q8 {pynq::hls_kernels::MnistCnnQ8Top accel/hls/mnist_cnn_q8_top.cc}]

set part  xc7z020clg400-1
set clock 10 ;# ns: FCLK0 = 100 MHz
# C++17 (nested namespaces, inline variables) as the rest of the tree; -I so that
# "accel/hls/..." and the generated "<kernel>_params.h" resolve.
set cflags "-std=c++17 -I$repo -I$gen_dir"

file mkdir $out_dir/ip
foreach kernel $kernels {
  if {![dict exists $tops $kernel]} {
    puts "unknown kernel $kernel (known: [dict keys $tops])"
    exit 2
  }
  lassign [dict get $tops $kernel] top source
  set params $gen_dir/${kernel}_params.h
  if {![file exists $params]} {
    puts "$params is missing: build the pynq_hls_csim target first (it runs pynq_hls_gen)"
    exit 2
  }

  cd $out_dir
  open_project -reset hls_$kernel
  set_top $top
  add_files $repo/$source -cflags $cflags
  add_files $params -cflags $cflags
  foreach header [glob $repo/accel/hls/*.h] {
    add_files $header -cflags $cflags
  }
  # The C test bench: one image through the top, its output framing checked
  # (accel/hls/tcl/csim_tb.cc). The full bit-exact comparison over MNIST runs in CI
  # (tests/hls/kernels_vs_cpu_test.cc) where the CPU backend is available.
  add_files -tb $repo/accel/hls/tcl/csim_tb.cc -cflags "$cflags -DPYNQ_CSIM_TOP=$top"

  open_solution -reset -flow_target vivado solution1
  set_part $part
  create_clock -period $clock -name default
  # The streams' TLAST/TKEEP travel in ap_axiu side channels; no register slices needed on the
  # ports at 100 MHz.
  config_interface -register_io off

  csim_design
  csynth_design
  export_design -format ip_catalog -rtl verilog -ipname $kernel -vendor pynq-infer \
    -library hls -version 1.0 -output $out_dir/ip/$kernel.zip
  file mkdir $out_dir/ip/$kernel
  exec unzip -o -q $out_dir/ip/$kernel.zip -d $out_dir/ip/$kernel
  close_project
}
exit 0
