#include "accel/sim/sim_axi_dma.h"

#include <algorithm>
#include <chrono>
#include <utility>

#include "accel/fpga/axi_dma.h"

namespace pynq::accel::sim {
namespace {

using namespace fpga::axi_dma;  // NOLINT: the register names read best unqualified here
using hls_kernels::AxisBeat;
using Clock = std::chrono::steady_clock;

struct FaultName {
  SimFault fault;
  std::string_view name;
};
constexpr FaultName kFaultNames[] = {
    {SimFault::kNone, "none"},
    {SimFault::kMm2sIntErr, "mm2s-interr"},
    {SimFault::kMm2sSlvErr, "mm2s-slverr"},
    {SimFault::kMm2sDecErr, "mm2s-decerr"},
    {SimFault::kS2mmIntErr, "s2mm-interr"},
    {SimFault::kS2mmSlvErr, "s2mm-slverr"},
    {SimFault::kS2mmDecErr, "s2mm-decerr"},
    {SimFault::kHang, "hang"},
    {SimFault::kShortS2mm, "short-s2mm"},
};

// The bytes of an MM2S transfer as 64-bit beats, TKEEP on each byte, TLAST on the last beat.
void ToBeats(const std::vector<uint8_t>& bytes, hls::stream<AxisBeat>& out) {
  for (size_t at = 0; at < bytes.size(); at += 8) {
    AxisBeat beat;
    const size_t n = std::min<size_t>(8, bytes.size() - at);
    for (size_t i = 0; i < n; ++i) beat.data |= uint64_t{bytes[at + i]} << (8 * i);
    beat.keep = static_cast<uint8_t>((1u << n) - 1);
    beat.last = at + 8 >= bytes.size();
    out.write(beat);
  }
}

// The bytes of an output stream up to and including its first TLAST (S2MM ends a packet
// there), the kept bytes of each beat in order.
std::vector<uint8_t> FromBeats(hls::stream<AxisBeat>& in) {
  std::vector<uint8_t> bytes;
  AxisBeat beat;
  while (in.read_nb(beat)) {
    for (int i = 0; i < 8; ++i) {
      if ((beat.keep >> i) & 1) bytes.push_back(static_cast<uint8_t>(beat.data >> (8 * i)));
    }
    if (beat.last) break;
  }
  return bytes;
}

}  // namespace

std::string_view SimFaultName(SimFault fault) {
  for (const FaultName& f : kFaultNames) {
    if (f.fault == fault) return f.name;
  }
  return "unknown";
}

std::optional<SimFault> ParseSimFault(std::string_view name) {
  for (const FaultName& f : kFaultNames) {
    if (f.name == name) return f.fault;
  }
  return std::nullopt;
}

const std::vector<SimFault>& AllSimFaults() {
  static const auto* all = new std::vector<SimFault>{
      SimFault::kMm2sIntErr, SimFault::kMm2sSlvErr, SimFault::kMm2sDecErr, SimFault::kS2mmIntErr,
      SimFault::kS2mmSlvErr, SimFault::kS2mmDecErr, SimFault::kHang,       SimFault::kShortS2mm};
  return *all;
}

void SimFaultPlan::Inject(SimFault fault, int transfers) {
  std::lock_guard<std::mutex> lock(mu_);
  fault_ = fault;
  remaining_ = transfers;
}

void SimFaultPlan::Clear() { Inject(SimFault::kNone, 0); }

SimFault SimFaultPlan::Next() {
  std::lock_guard<std::mutex> lock(mu_);
  if (fault_ == SimFault::kNone || remaining_ == 0) return SimFault::kNone;
  if (remaining_ > 0) --remaining_;
  return fault_;
}

SimAxiDma::SimAxiDma(const Options& options)
    : options_(options),
      length_mask_(static_cast<uint32_t>((uint64_t{1} << options.length_width) - 1)) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    ResetLocked();
  }
  worker_ = std::thread([this] { WorkerLoop(); });
}

SimAxiDma::~SimAxiDma() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
    ++generation_;  // abandons a job in flight
  }
  cv_.notify_all();
  worker_.join();
}

