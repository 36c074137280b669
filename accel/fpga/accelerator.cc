#include "accel/fpga/accelerator.h"

#include <algorithm>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "spdlog/spdlog.h"

namespace pynq::accel::fpga {
namespace {

using Clock = Accelerator::Clock;

constexpr int kCheckImages = 4;

double Seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

// The first 12 hex digits: enough to tell digests apart in a log line.
std::string Short(const std::string& digest) { return digest.substr(0, 12); }

}  // namespace

const char* FallbackReasonName(FallbackReason reason) {
  switch (reason) {
    case FallbackReason::kBusy:
      return "busy";
    case FallbackReason::kUnhealthy:
      return "unhealthy";
    case FallbackReason::kTooLarge:
      return "too_large";
    case FallbackReason::kDmaError:
      return "dma_error";
    case FallbackReason::kTimeout:
      return "timeout";
    case FallbackReason::kShortTransfer:
      return "short_transfer";
    case FallbackReason::kDriverError:
      return "driver_error";
  }
  return "unknown";
}

Accelerator::Accelerator(Options options, std::unique_ptr<AxiDma> dma, int max_images)
    : options_(std::move(options)),
      max_images_(max_images),
      input_bytes_(options_.model->input_bytes()),
      output_bytes_(static_cast<size_t>(options_.model->num_classes())),
      dma_(std::move(dma)) {}

absl::StatusOr<std::unique_ptr<Accelerator>> Accelerator::Create(Options options) {
  if (options.platform == nullptr || options.model == nullptr || options.reference == nullptr) {
    return absl::InvalidArgumentError("Accelerator needs a platform, a model and a reference");
  }
  const AcceleratorDescription& d = options.description;
  const models::Model& model = *options.model;
  if (d.model_name != model.name()) {
    return absl::FailedPreconditionError(absl::StrCat(d.instance, " implements model '",
                                                      d.model_name, "', not '", model.name(), "'"));
  }
  if (d.model_digest != model.digest()) {
    return absl::FailedPreconditionError(
        absl::StrCat(d.instance, " was built from another version of ", model.name(),
                     " (overlay digest ", Short(d.model_digest), ", loaded model ",
                     Short(model.digest()), "): its weights are not this model's"));
  }
  // One transfer carries at most 2^width - 1 bytes each way.
  const size_t limit = (size_t{1} << d.dma.length_width) - 1;
  const size_t per_image = std::max<size_t>(model.input_bytes(), model.num_classes());
  const int max_images =
      static_cast<int>(std::min<size_t>(options.max_batch_images, limit / per_image));
  if (max_images < 1) {
    return absl::FailedPreconditionError(absl::StrCat(
        d.instance, ": one image (", per_image, " bytes) does not fit one transfer of ", limit,
        " bytes (", d.dma.registers.instance, " c_sg_length_width ", d.dma.length_width, ")"));
  }
  const auto prefix = [&](const absl::Status& s) {
    return absl::Status(s.code(), absl::StrCat(d.instance, ": ", s.message()));
  };

  absl::StatusOr<std::unique_ptr<Mmio>> regs = options.platform->MapRegisters(d.dma.registers);
  if (!regs.ok()) return prefix(regs.status());
  absl::StatusOr<std::unique_ptr<AxiDma>> dma =
      AxiDma::Create(std::move(*regs), {d.dma.length_width, d.dma.registers.instance},
                     Clock::now() + options.transfer_timeout);
  if (!dma.ok()) return prefix(dma.status());

  const int check_images = std::min(kCheckImages, max_images);
  std::unique_ptr<Accelerator> accel(
      new Accelerator(std::move(options), std::move(*dma), max_images));
  accel->check_images_ = check_images;
  {
    std::lock_guard<std::mutex> lock(accel->run_mu_);
    absl::StatusOr<std::unique_ptr<DmaBuffer>> in =
        accel->AllocateBuffer(check_images * accel->input_bytes_);
    if (!in.ok()) return prefix(in.status());
    absl::StatusOr<std::unique_ptr<DmaBuffer>> out =
        accel->AllocateBuffer(check_images * accel->output_bytes_);
    if (!out.ok()) return prefix(out.status());
    accel->check_input_ = std::move(*in);
    accel->check_output_ = std::move(*out);
    // Varied pixels, so a stuck bit or a swapped image shows.
    uint8_t* pixels = accel->check_input_->data();
    for (size_t i = 0; i < accel->check_input_->size(); ++i) {
      pixels[i] = static_cast<uint8_t>(i * 131 + (i >> 7) * 71 + (i >> 11));
    }
    accel->check_expected_.assign(check_images * accel->output_bytes_, 0);
    absl::Status ref =
        accel->options_.reference->Run(*accel->options_.model, check_images,
                                       absl::MakeConstSpan(pixels, accel->check_input_->size()),
                                       absl::MakeSpan(accel->check_expected_));
    if (!ref.ok()) return prefix(ref);
    if (absl::Status s = accel->CheckLocked(); !s.ok()) return s;
  }
  accel->healthy_.store(true, std::memory_order_release);
  if (accel->options_.observer != nullptr) accel->options_.observer->OnHealth(true);
  accel->recovery_ = std::thread([a = accel.get()] { a->RecoveryLoop(); });
  const DmaDescription& dma_description = accel->options_.description.dma;
  spdlog::info("{}: serving {} on the fabric via {} (up to {} images per transfer, limit {} bytes)",
               accel->instance(), accel->options_.model->name(), dma_description.registers.instance,
               max_images, limit);
  return accel;
}

Accelerator::~Accelerator() {
  {
    std::lock_guard<std::mutex> lock(recovery_mu_);
    stopping_ = true;
  }
  recovery_cv_.notify_all();
  if (recovery_.joinable()) recovery_.join();
}

absl::StatusOr<size_t> Accelerator::TransferLocked(DmaBuffer& input, int images,
                                                   DmaBuffer& output) {
  const size_t in_bytes = static_cast<size_t>(images) * input_bytes_;
  const size_t out_bytes = static_cast<size_t>(images) * output_bytes_;
  const Clock::time_point start = Clock::now();
  absl::StatusOr<size_t> got = dma_->Transfer(input, in_bytes, output, out_bytes, out_bytes,
                                              start + options_.transfer_timeout);
  if (got.ok() && options_.observer != nullptr) {
    options_.observer->OnTransfer(images, in_bytes, *got, Seconds(Clock::now() - start));
  }
  if (!got.ok()) {
    return absl::Status(got.status().code(),
                        absl::StrCat(instance(), ": ", got.status().message()));
  }
  return got;
}

absl::Status Accelerator::CheckLocked() {
  absl::StatusOr<size_t> got = TransferLocked(*check_input_, check_images_, *check_output_);
  if (!got.ok()) return got.status();
  const auto* logits = reinterpret_cast<const int8_t*>(check_output_->data());
  for (size_t i = 0; i < check_expected_.size(); ++i) {
    if (logits[i] != check_expected_[i]) {
      return absl::InternalError(
          absl::StrCat(instance(), ": the check batch's logits differ from the CPU's at image ",
                       i / output_bytes_, ", class ", i % output_bytes_, " (fabric ", logits[i],
                       ", CPU ", check_expected_[i], ")"));
    }
  }
  return absl::OkStatus();
}

Accelerator::Outcome Accelerator::TryRun(DmaBuffer& input, int images, DmaBuffer& output,
                                         FallbackReason* reason, absl::Status* error,
                                         bool wait_if_busy) {
  const auto skip = [&](FallbackReason why) {
    *reason = why;
    if (options_.observer != nullptr) options_.observer->OnFallback(why);
    return Outcome::kSkipped;
  };
  if (!healthy()) return skip(FallbackReason::kUnhealthy);
  if (images > max_images_) return skip(FallbackReason::kTooLarge);
  std::unique_lock<std::mutex> lock(run_mu_, std::defer_lock);
  if (wait_if_busy) {
    lock.lock();
  } else if (!lock.try_lock()) {
    return skip(FallbackReason::kBusy);
  }
  if (!healthy()) return skip(FallbackReason::kUnhealthy);  // failed while we waited for the lock

  absl::StatusOr<size_t> got = TransferLocked(input, images, output);
  if (got.ok()) return Outcome::kRan;
  // Unhealthy before the lock goes, so no batch waiting for it tries the failed engine.
  MarkUnhealthy();
  lock.unlock();
  switch (got.status().code()) {
    case absl::StatusCode::kUnavailable:
      *reason = FallbackReason::kDmaError;
      break;
    case absl::StatusCode::kDeadlineExceeded:
      *reason = FallbackReason::kTimeout;
      break;
    case absl::StatusCode::kDataLoss:
      *reason = FallbackReason::kShortTransfer;
      break;
    default:
      *reason = FallbackReason::kDriverError;
      break;
  }
  *error = got.status();
  spdlog::error(
      "{} failed a batch of {} images ({}): {}; the batch is re-run on the CPU and the "
      "accelerator reset in the background",
      instance(), images, FallbackReasonName(*reason), std::string(got.status().message()));
  if (options_.observer != nullptr) options_.observer->OnFallback(*reason);
  return Outcome::kFailed;
}

void Accelerator::MarkUnhealthy() {
  if (healthy_.exchange(false, std::memory_order_acq_rel) && options_.observer != nullptr) {
    options_.observer->OnHealth(false);
  }
  {
    std::lock_guard<std::mutex> lock(recovery_mu_);
    recovery_wanted_ = true;
  }
  recovery_cv_.notify_all();
}

void Accelerator::RecoveryLoop() {
  std::chrono::milliseconds backoff = options_.reset_backoff_initial;
  std::unique_lock<std::mutex> lock(recovery_mu_);
  while (true) {
    recovery_cv_.wait(lock, [&] { return stopping_ || recovery_wanted_; });
    if (stopping_) return;
    lock.unlock();
    absl::Status status;
    {
      std::lock_guard<std::mutex> run(run_mu_);
      status = dma_->Reset(Clock::now() + options_.transfer_timeout);
      if (status.ok()) status = CheckLocked();
    }
    if (options_.observer != nullptr) options_.observer->OnReset(status.ok());
    lock.lock();
    if (status.ok()) {
      recovery_wanted_ = false;
      backoff = options_.reset_backoff_initial;
      healthy_.store(true, std::memory_order_release);
      if (options_.observer != nullptr) options_.observer->OnHealth(true);
      spdlog::info("{}: reset and checked against the CPU; serving again", instance());
      continue;
    }
    spdlog::warn("{}: reset or check failed ({}); next attempt in {} ms", instance(),
                 std::string(status.message()), backoff.count());
    recovery_cv_.wait_for(lock, backoff, [&] { return stopping_; });
    backoff = std::min(backoff * 2, options_.reset_backoff_max);
  }
}

}  // namespace pynq::accel::fpga
