// Writes one generated parameter header: a struct of static constexpr scalars and nested-brace
// C arrays, which the HLS kernels read as ROMs. Host-side only.
#ifndef PYNQ_ACCEL_HLS_GEN_HEADER_WRITER_H_
#define PYNQ_ACCEL_HLS_GEN_HEADER_WRITER_H_

#include <cstdint>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

namespace pynq::hls_gen {

// Not thread-safe; one header per writer.
class HeaderWriter {
 public:
  // struct_name: "LfcW1A1Params"; source: the model file, named in the banner.
  HeaderWriter(std::string_view struct_name, std::string_view source);

  void String(std::string_view name, std::string_view value);
  void Int32(std::string_view name, int64_t value);
  // Arrays of dims[0] x dims[1] x ... values, `values` in row-major order (the product of dims).
  void Int32Array(std::string_view name, const std::vector<int>& dims,
                  const std::vector<int32_t>& values);
  void Int8Array(std::string_view name, const std::vector<int>& dims,
                 const std::vector<int8_t>& values);
  void Uint64Array(std::string_view name, const std::vector<int>& dims,
                   const std::vector<uint64_t>& values);

  // The whole header.
  std::string Finish();

 private:
  void Array(std::string_view type, std::string_view name, const std::vector<int>& dims,
             const std::vector<std::string>& values);

  std::string struct_name_;
  std::ostringstream body_;
  std::string banner_;
};

}  // namespace pynq::hls_gen

#endif  // PYNQ_ACCEL_HLS_GEN_HEADER_WRITER_H_
