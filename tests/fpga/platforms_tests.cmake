# Tests of the board-side platforms and the overlay loader (accel/fpga/platforms.cmake).
# Included by tests/fpga/CMakeLists.txt; paths are relative to this file.
pynq_add_test(uio_platform_test
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/uio_platform_test.cc
  LIBS pynq_fpga_platform_uio)
pynq_add_test(overlay_loader_test
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/overlay_loader_test.cc
  LIBS pynq_fpga_overlay pynq_common absl::strings)
# Where libxrt-dev exists only (not on armhf).
if(TARGET pynq_fpga_platform_xrt)
  pynq_add_test(xrt_platform_test
    SOURCES ${CMAKE_CURRENT_LIST_DIR}/xrt_platform_test.cc
    LIBS pynq_fpga_platform_xrt)
endif()
