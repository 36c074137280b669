// Test helpers: the shipped mnist-cnn-q8 and its reference outputs, found through PYNQ_SOURCE_DIR
// (set by pynq_add_test), and the MNIST test set through INFER_DATA_DIR.
#ifndef PYNQ_TESTS_MODELS_ZOO_TEST_UTIL_H_
#define PYNQ_TESTS_MODELS_ZOO_TEST_UTIL_H_

#include <cstdlib>
#include <fstream>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "client/dataset.h"
#include "models/model.h"
#include "proto/model.pb.h"

namespace pynq::test_util {

// $PYNQ_SOURCE_DIR, else the source tree this test was built from (so the binary also runs by
// hand), else ".".
inline std::string SourceDir() {
  const char* source_dir = std::getenv("PYNQ_SOURCE_DIR");
  if (source_dir != nullptr && *source_dir != '\0') return source_dir;
#ifdef PYNQ_TEST_SOURCE_DIR
  return PYNQ_TEST_SOURCE_DIR;
#else
  return ".";
#endif
}

inline std::string MnistZooDir() { return SourceDir() + "/models/zoo/mnist-cnn-q8/1"; }

inline absl::StatusOr<std::unique_ptr<const models::Model>> LoadMnistZooModel() {
  return models::Model::LoadFromFile(MnistZooDir() + "/model.pb");
}

// The exporter's int8 logits for the first MNIST test images (proto ReferenceOutputs).
inline absl::StatusOr<pynq::model::ReferenceOutputs> LoadMnistReference() {
  const std::string path = MnistZooDir() + "/reference.pb";
  std::ifstream in(path, std::ios::binary);
  pynq::model::ReferenceOutputs reference;
  if (!in || !reference.ParseFromIstream(&in)) {
    return absl::InvalidArgumentError(path + ": missing or not a ReferenceOutputs");
  }
  return reference;
}

inline absl::StatusOr<client::Dataset> LoadMnistTestSet() {
  absl::StatusOr<std::string> dir = client::ResolveDataDir("");
  if (!dir.ok()) return dir.status();
  return client::LoadTestSet(client::DatasetKind::kMnist, *dir);
}

}  // namespace pynq::test_util

#endif  // PYNQ_TESTS_MODELS_ZOO_TEST_UTIL_H_
