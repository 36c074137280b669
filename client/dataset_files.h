// Where the test sets live on disk: the official file names, in the folders the official archives
// unpack to (and the layout of the shared datasets folder). Path logic only: no file is read here.
#ifndef PYNQ_CLIENT_DATASET_FILES_H_
#define PYNQ_CLIENT_DATASET_FILES_H_

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "client/dataset.h"

namespace pynq::client {

// The dataset's short name ("mnist", "fashion-mnist" or "cifar10"), the name a Dataset of this kind
// carries.
const char* DatasetName(DatasetKind kind);

// The paths LoadTestSet tries under `data_dir`, in order. MNIST family: the images file
// t10k-images-idx3-ubyte(.gz) in <dir>/mnist/ (or <dir>/fashion-mnist/) and then <dir> itself.
// CIFAR-10: test_batch.bin(.gz) in <dir>/cifar-10-batches-bin/, <dir>/cifar-10/, <dir>, and last
// the exact 1000-record subset <dir>/cifar-10/test_batch.first1000.bin.gz.
std::vector<std::string> TestSetCandidates(DatasetKind kind, const std::string& data_dir);

// The first of TestSetCandidates that exists. NOT_FOUND naming every path tried otherwise.
[[nodiscard]] absl::StatusOr<std::string> FindTestSetFile(DatasetKind kind,
                                                          const std::string& data_dir);

// The labels file beside an IDX images file by the official naming ("X-images-idx3-ubyte[.gz]"
// -> "X-labels-idx1-ubyte[.gz]", compressed or not). INVALID_ARGUMENT when `images_path` is not
// named that way; NOT_FOUND naming the paths tried when no labels file exists.
[[nodiscard]] absl::StatusOr<std::string> FindIdxLabelsFile(const std::string& images_path);

// The CIFAR-10 class-name file (batches.meta.txt) beside `data_path` or in its parent folder
// (for cifar-10/jpeg/*); empty when there is none.
std::string FindCifarMetaFile(const std::string& data_path);

}  // namespace pynq::client

#endif  // PYNQ_CLIENT_DATASET_FILES_H_
