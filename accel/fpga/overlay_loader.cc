#include "accel/fpga/overlay_loader.h"

#include <algorithm>
#include <cstdint>
#include <map>
#include <optional>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "common/file_util.h"
#include "common/status_macros.h"
#include "common/strings.h"
#include "nlohmann/json.hpp"
#include "pugixml.hpp"

namespace pynq::accel::fpga {
namespace {

// Names and values from the files are repeated in messages at most this long.
constexpr size_t kMaxEcho = 64;

std::string Echo(absl::string_view text) {
  return BoundedForMessage(std::string_view(text.data(), text.size()), kMaxEcho);
}

// Vivado has written both vocabularies (MASTER/SLAVE, and INITIATOR/TARGET since 2020.x),
// sometimes in one file.
bool IsMaster(absl::string_view type) { return type == "MASTER" || type == "INITIATOR"; }
bool IsSlave(absl::string_view type) { return type == "SLAVE" || type == "TARGET"; }

bool IsAxiDma(absl::string_view modtype, absl::string_view vlnv) {
  return modtype == "axi_dma" || absl::StartsWith(vlnv, "xilinx.com:ip:axi_dma:");
}

bool IsProcessingSystem(absl::string_view modtype) {
  return modtype == "processing_system7" || modtype == "zynq_ultra_ps_e";
}

// "0x40400000" as Vivado writes BASEVALUE and HIGHVALUE.
std::optional<uint64_t> ParseHex(absl::string_view text) {
  uint64_t value = 0;
  if (text.size() < 3 || text[0] != '0' || (text[1] != 'x' && text[1] != 'X') ||
      !absl::SimpleHexAtoi(text.substr(2), &value)) {
    return std::nullopt;
  }
  return value;
}

struct BusInterface {
  std::string name;  // "M_AXIS_MM2S", "in_r"
  std::string bus;   // the net both ends share: "axi_dma_0_M_AXIS_MM2S"
  bool master = false;
};

struct Module {
  pugi::xml_node node;
  std::string instance;
  std::string vlnv;
  std::string modtype;
  std::vector<BusInterface> interfaces;
};

// The parsed .hwh and the look-ups the checks need.
class Hwh {
 public:
  explicit Hwh(const OverlayLoaderOptions& options) : options_(options) {}

  absl::Status Parse(absl::string_view xml);
  absl::StatusOr<std::vector<AcceleratorDescription>> Accelerators() const;

 private:
  // The axi_dma whose `dma_interface` shares a bus with one of the accelerator's interfaces of
  // the opposite direction; nullptr when there is none.
  const Module* DmaOn(const Module& accelerator, bool accelerator_master,
                      absl::string_view dma_interface) const;
  absl::StatusOr<DmaDescription> DescribeDma(const Module& dma) const;
  absl::StatusOr<int> IntParameter(const Module& module, absl::string_view name, int min,
                                   int max) const;
  absl::StatusOr<IpWindow> RegisterWindow(const Module& module) const;
  absl::Status Error(absl::string_view what) const {
    return absl::InvalidArgumentError(absl::StrCat(options_.hwh_path, ": ", what));
  }