uint64_t SimAxiDma::transfers_started() const {
  std::lock_guard<std::mutex> lock(mu_);
  return transfers_started_;
}

void SimAxiDma::ResetLocked() {
  ++generation_;
  pending_.reset();
  mm2s_ = Channel{};
  s2mm_ = Channel{};
  mm2s_.sr = kSrHalted;
  s2mm_.sr = kSrHalted;
  cv_.notify_all();
}

void SimAxiDma::Fail(Channel& channel, uint32_t error_bits) {
  channel.sr = (channel.sr & ~kSrIdle) | error_bits | kSrErrIrq | kSrHalted;
  channel.cr &= ~kCrRunStop;
  channel.busy = false;
}

void SimAxiDma::WriteCr(Channel& channel, uint32_t value) {
  channel.cr = value & ~kCrReset;
  if ((value & kCrRunStop) != 0) {
    // Run: a halted channel without a pending error starts (Idle stays 0 until a transfer ends).
    if ((channel.sr & kSrErrorBits) == 0) channel.sr &= ~kSrHalted;
  } else {
    channel.sr |= kSrHalted;
  }
}

uint32_t SimAxiDma::Read32(uint32_t offset) {
  std::lock_guard<std::mutex> lock(mu_);
  switch (offset) {
    case kMm2sDmacr:
      return mm2s_.cr;
    case kMm2sDmasr:
      return mm2s_.sr;
    case kMm2sSa:
      return static_cast<uint32_t>(mm2s_.address);
    case kMm2sSaMsb:
      return static_cast<uint32_t>(mm2s_.address >> 32);
    case kMm2sLength:
      return mm2s_.length;
    case kS2mmDmacr:
      return s2mm_.cr;
    case kS2mmDmasr:
      return s2mm_.sr;
    case kS2mmDa:
      return static_cast<uint32_t>(s2mm_.address);
    case kS2mmDaMsb:
      return static_cast<uint32_t>(s2mm_.address >> 32);
    case kS2mmLength:
      return s2mm_.length;
    default:
      return 0;  // unmapped registers read as 0
  }
}

void SimAxiDma::Write32(uint32_t offset, uint32_t value) {
  std::lock_guard<std::mutex> lock(mu_);
  const auto set_low = [](uint64_t& a, uint32_t v) { a = (a & ~uint64_t{0xffffffff}) | v; };
  const auto set_high = [](uint64_t& a, uint32_t v) { a = (a & 0xffffffff) | uint64_t{v} << 32; };
  switch (offset) {
    case kMm2sDmacr:
    case kS2mmDmacr:
      if ((value & kCrReset) != 0) {
        ResetLocked();  // either channel's Reset resets both; it self-clears at once here
      } else {
        WriteCr(offset == kMm2sDmacr ? mm2s_ : s2mm_, value);
      }
      break;
    case kMm2sDmasr:
      mm2s_.sr &= ~(value & kSrIrqBits);
      break;
    case kS2mmDmasr:
      s2mm_.sr &= ~(value & kSrIrqBits);
      break;
    case kMm2sSa:
      set_low(mm2s_.address, value);
      break;
    case kMm2sSaMsb:
      set_high(mm2s_.address, value);
      break;
    case kS2mmDa:
      set_low(s2mm_.address, value);
      break;
    case kS2mmDaMsb:
      set_high(s2mm_.address, value);
      break;
    case kMm2sLength:
      mm2s_.length = value & length_mask_;
      StartMm2sLocked();
      break;
    case kS2mmLength:
      // A halted channel ignores it; a running one is armed to receive up to LENGTH bytes.
      if ((s2mm_.sr & kSrHalted) != 0 || s2mm_.busy) break;
      s2mm_.length = value & length_mask_;
      if (s2mm_.length == 0) break;
      s2mm_.busy = true;
      s2mm_.sr &= ~kSrIdle;
      cv_.notify_all();
      break;
    default:
      break;  // writes to unmapped registers are dropped
  }
}

