// pynq_hls_gen: writes an HLS kernel's parameter header from a zoo model, after checking that the
// model is the kernel's architecture; optionally the kernel's entry of the overlay sidecar.
//
//   pynq_hls_gen --kernel lfc_w1a1 --model models/zoo/mnist-lfc-w1a1/1/model.pb
//       --out gen/lfc_w1a1_params.h [--emit-sidecar-entry gen/lfc_w1a1.sidecar.json]
//
// Exit status 0 on success; 1 with a message on stderr naming the model, the layer and what the
// kernel needs when the model does not fit, or when a file cannot be read or written.
#include <cstdio>
#include <fstream>
#include <memory>
#include <string>

#include "CLI/CLI.hpp"
#include "absl/status/statusor.h"
#include "accel/hls/gen/params_gen.h"
#include "models/model.h"

namespace {

// Writes `text` to `path` whole; false (with a message) when it cannot.
bool WriteFile(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
  out.close();
  if (!out) {
    std::fprintf(stderr, "pynq_hls_gen: cannot write %s\n", path.c_str());
    return false;
  }
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "Generates an HLS kernel's weight header (accel/hls) from a zoo model.pb, after checking "
      "the model has exactly the kernel's architecture."};
  std::string kernel;
  std::string model_path;
  std::string out_path;
  std::string sidecar_path;
  std::string instance;
  app.add_option("--kernel", kernel, "The kernel")
      ->required()
      ->check(CLI::IsMember(pynq::hls_gen::KernelNames()));
  app.add_option("--model", model_path, "The model file (models/zoo/<name>/1/model.pb)")
      ->required()
      ->check(CLI::ExistingFile);
  app.add_option("--out", out_path, "The header to write (<kernel>_params.h)")->required();
  app.add_option("--emit-sidecar-entry", sidecar_path,
                 "Also write the kernel's entry of <overlay>.models.json to this file");
  app.add_option("--instance", instance,
                 "The IP instance name in the block design (default <kernel>_0)");
  CLI11_PARSE(app, argc, argv);

  absl::StatusOr<std::unique_ptr<const pynq::models::Model>> model =
      pynq::models::Model::LoadFromFile(model_path);
  if (!model.ok()) {
    std::fprintf(stderr, "pynq_hls_gen: %s\n", model.status().ToString().c_str());
    return 1;
  }
  absl::StatusOr<std::string> header =
      pynq::hls_gen::GenerateParamsHeader(kernel, **model, model_path);
  if (!header.ok()) {
    std::fprintf(stderr, "pynq_hls_gen: %s\n", header.status().ToString().c_str());
    return 1;
  }
  if (!WriteFile(out_path, *header)) return 1;
  if (!sidecar_path.empty()) {
    if (instance.empty()) instance = kernel + "_0";
    if (!WriteFile(sidecar_path, pynq::hls_gen::SidecarEntry(instance, **model) + "\n")) return 1;
  }
  return 0;
}