  const OverlayLoaderOptions& options_;
  pugi::xml_document document_;
  std::vector<Module> modules_;
  // Bus name -> (module index, interface index) of every interface on it.
  std::multimap<std::string, std::pair<size_t, size_t>> buses_;
  pugi::xml_node memory_map_;  // the processing system's; empty when there is none
};

absl::Status Hwh::Parse(absl::string_view xml) {
  const pugi::xml_parse_result result =
      document_.load_buffer(xml.data(), xml.size(), pugi::parse_default, pugi::encoding_utf8);
  if (!result) {
    const size_t offset =
        std::min(static_cast<size_t>(std::max<ptrdiff_t>(result.offset, 0)), xml.size());
    const size_t line = 1 + std::count(xml.begin(), xml.begin() + offset, '\n');
    const size_t line_start = xml.rfind('\n', offset == 0 ? 0 : offset - 1);
    const size_t column = offset - (line_start == absl::string_view::npos ? 0 : line_start + 1) + 1;
    return Error(absl::StrCat("not valid XML at line ", line, ", column ", column, " (byte ",
                              offset, "): ", result.description()));
  }
  const pugi::xml_node root = document_.child("EDKSYSTEM");
  if (!root) return Error("not a Vivado hardware handoff (no EDKSYSTEM root element)");
  for (const pugi::xml_node node : root.child("MODULES").children("MODULE")) {
    Module module{node,
                  node.attribute("INSTANCE").value(),
                  node.attribute("VLNV").value(),
                  node.attribute("MODTYPE").value(),
                  {}};
    for (const pugi::xml_node bus : node.child("BUSINTERFACES").children("BUSINTERFACE")) {
      const absl::string_view type = bus.attribute("TYPE").value();
      const absl::string_view bus_name = bus.attribute("BUSNAME").value();
      // Vivado names the bus of an unconnected interface "__NOC__".
      if (bus_name.empty() || bus_name == "__NOC__" || !(IsMaster(type) || IsSlave(type))) {
        continue;
      }
      buses_.emplace(bus_name, std::make_pair(modules_.size(), module.interfaces.size()));
      module.interfaces.push_back(
          {bus.attribute("NAME").value(), std::string(bus_name), IsMaster(type)});
    }
    if (IsProcessingSystem(module.modtype) && !memory_map_) {
      memory_map_ = node.child("MEMORYMAP");
    }
    modules_.push_back(std::move(module));
  }
  return absl::OkStatus();
}

const Module* Hwh::DmaOn(const Module& accelerator, bool accelerator_master,
                         absl::string_view dma_interface) const {
  for (const BusInterface& own : accelerator.interfaces) {
    if (own.master != accelerator_master) continue;
    const auto [begin, end] = buses_.equal_range(own.bus);
    for (auto it = begin; it != end; ++it) {
      const Module& other = modules_[it->second.first];
      const BusInterface& far = other.interfaces[it->second.second];
      if (far.master != accelerator_master && far.name == dma_interface &&
          IsAxiDma(other.modtype, other.vlnv)) {
        return &other;
      }
    }
  }
  return nullptr;
}

absl::StatusOr<int> Hwh::IntParameter(const Module& module, absl::string_view name, int min,
                                      int max) const {
  for (const pugi::xml_node parameter : module.node.child("PARAMETERS").children("PARAMETER")) {
    if (!absl::EqualsIgnoreCase(parameter.attribute("NAME").value(), name)) continue;
    const absl::string_view text = parameter.attribute("VALUE").value();
    int value = 0;
    if (!absl::SimpleAtoi(text, &value) || value < min || value > max) {
      return Error(absl::StrCat(Echo(module.instance), " has ", name, "=", Echo(text),
                                "; supported: ", min, "..", max));
    }
    return value;
  }
  return Error(absl::StrCat(Echo(module.instance), " has no parameter ", name));
}

absl::StatusOr<IpWindow> Hwh::RegisterWindow(const Module& module) const {
  if (!memory_map_) {
    return Error(
        "no processing_system7 (or zynq_ultra_ps_e) memory map: the design has no Zynq "
        "processing system, or its addresses were never assigned");
  }
  pugi::xml_node range;
  for (const pugi::xml_node candidate : memory_map_.children("MEMRANGE")) {
    if (module.instance != candidate.attribute("INSTANCE").value()) continue;
    if (!range ||
        absl::string_view(candidate.attribute("SLAVEBUSINTERFACE").value()) == "S_AXI_LITE") {
      range = candidate;
    }
  }
  if (!range) {
    return Error(absl::StrCat(Echo(module.instance),
                              " has no address range in the processing system's memory map "
                              "(assign it in Vivado's Address Editor)"));
  }
  const absl::string_view base_text = range.attribute("BASEVALUE").value();
  const absl::string_view high_text = range.attribute("HIGHVALUE").value();
  const std::optional<uint64_t> base = ParseHex(base_text);
  const std::optional<uint64_t> high = ParseHex(high_text);
  if (!base || !high || *high < *base || *high - *base == UINT64_MAX) {
    return Error(absl::StrCat("the address range of ", Echo(module.instance), " [", Echo(base_text),
                              ", ", Echo(high_text), "] is not a range"));
  }
  return IpWindow{module.instance, *base, *high - *base + 1};
}

absl::StatusOr<DmaDescription> Hwh::DescribeDma(const Module& dma) const {
  DmaDescription description;
  description.vlnv = dma.vlnv;
  PYNQ_ASSIGN_OR_RETURN(const int sg, IntParameter(dma, "C_INCLUDE_SG", 0, 1));
  if (sg != 0) {
    return Error(absl::StrCat(Echo(dma.instance),
                              " is in scatter-gather mode (C_INCLUDE_SG=1); only simple mode is "
                              "supported (set c_include_sg to 0 in the block design)"));
  }
  PYNQ_ASSIGN_OR_RETURN(description.length_width, IntParameter(dma, "C_SG_LENGTH_WIDTH", 8, 26));
  PYNQ_ASSIGN_OR_RETURN(description.mm2s_data_width,
                        IntParameter(dma, "C_M_AXIS_MM2S_TDATA_WIDTH", 8, 1024));
  PYNQ_ASSIGN_OR_RETURN(description.s2mm_data_width,
                        IntParameter(dma, "C_S_AXIS_S2MM_TDATA_WIDTH", 8, 1024));
  PYNQ_ASSIGN_OR_RETURN(description.registers, RegisterWindow(dma));
  return description;
}

absl::StatusOr<std::vector<AcceleratorDescription>> Hwh::Accelerators() const {
  std::vector<AcceleratorDescription> accelerators;
  for (const Module& module : modules_) {
    const bool is_accelerator = std::any_of(
        options_.accelerator_vlnv_prefixes.begin(), options_.accelerator_vlnv_prefixes.end(),
        [&](const std::string& prefix) { return absl::StartsWith(module.vlnv, prefix); });
    if (!is_accelerator) continue;
    const std::string name = absl::StrCat("accelerator '", Echo(module.instance), "'");
    const Module* input = DmaOn(module, /*accelerator_master=*/false, "M_AXIS_MM2S");
    if (input == nullptr) {
      return Error(absl::StrCat(name,
                                " has no AXI DMA on its input stream (an AXI-Stream slave "
                                "connected straight to an axi_dma's M_AXIS_MM2S)"));
    }
    const Module* output = DmaOn(module, /*accelerator_master=*/true, "S_AXIS_S2MM");
    if (output == nullptr) {
      return Error(absl::StrCat(name,
                                " has no AXI DMA on its output stream (an AXI-Stream master "
                                "connected straight to an axi_dma's S_AXIS_S2MM)"));
    }
    if (input != output) {
      return Error(absl::StrCat(name, " reads from ", Echo(input->instance), " but writes to ",
                                Echo(output->instance), "; one DMA must carry both streams"));
    }
    AcceleratorDescription accelerator;
    accelerator.instance = module.instance;
    accelerator.vlnv = module.vlnv;
    PYNQ_ASSIGN_OR_RETURN(accelerator.dma, DescribeDma(*input));
    accelerators.push_back(std::move(accelerator));
  }
  if (accelerators.empty()) {
    std::string prefixes;
    for (const std::string& prefix : options_.accelerator_vlnv_prefixes) {
      absl::StrAppend(&prefixes, prefixes.empty() ? "" : " or ", prefix);
    }
    return Error(absl::StrCat("the overlay has no accelerators (no module whose VLNV starts with ",
                              prefixes, ")"));
  }
  return accelerators;
}

bool IsSha256Hex(absl::string_view text) {
  return text.size() == 64 && std::all_of(text.begin(), text.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

struct ModelEntry {
  std::string model;
  std::string digest;
};

// {"accelerators":[{"instance":"lfc_w1a1_0","model":"mnist-lfc-w1a1","digest":"<64 hex>"}]}
absl::StatusOr<std::map<std::string, ModelEntry>> ParseSidecar(absl::string_view text,
                                                               const std::string& name) {
  auto error = [&](absl::string_view what) {
    return absl::InvalidArgumentError(absl::StrCat(name, ": ", what));
  };
  nlohmann::json json;
  try {
    json = nlohmann::json::parse(text.begin(), text.end());
  } catch (const nlohmann::json::exception& e) {
    return error(absl::StrCat("not valid JSON: ", e.what()));
  }
  if (!json.is_object() || !json.contains("accelerators") || !json["accelerators"].is_array()) {
    return error("expected an object with an \"accelerators\" array");
  }
  std::map<std::string, ModelEntry> entries;
  size_t index = 0;
  for (const nlohmann::json& item : json["accelerators"]) {
    const std::string where = absl::StrCat("accelerators[", index++, "]");
    auto field = [&](const char* key) -> std::string {
      if (!item.is_object()) return "";
      const auto it = item.find(key);
      return it != item.end() && it->is_string() ? it->get<std::string>() : "";
    };
    const std::string instance = field("instance");
    ModelEntry entry{field("model"), field("digest")};
    if (instance.empty() || entry.model.empty()) {
      return error(absl::StrCat(where, " needs non-empty strings \"instance\" and \"model\""));
    }
    if (!IsSha256Hex(entry.digest)) {
      return error(absl::StrCat(where, " ('", Echo(instance),
                                "'): \"digest\" must be 64 lower-case hex digits (the model's "
                                "SHA-256), found '",
                                Echo(entry.digest), "'"));
    }
    if (!entries.emplace(instance, std::move(entry)).second) {
      return error(absl::StrCat("accelerator '", Echo(instance), "' is listed twice"));
    }
  }
  return entries;
}

}  // namespace

std::string ModelsSidecarPath(const std::string& hwh_path) {
  std::string stem = hwh_path;
  if (absl::EndsWith(stem, ".hwh")) stem.resize(stem.size() - 4);
  return stem + ".models.json";
}

absl::StatusOr<OverlayDescription> ParseOverlay(std::string_view hwh_xml,
                                                std::string_view models_json,
                                                const OverlayLoaderOptions& options) {
  Hwh hwh(options);
  PYNQ_RETURN_IF_ERROR(hwh.Parse(absl::string_view(hwh_xml.data(), hwh_xml.size())));
  PYNQ_ASSIGN_OR_RETURN(std::vector<AcceleratorDescription> accelerators, hwh.Accelerators());

  const std::string models_path =
      options.models_path.empty() ? ModelsSidecarPath(options.hwh_path) : options.models_path;
  PYNQ_ASSIGN_OR_RETURN(
      auto entries,
      ParseSidecar(absl::string_view(models_json.data(), models_json.size()), models_path));
  for (AcceleratorDescription& accelerator : accelerators) {
    const auto it = entries.find(accelerator.instance);
    if (it == entries.end()) {
      return absl::InvalidArgumentError(absl::StrCat(models_path, ": no entry for accelerator '",
                                                     Echo(accelerator.instance), "'"));
    }
    accelerator.model_name = std::move(it->second.model);
    accelerator.model_digest = std::move(it->second.digest);
    entries.erase(it);
  }
  if (!entries.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(models_path, ": names accelerator '",
                                                   Echo(entries.begin()->first), "', which ",
                                                   options.hwh_path, " does not have"));
  }
  OverlayDescription overlay;
  overlay.source = options.hwh_path;
  overlay.accelerators = std::move(accelerators);
  return overlay;
}

absl::StatusOr<OverlayDescription> LoadOverlay(const OverlayLoaderOptions& options) {
  PYNQ_ASSIGN_OR_RETURN(const std::string hwh,
                        ReadRegularFile(options.hwh_path, options.hwh_path, options.max_hwh_bytes));
  const std::string models_path =
      options.models_path.empty() ? ModelsSidecarPath(options.hwh_path) : options.models_path;
  PYNQ_ASSIGN_OR_RETURN(const std::string models,
                        ReadRegularFile(models_path, models_path, options.max_models_bytes));
  return ParseOverlay(hwh, models, options);
}

absl::StatusOr<OverlayDescription> LoadOverlay(const std::string& hwh_path) {
  OverlayLoaderOptions options;
  options.hwh_path = hwh_path;
  return LoadOverlay(options);
}

}  // namespace pynq::accel::fpga