void SimAxiDma::StartMm2sLocked() {
  if ((mm2s_.sr & kSrHalted) != 0 || mm2s_.busy || mm2s_.length == 0) return;
  mm2s_.busy = true;
  mm2s_.sr &= ~kSrIdle;
  ++transfers_started_;
  const SimFault fault = options_.faults != nullptr ? options_.faults->Next() : SimFault::kNone;
  pending_ = Job{generation_, mm2s_.address, mm2s_.length, fault};
  cv_.notify_all();
}

void SimAxiDma::WorkerLoop() {
  std::unique_lock<std::mutex> lock(mu_);
  while (true) {
    cv_.wait(lock, [&] { return stopping_ || pending_.has_value(); });
    if (stopping_) return;
    const Job job = *pending_;
    pending_.reset();
    lock.unlock();
    RunJob(job);
    lock.lock();
  }
}

void SimAxiDma::RunJob(const Job& job) {
  const Clock::time_point started = Clock::now();
  const hls_kernels::KernelInfo& kernel = *options_.kernel;

  // MM2S reads what DRAM holds, not the CPU's cache.
  std::vector<uint8_t> input(job.bytes);
  const bool read_ok = options_.memory->DeviceRead(job.source, job.bytes, input.data());
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (job.generation != generation_) return;
    switch (job.fault) {
      case SimFault::kMm2sIntErr:
        return Fail(mm2s_, kSrDmaIntErr);
      case SimFault::kMm2sSlvErr:
        return Fail(mm2s_, kSrDmaSlvErr);
      case SimFault::kMm2sDecErr:
        return Fail(mm2s_, kSrDmaDecErr);
      case SimFault::kHang:
        return;  // neither channel ever finishes
      default:
        break;
    }
    if (!read_ok) return Fail(mm2s_, kSrDmaDecErr);
  }

  hls::stream<AxisBeat> in_stream;
  hls::stream<AxisBeat> out_stream;
  ToBeats(input, in_stream);
  kernel.top(in_stream, out_stream);
  std::vector<uint8_t> output = FromBeats(out_stream);
  if (job.fault == SimFault::kShortS2mm) {
    output.resize(output.size() - std::min<size_t>(output.size(), kernel.output_bytes_per_image));
  }

  std::unique_lock<std::mutex> lock(mu_);
  const auto abandoned = [&] { return stopping_ || job.generation != generation_; };
  if (options_.realtime) {
    const uint64_t images = job.bytes / std::max<uint32_t>(1, kernel.input_bytes_per_image);
    const auto modelled = std::chrono::duration_cast<Clock::duration>(
        std::chrono::duration<double>(TransferSeconds(kernel, options_.cycle, images)));
    cv_.wait_until(lock, started + modelled, abandoned);
  }
  if (abandoned()) return;
  mm2s_.busy = false;
  mm2s_.sr |= kSrIdle | kSrIocIrq;

  // The output stream waits (back-pressure) until S2MM is armed.
  cv_.wait(lock, [&] { return abandoned() || s2mm_.busy; });
  if (abandoned()) return;
  switch (job.fault) {
    case SimFault::kS2mmIntErr:
      return Fail(s2mm_, kSrDmaIntErr);
    case SimFault::kS2mmSlvErr:
      return Fail(s2mm_, kSrDmaSlvErr);
    case SimFault::kS2mmDecErr:
      return Fail(s2mm_, kSrDmaDecErr);
    default:
      break;
  }
  const bool overflow = output.size() > s2mm_.length;
  const size_t n = std::min<size_t>(output.size(), s2mm_.length);
  if (n > 0 && !options_.memory->DeviceWrite(s2mm_.address, output.data(), n)) {
    return Fail(s2mm_, kSrDmaDecErr);
  }
  if (overflow) return Fail(s2mm_, kSrDmaIntErr);  // a packet longer than the buffer
  s2mm_.length = static_cast<uint32_t>(n);
  s2mm_.busy = false;
  s2mm_.sr |= kSrIdle | kSrIocIrq;
}

}  // namespace pynq::accel::sim
