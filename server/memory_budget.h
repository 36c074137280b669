// The server's one memory budget: the bytes of requests queued or in flight and of answers not
// yet taken by their clients, across every call and stream. A request that would take the total
// past the limit is refused (RESOURCE_EXHAUSTED) or, on a stream, not read until answers drain;
// nothing is buffered without bound. See docs/security.md for what is and is not counted.
#ifndef PYNQ_SERVER_MEMORY_BUDGET_H_
#define PYNQ_SERVER_MEMORY_BUDGET_H_

#include <atomic>
#include <cstddef>
#include <cstdint>

namespace pynq::server {

// Thread-safe (atomics only): charged and released from gRPC's threads and the model workers.
class MemoryBudget {
 public:
  explicit MemoryBudget(size_t limit_bytes) : limit_(limit_bytes) {}
  MemoryBudget(const MemoryBudget&) = delete;
  MemoryBudget& operator=(const MemoryBudget&) = delete;

  // Takes `bytes` when the total stays within the limit; returns false (taking nothing) and
  // counts a refusal otherwise.
  [[nodiscard]] bool TryCharge(size_t bytes) {
    size_t used = used_.load(std::memory_order_relaxed);
    do {
      if (bytes > limit_ || used > limit_ - bytes) {
        refusals_.fetch_add(1, std::memory_order_relaxed);
        return false;
      }
    } while (!used_.compare_exchange_weak(used, used + bytes, std::memory_order_relaxed));
    return true;
  }

  // Takes `bytes` whatever the total: for an answer that replaces the request it was charged
  // for, which must be delivered (it is about as large as what it replaces).
  void ForceCharge(size_t bytes) { used_.fetch_add(bytes, std::memory_order_relaxed); }

  // Gives back bytes taken by TryCharge or ForceCharge.
  void Release(size_t bytes) { used_.fetch_sub(bytes, std::memory_order_relaxed); }

  size_t limit() const { return limit_; }
  size_t used() const { return used_.load(std::memory_order_relaxed); }
  // Bytes that can still be charged.
  size_t available() const {
    const size_t u = used();
    return u >= limit_ ? 0 : limit_ - u;
  }
  // Charges refused since start.
  uint64_t refusals() const { return refusals_.load(std::memory_order_relaxed); }

 private:
  const size_t limit_;
  std::atomic<size_t> used_{0};
  std::atomic<uint64_t> refusals_{0};
};

// Bytes held from a MemoryBudget, given back when destroyed. Move-only; not thread-safe (one
// owner at a time).
class BudgetCharge {
 public:
  BudgetCharge() = default;
  BudgetCharge(const BudgetCharge&) = delete;
  BudgetCharge& operator=(const BudgetCharge&) = delete;
  BudgetCharge(BudgetCharge&& other) noexcept : budget_(other.budget_), bytes_(other.bytes_) {
    other.budget_ = nullptr;
    other.bytes_ = 0;
  }
  BudgetCharge& operator=(BudgetCharge&& other) noexcept {
    if (this != &other) {
      Reset();
      budget_ = other.budget_;
      bytes_ = other.bytes_;
      other.budget_ = nullptr;
      other.bytes_ = 0;
    }
    return *this;
  }
  ~BudgetCharge() { Reset(); }

  // A charge of `bytes` from `budget`, or an empty charge (ok() false) when the budget refuses.
  static BudgetCharge Try(MemoryBudget* budget, size_t bytes) {
    BudgetCharge c;
    if (budget->TryCharge(bytes)) {
      c.budget_ = budget;
      c.bytes_ = bytes;
    }
    return c;
  }

  // True when it holds bytes of a budget.
  bool ok() const { return budget_ != nullptr; }
  size_t bytes() const { return bytes_; }

  // Makes the charge `bytes` (more is forced: see MemoryBudget::ForceCharge). No-op when empty.
  void Resize(size_t bytes) {
    if (budget_ == nullptr) return;
    if (bytes > bytes_) budget_->ForceCharge(bytes - bytes_);
    if (bytes < bytes_) budget_->Release(bytes_ - bytes);
    bytes_ = bytes;
  }

  // Gives the bytes back now.
  void Reset() {
    if (budget_ != nullptr) budget_->Release(bytes_);
    budget_ = nullptr;
    bytes_ = 0;
  }

 private:
  MemoryBudget* budget_ = nullptr;
  size_t bytes_ = 0;
};

}  // namespace pynq::server

#endif  // PYNQ_SERVER_MEMORY_BUDGET_H_
