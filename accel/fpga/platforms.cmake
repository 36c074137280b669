# The board-side platforms (UIO + u-dma-buf; XRT where libxrt-dev exists) and the .hwh overlay
# loader. Included by accel/fpga/CMakeLists.txt; paths are relative to this file.

# UIO + u-dma-buf: what a PYNQ-Z1/Z2 runs; needs nothing beyond the C library.
add_library(pynq_fpga_platform_uio STATIC ${CMAKE_CURRENT_LIST_DIR}/uio_platform.cc)
pynq_target_options(pynq_fpga_platform_uio)
target_link_libraries(pynq_fpga_platform_uio
  PUBLIC pynq_fpga_interface
  PRIVATE pynq_common absl::strings absl::core_headers)

# The overlay loader: Vivado's hardware handoff (.hwh, XML) and its .models.json sidecar.
find_package(pugixml CONFIG REQUIRED)
add_library(pynq_fpga_overlay STATIC ${CMAKE_CURRENT_LIST_DIR}/overlay_loader.cc)
pynq_target_options(pynq_fpga_overlay)
target_link_libraries(pynq_fpga_overlay
  PUBLIC pynq_fpga_interface
  PRIVATE pynq_common absl::strings pugixml::pugixml nlohmann_json::nlohmann_json)

# XRT: Debian's libxrt-dev has no CMake config and a broken xrt.pc, so find it by hand.
# Headers live in <prefix>/include/xrt: with that folder on the include path, <xrt/xrt_bo.h>
# and <experimental/xrt_ip.h> resolve (and their own "xrt.h").
find_path(PYNQ_XRT_INCLUDE_DIR NAMES xrt/xrt_bo.h PATH_SUFFIXES xrt)
find_library(PYNQ_XRT_COREUTIL_LIBRARY NAMES xrt_coreutil)
# xrt::uuid's inline code calls libuuid (uuid-dev, a dependency of libxrt-dev).
find_library(PYNQ_UUID_LIBRARY NAMES uuid)
if(PYNQ_XRT_INCLUDE_DIR AND PYNQ_XRT_COREUTIL_LIBRARY AND PYNQ_UUID_LIBRARY
   AND EXISTS "${PYNQ_XRT_INCLUDE_DIR}/experimental/xrt_ip.h")
  set(PYNQ_HAVE_XRT ON)
  message(STATUS "XRT found: ${PYNQ_XRT_COREUTIL_LIBRARY}; building the XRT platform")
  add_library(pynq_fpga_platform_xrt STATIC ${CMAKE_CURRENT_LIST_DIR}/xrt_platform.cc)
  pynq_target_options(pynq_fpga_platform_xrt)
  # SYSTEM: XRT's headers are not ours to keep free of warnings.
  target_include_directories(pynq_fpga_platform_xrt SYSTEM PRIVATE ${PYNQ_XRT_INCLUDE_DIR})
  target_compile_definitions(pynq_fpga_platform_xrt INTERFACE PYNQ_HAVE_XRT=1)
  target_link_libraries(pynq_fpga_platform_xrt
    PUBLIC pynq_fpga_interface
    PRIVATE pynq_common absl::strings ${PYNQ_XRT_COREUTIL_LIBRARY}
            ${PYNQ_UUID_LIBRARY})
else()
  set(PYNQ_HAVE_XRT OFF)
  message(STATUS "XRT (libxrt-dev) not found: the XRT platform is not built. Debian packages "
                 "it for amd64 and arm64 only, not armhf (PYNQ-Z1/Z2); the UIO + u-dma-buf "
                 "platform serves there.")
endif()
set(PYNQ_HAVE_XRT ${PYNQ_HAVE_XRT} CACHE INTERNAL "Whether the XRT platform is built")
