// What the fuzz targets share: the zoo's MNIST model, loaded once from the source tree, as the
// model that requests are validated against and configs reconciled with.
#ifndef PYNQ_TESTS_FUZZ_FUZZ_ZOO_H_
#define PYNQ_TESTS_FUZZ_FUZZ_ZOO_H_

#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>

#include "google/protobuf/stubs/logging.h"
#include "server/infer_handler.h"
#include "server/model_repository.h"

namespace pynq::fuzz {

// The zoo model every target uses; aborts (the target cannot run) when it does not load.
inline const server::ServedModel& ZooModel() {
  static const server::ServedModel* const kModel = [] {
    // protobuf logs every malformed string it parses: noise that slows the fuzzer 10x.
    google::protobuf::SetLogHandler(nullptr);
    const char* dir = std::getenv("PYNQ_SOURCE_DIR");
    const std::string root =
        std::string(dir != nullptr && *dir != '\0' ? dir : PYNQ_TEST_SOURCE_DIR) + "/models/zoo";
    absl::StatusOr<std::vector<server::ModelEntry>> entries = server::LoadRepository(root);
    if (entries.ok()) {
      for (server::ModelEntry& e : *entries) {
        if (e.name == "mnist-cnn-q8" && e.status.ok()) {
          auto* model = new server::ServedModel();
          model->entry = std::move(e);
          return model;
        }
      }
    }
    std::fprintf(stderr, "fuzz: cannot load mnist-cnn-q8 from %s\n", root.c_str());
    std::abort();
  }();
  return *kModel;
}

// Aborts with `what` when `condition` is false: how a target reports a broken invariant.
inline void Check(bool condition, const char* what) {
  if (!condition) {
    std::fprintf(stderr, "fuzz invariant broken: %s\n", what);
    std::abort();
  }
}

}  // namespace pynq::fuzz

#endif  // PYNQ_TESTS_FUZZ_FUZZ_ZOO_H_
