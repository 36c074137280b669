// Test helpers: the shipped models and their reference outputs, found through PYNQ_SOURCE_DIR
// (set by pynq_add_test) or the compiled-in source tree, and the datasets through INFER_DATA_DIR.
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

// The version folder of a shipped model: models/zoo/<name>/1.
inline std::string ZooDir(const std::string& name) {
  return SourceDir() + "/models/zoo/" + name + "/1";
}

inline std::string MnistZooDir() { return ZooDir("mnist-cnn-q8"); }

inline absl::StatusOr<std::unique_ptr<const models::Model>> LoadZooModel(const std::string& name) {
  return models::Model::LoadFromFile(ZooDir(name) + "/model.pb");
}

inline absl::StatusOr<std::unique_ptr<const models::Model>> LoadMnistZooModel() {
  return LoadZooModel("mnist-cnn-q8");
}

// The exporter's int8 logits for a model's first test images (proto ReferenceOutputs).
inline absl::StatusOr<pynq::model::ReferenceOutputs> LoadReference(const std::string& name) {
  const std::string path = ZooDir(name) + "/reference.pb";
  std::ifstream in(path, std::ios::binary);
  pynq::model::ReferenceOutputs reference;
  if (!in || !reference.ParseFromIstream(&in)) {
    return absl::InvalidArgumentError(path + ": missing or not a ReferenceOutputs");
  }
  return reference;
}

inline absl::StatusOr<pynq::model::ReferenceOutputs> LoadMnistReference() {
  return LoadReference("mnist-cnn-q8");
}

inline absl::StatusOr<client::Dataset> LoadMnistTestSet() {
  absl::StatusOr<std::string> dir = client::ResolveDataDir("");
  if (!dir.ok()) return dir.status();
  return client::LoadTestSet(client::DatasetKind::kMnist, *dir);
}

// The dataset file a ReferenceOutputs names ("cifar-10/test_batch.first1000.bin.gz"), relative to
// the data directory ($INFER_DATA_DIR).
inline absl::StatusOr<client::Dataset> LoadReferenceDataset(
    const pynq::model::ReferenceOutputs& reference) {
  absl::StatusOr<std::string> dir = client::ResolveDataDir("");
  if (!dir.ok()) return dir.status();
  const std::string& file = reference.dataset_file();
  const auto starts_with = [&](const char* prefix) { return file.rfind(prefix, 0) == 0; };
  client::DatasetKind kind;
  if (starts_with("mnist/")) {
    kind = client::DatasetKind::kMnist;
  } else if (starts_with("fashion-mnist/")) {
    kind = client::DatasetKind::kFashionMnist;
  } else if (starts_with("cifar-10/")) {
    kind = client::DatasetKind::kCifar10;
  } else {
    return absl::InvalidArgumentError("unknown dataset file " + file);
  }
  return client::LoadFile(kind, *dir + "/" + file);
}

}  // namespace pynq::test_util

#endif  // PYNQ_TESTS_MODELS_ZOO_TEST_UTIL_H_
