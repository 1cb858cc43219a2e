// .npy reading and writing: round trips, files as NumPy writes them, and clear errors naming the
// file for everything effvit does not read.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <random>

#include "data/npy.h"
#include "test_util.h"

namespace effvit {
namespace {

using namespace effvit::test;
namespace fs = std::filesystem;

class NpyTest : public test::TempDirTest {};

// A version 1.0 file: magic, version, little-endian header length, header, data.
std::string npy_v1(const std::string& header, const std::string& data) {
  std::string bytes("\x93NUMPY\x01\x00", 8);
  bytes += static_cast<char>(header.size() & 0xff);
  bytes += static_cast<char>(header.size() >> 8);
  return bytes + header + data;
}

std::string float_bytes(const std::vector<float>& v) {
  return std::string(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(float));
}

TEST_F(NpyTest, RoundTripsEveryRankAndDtype) {
  std::mt19937 rng(1);
  for (DType dtype : {DType::f32, DType::i64, DType::u8, DType::i32, DType::i8, DType::bool8})
    for (size_t rank = 0; rank <= 4; ++rank) {
      Shape shape(rank);
      for (int64_t& d : shape) d = std::uniform_int_distribution<int64_t>(1, 5)(rng);
      if (rank == 2 && dtype == DType::f32) shape[1] = 0;  // empty arrays round-trip too
      Tensor t(dtype, shape);
      auto* bytes = static_cast<uint8_t*>(t.raw());
      for (size_t i = 0; i < t.bytes(); ++i) bytes[i] = static_cast<uint8_t>(rng());
      if (dtype == DType::bool8)
        for (size_t i = 0; i < t.bytes(); ++i) bytes[i] &= 1;
      const std::string name = std::string(dtype_name(dtype)) + "_" + std::to_string(rank) + ".npy";
      SCOPED_TRACE(name + " " + shape_str(shape));
      write_npy(path(name), t);
      expect_identical(read_npy(path(name)), t);
      // NumPy aligns the data to 64 bytes; the header length says where it starts.
      const std::string file = read_bytes<std::string>(name);
      const size_t header_len = static_cast<uint8_t>(file[8]) | static_cast<size_t>(static_cast<uint8_t>(file[9])) << 8;
      EXPECT_EQ((10 + header_len) % 64, 0u);
      EXPECT_EQ(file[10 + header_len - 1], '\n');
      EXPECT_EQ(file.size(), 10 + header_len + t.bytes());
    }
  EXPECT_FALSE(fs::exists(path("f32_0.npy.tmp")));
}

TEST_F(NpyTest, ReadsHeadersAsNumPyWritesThem) {
  const std::vector<float> v{1.f, -2.f, 3.5f, 0.f, 5.f, 6.25f};
  write_bytes("v1.npy", npy_v1("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }          \n", float_bytes(v)));
  expect_identical(read_npy(path("v1.npy")), f32s({2, 3}, v));

  // Version 2.0 has a four-byte header length.
  const std::string header = "{'descr': '<f4', 'fortran_order': False, 'shape': (6,), }\n";
  std::string v2("\x93NUMPY\x02\x00", 8);
  for (int i = 0; i < 4; ++i) v2 += static_cast<char>((header.size() >> (8 * i)) & 0xff);
  write_bytes("v2.npy", v2 + header + float_bytes(v));
  expect_identical(read_npy(path("v2.npy")), f32s({6}, v));

  // Fortran order (np.save of a transpose) is read as NumPy reads it: [[1, -2, 3.5], [0, 5, 6.25]]
  // stored column by column.
  write_bytes("fortran.npy", npy_v1("{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3), }\n",
                                    float_bytes({1.f, 0.f, -2.f, 5.f, 3.5f, 6.25f})));
  expect_identical(read_npy(path("fortran.npy")), f32s({2, 3}, v));
  std::vector<float> cube(24), cube_f(24);
  for (int i = 0; i < 24; ++i) cube[static_cast<size_t>(i)] = static_cast<float>(i);
  for (int a = 0; a < 2; ++a)
    for (int b = 0; b < 3; ++b)
      for (int c = 0; c < 4; ++c) cube_f[static_cast<size_t>(a + 2 * b + 6 * c)] = cube[static_cast<size_t>(a * 12 + b * 4 + c)];
  write_bytes("fortran3.npy", npy_v1("{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3, 4), }\n", float_bytes(cube_f)));
  expect_identical(read_npy(path("fortran3.npy")), f32s({2, 3, 4}, cube));

  write_bytes("scalar.npy", npy_v1("{'descr': '<i8', 'fortran_order': False, 'shape': (), }\n", std::string("\x2a\0\0\0\0\0\0\0", 8)));
  expect_identical(read_npy(path("scalar.npy")), i64_scalar(42));
}

TEST_F(NpyTest, ErrorsNameTheFile) {
  expect_error([&] { read_npy(path("missing.npy")); }, {path("missing.npy")});

  write_bytes("magic.npy", "PK\x03\x04 this is a zip archive, not an array");
  expect_error([&] { read_npy(path("magic.npy")); }, {path("magic.npy"), "not a .npy file"});

  write_bytes("short.npy", "\x93NU");
  expect_error([&] { read_npy(path("short.npy")); }, {path("short.npy")});

  write_npy(path("truncated.npy"), f32s({2, 3}, {1, 2, 3, 4, 5, 6}));
  const std::string whole = read_bytes<std::string>("truncated.npy");
  write_bytes("truncated.npy", whole.substr(0, whole.size() - 5));
  expect_error([&] { read_npy(path("truncated.npy")); }, {path("truncated.npy"), "[2,3]"});
  write_bytes("truncated_header.npy", whole.substr(0, 30));
  expect_error([&] { read_npy(path("truncated_header.npy")); }, {path("truncated_header.npy"), "truncated"});

  write_bytes("f8.npy", npy_v1("{'descr': '<f8', 'fortran_order': False, 'shape': (2,), }\n", std::string(16, '\0')));
  expect_error([&] { read_npy(path("f8.npy")); }, {path("f8.npy"), "'<f8'"});

  write_bytes("big_endian.npy", npy_v1("{'descr': '>f4', 'fortran_order': False, 'shape': (2,), }\n", std::string(8, '\0')));
  expect_error([&] { read_npy(path("big_endian.npy")); }, {path("big_endian.npy"), "'>f4'"});

  write_bytes("version.npy", std::string("\x93NUMPY\x09\x00\x10\x00", 10) + std::string(16, ' '));
  expect_error([&] { read_npy(path("version.npy")); }, {path("version.npy"), "version"});

  expect_error([&] { write_npy((dir_ / "no_such_dir" / "x.npy").string(), f32s({1}, {1.f})); }, {"no_such_dir/x.npy"});
}

}  // namespace
}  // namespace effvit
