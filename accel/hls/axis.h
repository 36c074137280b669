// The AXI-Stream types of the HLS kernels. Under Vitis HLS (__SYNTHESIS__ defined) they are the
// vendor's hls::stream and ap_axiu; under g++ (C simulation: the test benches and the virtual
// overlay) a small stand-in of ours with the same names and members, so one source serves both.
// No heap use by the kernels themselves: the stand-in stream's queue is the simulator's, not the
// kernel's.
#ifndef PYNQ_ACCEL_HLS_AXIS_H_
#define PYNQ_ACCEL_HLS_AXIS_H_

#include <cstdint>

#ifdef __SYNTHESIS__
#include <ap_axi_sdata.h>
#include <hls_stream.h>

namespace pynq::hls_kernels {
// 64 data bits, TKEEP and TLAST; no TUSER/TID/TDEST.
using AxisBeat = ap_axiu<64, 0, 0, 0>;
}  // namespace pynq::hls_kernels

#else  // C simulation

#include <deque>

namespace hls {

// Stand-in for Vitis HLS's hls::stream<T> in C simulation: an unbounded FIFO. Reading an empty
// stream does not block (there is no other thread to fill it); it returns T{} and counts an
// underflow, which the test benches and the simulator check, so a kernel that reads past its
// input is caught instead of hanging.
template <typename T>
class stream {
 public:
  stream() = default;
  explicit stream(const char* /*name*/) {}
  stream(const stream&) = delete;
  stream& operator=(const stream&) = delete;

  void write(const T& value) { fifo_.push_back(value); }
  T read() {
    if (fifo_.empty()) {
      ++underflows_;
      return T{};
    }
    T value = fifo_.front();
    fifo_.pop_front();
    return value;
  }
  void read(T& value) { value = read(); }
  bool read_nb(T& value) {
    if (fifo_.empty()) return false;
    value = read();
    return true;
  }
  bool empty() const { return fifo_.empty(); }
  bool full() const { return false; }
  std::size_t size() const { return fifo_.size(); }
  stream& operator<<(const T& value) {
    write(value);
    return *this;
  }
  stream& operator>>(T& value) {
    read(value);
    return *this;
  }

  // Reads of an empty stream so far (C simulation only).
  std::uint64_t underflows() const { return underflows_; }

 private:
  std::deque<T> fifo_;
  std::uint64_t underflows_ = 0;
};

}  // namespace hls

namespace pynq::hls_kernels {

// One beat of a 64-bit AXI-Stream: the members of ap_axiu<64, 0, 0, 0> that we use.
// keep: one bit per data byte (bit i: byte i, little-endian: data bits 8i..8i+7) that carries
// data; all ones except possibly on the last beat of a packet. last: TLAST.
struct AxisBeat {
  std::uint64_t data = 0;
  std::uint8_t keep = 0;
  bool last = false;
};

}  // namespace pynq::hls_kernels

#endif  // __SYNTHESIS__

#endif  // PYNQ_ACCEL_HLS_AXIS_H_
