// Two small macros for absl::Status plumbing. Debian 12's abseil (20220623) predates
// ASSIGN_OR_RETURN, so the project keeps its own, here and nowhere else.
#ifndef PYNQ_COMMON_STATUS_MACROS_H_
#define PYNQ_COMMON_STATUS_MACROS_H_

#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#define PYNQ_STATUS_CONCAT_INNER_(a, b) a##b
#define PYNQ_STATUS_CONCAT_(a, b) PYNQ_STATUS_CONCAT_INNER_(a, b)

// Evaluates `expr` (an absl::Status) and returns it from the enclosing function unless it is OK.
#define PYNQ_RETURN_IF_ERROR(expr)               \
  do {                                           \
    ::absl::Status pynq_status_ = (expr);        \
    if (!pynq_status_.ok()) return pynq_status_; \
  } while (false)

// `PYNQ_ASSIGN_OR_RETURN(auto x, MakeX());` evaluates an absl::StatusOr<T>; on error returns its
// status from the enclosing function, else moves the value into the declaration on the left.
#define PYNQ_ASSIGN_OR_RETURN(lhs, rexpr) \
  PYNQ_ASSIGN_OR_RETURN_IMPL_(PYNQ_STATUS_CONCAT_(pynq_statusor_, __LINE__), lhs, rexpr)

#define PYNQ_ASSIGN_OR_RETURN_IMPL_(statusor, lhs, rexpr)  \
  auto statusor = (rexpr);                                 \
  if (!statusor.ok()) return std::move(statusor).status(); \
  lhs = std::move(statusor).value()

#endif  // PYNQ_COMMON_STATUS_MACROS_H_
