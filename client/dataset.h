// Readers for the test sets in their official formats: MNIST / Fashion-MNIST IDX files and
// CIFAR-10 binary batches, gzip-compressed or not. The whole set is read into memory once.
#ifndef PYNQ_CLIENT_DATASET_H_
#define PYNQ_CLIENT_DATASET_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"

namespace pynq::client {

enum class DatasetKind { kMnist, kFashionMnist, kCifar10 };

// A labelled image set, images back to back in the dataset's native layout: {1,28,28} for the
// MNIST family, {3,32,32} planar RGB for CIFAR-10 (exactly the bytes of the official files).
struct Dataset {
  std::string name;                 // "mnist", "fashion-mnist", "cifar10"
  std::vector<int64_t> image_dims;  // per image, channels first
  size_t image_bytes = 0;           // product of image_dims
  std::vector<uint8_t> pixels;      // size() * image_bytes
  std::vector<uint8_t> labels;      // one per image, 0..class_names.size()-1
  std::vector<std::string> class_names;

  size_t size() const { return labels.size(); }
  absl::Span<const uint8_t> image(size_t i) const {
    return absl::MakeConstSpan(pixels.data() + i * image_bytes, image_bytes);
  }
};

// "mnist", "fashion-mnist" (or "fashion_mnist"), "cifar10" (or "cifar-10"); INVALID_ARGUMENT
// listing the accepted names otherwise.
[[nodiscard]] absl::StatusOr<DatasetKind> ParseDatasetKind(std::string_view name);

// The data directory: `flag_value` when non-empty, else $INFER_DATA_DIR, else
// "../shared/datasets" when it exists. NOT_FOUND saying what was tried otherwise.
[[nodiscard]] absl::StatusOr<std::string> ResolveDataDir(const std::string& flag_value);

// Reads the test split of `kind` under `data_dir`, looking for the official file names (with or
// without .gz) in the usual sub-folders. NOT_FOUND lists the paths tried; INVALID_ARGUMENT names
// the file and what is malformed (bad magic, truncated, label out of range).
[[nodiscard]] absl::StatusOr<Dataset> LoadTestSet(DatasetKind kind, const std::string& data_dir);

// Reads one file named directly: an MNIST-family IDX image file (its labels file found beside it
// by the official naming) or a CIFAR-10 binary batch (labels inline). Errors as LoadTestSet.
[[nodiscard]] absl::StatusOr<Dataset> LoadFile(DatasetKind kind, const std::string& path);

}  // namespace pynq::client

#endif  // PYNQ_CLIENT_DATASET_H_
