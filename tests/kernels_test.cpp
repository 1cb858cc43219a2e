// effvit's micro-kernels, every ISA build this machine can run (not only the one the hardware
// object picked), against the reference loops of the ops they replace, on awkward lengths and
// unaligned starts.
#include <gtest/gtest.h>

#include <array>
#include <cmath>
#include <cstring>
#include <limits>
#include <random>

#include "cpu/hardware.h"
#include "kernels/bf16_scalar.h"
#include "kernels/kernels.h"
#include "ops/attention_head.h"
#include "ops/registry_decls.h"
#include "test_util.h"

namespace effvit {
namespace {

using namespace effvit::test;

std::vector<IsaTier> tables_to_test() {
  std::vector<IsaTier> tiers;
  for (IsaTier t : {IsaTier::sse41, IsaTier::avx2, IsaTier::avx512, IsaTier::avx512_bf16})
    if (cpu_supports(t)) tiers.push_back(t);
  return tiers;
}

TEST(KernelTables, EachTierHasItsOwnBuild) {
  EXPECT_STREQ(kernels_for(IsaTier::sse41).isa, "sse41");
  EXPECT_STREQ(kernels_for(IsaTier::avx2).isa, "avx2");
  EXPECT_STREQ(kernels_for(IsaTier::avx2_vnni).isa, "avx2");
  EXPECT_STREQ(kernels_for(IsaTier::avx512).isa, "avx512");
  EXPECT_STREQ(kernels_for(IsaTier::avx512_vnni).isa, "avx512");
  EXPECT_STREQ(kernels_for(IsaTier::avx512_bf16).isa, "avx512_bf16");
  EXPECT_STREQ(kernels_for(IsaTier::amx).isa, "avx512_bf16");
  EXPECT_STREQ(hardware().kernels->isa, kernels_for(hardware().info.tier).isa);
}

// A NaN logit (a broken model's, or inf - inf) makes its row NaN, as the reference's std::exp does,
// without the conversion to an integer the exponential's scaling would otherwise hit (undefined
// for a NaN: found by the onnx_model fuzzer, tests/fuzz_regressions/onnx_model/softmax_nan_logit.onnx).
TEST(KernelTables, SoftmaxNanRowsStayNan) {
  for (IsaTier tier : tables_to_test()) {
    const KernelTable& k = kernels_for(tier);
    const float nan = std::numeric_limits<float>::quiet_NaN(), inf = std::numeric_limits<float>::infinity();
    std::vector<float> x = {0.f, nan, 1.f, 2.f, /* row 2: */ inf, 1.f, inf, 0.f, /* row 3: */ 1.f, 2.f, 3.f, 4.f}, y(12);
    k.softmax_rows_f32(x.data(), nullptr, y.data(), 3, 4);
    for (int i = 0; i < 8; ++i) EXPECT_TRUE(std::isnan(y[i])) << k.isa << " " << i;
    float sum = 0.f;
    for (int i = 8; i < 12; ++i) sum += y[i];
    EXPECT_NEAR(sum, 1.f, 1e-6f) << k.isa;
  }
}

TEST(KernelTables, SoftmaxMatchesReference) {
  std::mt19937 rng(70);
  for (IsaTier tier : tables_to_test()) {
    const KernelTable& k = kernels_for(tier);
    for (int64_t len : {1, 7, 16, 49, 63, 1000}) {
      for (float scale : {1.f, 30.f, 200.f}) {
        // One extra float in front: rows that start off a vector boundary.
        const Tensor x = random_f32({3 * len + 1}, rng, -scale, scale);
        Tensor y(DType::f32, {3 * len + 1});
        k.softmax_rows_f32(x.data<float>() + 1, nullptr, y.data<float>() + 1, 3, len);
        Tensor rows = Tensor::view(DType::f32, {3, len}, const_cast<float*>(x.data<float>()) + 1);
        Tensor got = Tensor::view(DType::f32, {3, len}, y.data<float>() + 1);
        const Tensor want = run_op1("Softmax", {rt(rows.clone())}, {{"axis", int_attr(-1)}});
        expect_close(got.clone(), want, 1e-5, std::string(k.isa) + " len " + std::to_string(len));
        // With a bias, computed in place (y == x), as the attention kernel may.
        const Tensor bias = random_f32({3, len}, rng, -scale, scale);
        Tensor inplace = rows.clone();
        k.softmax_rows_f32(inplace.data<float>(), bias.data<float>(), inplace.data<float>(), 3, len);
        const Tensor want_biased = run_op1("Softmax", {rt(rows.clone()), rt(bias)}, {{"axis", int_attr(-1)}});
        expect_close(inplace, want_biased, 1e-5, std::string(k.isa) + " biased len " + std::to_string(len));
      }
    }
  }
}

TEST(KernelTables, ReluAndAddMatchReference) {
  std::mt19937 rng(71);
  for (IsaTier tier : tables_to_test()) {
    const KernelTable& k = kernels_for(tier);
    for (int64_t n : {1, 3, 15, 16, 17, 100, 4099}) {
      const Tensor a = random_f32({n + 1}, rng), b = random_f32({n + 1}, rng);
      Tensor relu(DType::f32, {n + 1}), sum(DType::f32, {n + 1});
      k.relu_f32(a.data<float>() + 1, relu.data<float>() + 1, static_cast<size_t>(n));
      k.add_f32(a.data<float>() + 1, b.data<float>() + 1, sum.data<float>() + 1, static_cast<size_t>(n));
      for (int64_t i = 1; i <= n; ++i) {
        ASSERT_EQ(relu.data<float>()[i], std::max(a.data<float>()[i], 0.f)) << k.isa << " n " << n;
        ASSERT_EQ(sum.data<float>()[i], a.data<float>()[i] + b.data<float>()[i]) << k.isa << " n " << n;
      }
    }
  }
}

// Row means (double sums, reassociated) within a float rounding of the serial double sum, and the
// per-row scale bit-equal to the element loop; large magnitudes of both signs make cancellation.
// The input check: finite extremes (the largest float, denormals, -0) pass; one NaN or infinity of
// either sign anywhere (block edges included) fails it.
TEST(KernelTables, AllFiniteFindsAnyNanOrInfinity) {
  for (IsaTier tier : tables_to_test()) {
    const KernelTable& k = kernels_for(tier);
    for (const size_t n : {size_t{0}, size_t{1}, size_t{15}, size_t{1023}, size_t{1024}, size_t{1025}, size_t{5000}}) {
      std::vector<float> x(n, 1.f);
      for (size_t i = 0; i < n; i += 3) x[i] = i % 2 ? std::numeric_limits<float>::max() : -std::numeric_limits<float>::denorm_min();
      if (n) x[n / 2] = -0.f;
      EXPECT_TRUE(k.all_finite_f32(x.data(), n)) << k.isa << " n " << n;
      for (const size_t at : {size_t{0}, n / 2, n > 1024 ? size_t{1024} : size_t{0}, n - 1})
        for (const float bad : {std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity(),
                                -std::numeric_limits<float>::infinity(), -std::numeric_limits<float>::quiet_NaN()}) {
          if (!n) continue;
          std::vector<float> y = x;
          y[at] = bad;
          EXPECT_FALSE(k.all_finite_f32(y.data(), n)) << k.isa << " n " << n << " at " << at << " " << bad;
        }
    }
  }
}

TEST(KernelTables, RowMeanAndScaleRowsMatchReference) {
  std::mt19937 rng(73);
  std::uniform_real_distribution<float> big(-1e6f, 1e6f);
  for (IsaTier tier : tables_to_test()) {
    const KernelTable& k = kernels_for(tier);
    for (int64_t len : {1, 3, 16, 49, 50, 196}) {
      const int64_t rows = 5;
      std::vector<float> x(static_cast<size_t>(rows * len)), scale(rows), mean(rows), scaled(x.size());
      for (auto& v : x) v = big(rng);
      for (auto& v : scale) v = big(rng);
      k.row_mean_f32(x.data(), mean.data(), rows, len);
      k.scale_rows_f32(x.data(), scale.data(), scaled.data(), rows, len);
      for (int64_t r = 0; r < rows; ++r) {
        double serial = 0.0;
        for (int64_t j = 0; j < len; ++j) serial += x[static_cast<size_t>(r * len + j)];
        const float want = static_cast<float>(serial / static_cast<double>(len));
        ASSERT_LE(std::fabs(mean[static_cast<size_t>(r)] - want), std::fabs(want) * 1.2e-7f) << k.isa << " len " << len;
        for (int64_t j = 0; j < len; ++j)
          ASSERT_EQ(scaled[static_cast<size_t>(r * len + j)], x[static_cast<size_t>(r * len + j)] * scale[static_cast<size_t>(r)]) << k.isa;
      }
    }
  }
}

// Register-tiled transposes against the element loop: sizes around the 4 and 8 tiles, leading
// dimensions past the copied width, and NaN payloads (bits move, nothing is computed).
TEST(KernelTables, TransposeMatchesReference) {
  std::mt19937 rng(72);
  for (IsaTier tier : tables_to_test()) {
    const KernelTable& k = kernels_for(tier);
    for (int trial = 0; trial < 200; ++trial) {
      const int64_t rows = 1 + rng() % 27, cols = 1 + rng() % 27;
      const int64_t src_ld = rows + rng() % 5, dst_ld = cols + rng() % 5;
      std::vector<uint32_t> src(static_cast<size_t>(cols * src_ld)), dst(static_cast<size_t>(rows * dst_ld), 0xdeadbeef);
      for (auto& v : src) v = static_cast<uint32_t>(rng());
      src[0] = 0x7fc01234u;  // a quiet NaN with a payload
      std::vector<uint32_t> want = dst;
      for (int64_t r = 0; r < rows; ++r)
        for (int64_t c = 0; c < cols; ++c) want[static_cast<size_t>(r * dst_ld + c)] = src[static_cast<size_t>(c * src_ld + r)];
      k.transpose_u32(src.data(), rows, cols, src_ld, dst.data(), dst_ld);
      ASSERT_EQ(dst, want) << k.isa << " rows " << rows << " cols " << cols << " lds " << src_ld << " " << dst_ld;
    }
  }
}

// A few-channel image's codes to NHWC: every channel count to 9 (the specialised 1-4 and the
// general loop), pixel counts around vector widths.
TEST(KernelTables, PlanesToPixelsMatchesReference) {
  std::mt19937 rng(57);
  for (IsaTier tier : tables_to_test()) {
    const KernelTable& k = kernels_for(tier);
    for (int64_t channels = 1; channels <= 9; ++channels)
      for (const int64_t pixels : {int64_t{1}, int64_t{15}, int64_t{64}, int64_t{65}, int64_t{1000}}) {
        std::vector<uint8_t> x(static_cast<size_t>(channels * pixels)), y(x.size(), 0), want(x.size());
        for (uint8_t& v : x) v = static_cast<uint8_t>(rng());
        for (int64_t p = 0; p < pixels; ++p)
          for (int64_t c = 0; c < channels; ++c) want[static_cast<size_t>(p * channels + c)] = x[static_cast<size_t>(c * pixels + p)];
        k.planes_to_pixels_u8(x.data(), channels, pixels, y.data());
        ASSERT_EQ(y, want) << k.isa << " channels " << channels << " pixels " << pixels;
      }
  }
}

// The float32 pointwise conv (tables from avx512 up) against sums in double: random shapes (odd block
// counts, pixel counts around its 8-row passes), with and without bias and ReLU, and the ReLU of a
// NaN pixel (+0, as relu_f32) beside the NaN it keeps without one.
TEST(KernelTables, PointwiseConvF32MatchesReference) {
  std::mt19937 rng(78);
  std::normal_distribution<float> normal;
  int tables = 0;
  for (IsaTier tier : tables_to_test()) {
    const KernelTable& k = kernels_for(tier);
    if (!k.pointwise_conv_f32) continue;
    ++tables;
    for (const auto& [in_c, out_c, pixels] : std::vector<std::array<int64_t, 3>>{
             {16, 16, 1}, {16, 48, 7}, {32, 32, 8}, {48, 80, 9}, {96, 64, 16}, {64, 144, 49}, {288, 96, 17}, {32, 32, 196}})
      for (const bool relu : {false, true})
        for (const bool with_bias : {false, true}) {
          const PointwiseConvDims d{in_c, out_c, pixels, relu, false};
          std::vector<float> w(static_cast<size_t>(out_c * in_c)), bias(static_cast<size_t>(out_c));
          std::vector<float> x(static_cast<size_t>(in_c * pixels)), y(static_cast<size_t>(out_c * pixels), -1234.f);
          for (float& v : w) v = normal(rng);
          for (float& v : bias) v = normal(rng);
          for (float& v : x) v = normal(rng);
          if (pixels > 2) x[(0 * pixels + 2) * 16 + 3] = std::numeric_limits<float>::quiet_NaN();  // pixel 2, channel 3
          std::vector<float> packed(w.size());
          pack_pointwise_f32_weight(d, w.data(), packed.data());
          k.pointwise_conv_f32(d, x.data(), packed.data(), with_bias ? bias.data() : nullptr, y.data(), 0, pointwise_bf16_pairs(d));
          for (int64_t oc = 0; oc < out_c; ++oc)
            for (int64_t p = 0; p < pixels; ++p) {
              double want = with_bias ? bias[oc] : 0.0, magnitude = std::fabs(want);
              for (int64_t ic = 0; ic < in_c; ++ic) {
                const double product = static_cast<double>(w[oc * in_c + ic]) * x[((ic / 16) * pixels + p) * 16 + ic % 16];
                want += product;
                magnitude += std::fabs(product);
              }
              const float got = y[((oc / 16) * pixels + p) * 16 + oc % 16];
              if (std::isnan(want)) {
                if (relu) ASSERT_EQ(got, 0.f) << k.isa << " oc " << oc;
                else ASSERT_TRUE(std::isnan(got)) << k.isa << " oc " << oc;
                continue;
              }
              if (relu && want < 0) want = 0;
              ASSERT_NEAR(got, want, 1e-5 * magnitude + 1e-6)
                  << k.isa << " " << in_c << "->" << out_c << " x " << pixels << " relu " << relu << " oc " << oc << " pixel " << p;
            }
        }
  }
  if (tables == 0) GTEST_SKIP() << "no table with the float32 pointwise conv runs on this CPU";
}

// The bf16 pointwise conv (tables from avx512_bf16 up) against sums in double of the same bf16
// operands: random shapes (odd block counts, pixel counts around its 8-row passes), then exact
// cases: the output's rounding ties (to even, both ways), a sum past bf16's range (infinity), a NaN
// pixel, and the ReLU of negatives, -0 and NaN (+0, as relu_f32). (Denormals flush to zero in and
// out, as AVX512_BF16's instructions do: not compared.)
TEST(KernelTables, PointwiseConvBf16MatchesReference) {
  std::mt19937 rng(74);
  std::normal_distribution<float> normal;
  int tables = 0;
  for (IsaTier tier : tables_to_test()) {
    const KernelTable& k = kernels_for(tier);
    if (!k.pointwise_conv_bf16) continue;
    ++tables;
    for (const auto& [in_c, out_c, pixels] : std::vector<std::array<int64_t, 3>>{
             {16, 16, 1}, {16, 48, 7}, {32, 32, 8}, {48, 80, 9}, {96, 64, 16}, {64, 144, 49}, {288, 96, 17}, {32, 32, 196}}) {
      for (const bool relu : {false, true})
        for (const bool plain_out : {false, true}) {
          const PointwiseConvDims d{in_c, out_c, pixels, relu, plain_out};
          std::vector<float> w(static_cast<size_t>(out_c * in_c)), bias(static_cast<size_t>(out_c));
          std::vector<uint16_t> x(static_cast<size_t>(in_c * pixels)), y(static_cast<size_t>(out_c * pixels), 0x1234);
          std::vector<float> y_plain(static_cast<size_t>(out_c * pixels), -1234.f);
          for (float& v : w) v = bf16_to_f32(f32_to_bf16(normal(rng)));
          for (float& v : bias) v = normal(rng);
          for (uint16_t& v : x) v = f32_to_bf16(normal(rng));
          std::vector<uint16_t> packed(pointwise_bf16_weight_elems(d));
          pack_pointwise_bf16_weight(d, w.data(), packed.data());
          k.pointwise_conv_bf16(d, x.data(), packed.data(), bias.data(), plain_out ? static_cast<void*>(y_plain.data()) : y.data(), 0,
                                pointwise_bf16_pairs(d));
          for (int64_t oc = 0; oc < out_c; ++oc)
            for (int64_t p = 0; p < pixels; ++p) {
              double want = bias[oc], magnitude = std::fabs(bias[oc]);
              for (int64_t ic = 0; ic < in_c; ++ic) {
                const double product = static_cast<double>(w[oc * in_c + ic]) * bf16_to_f32(x[((ic / 16) * pixels + p) * 16 + ic % 16]);
                want += product;
                magnitude += std::fabs(product);
              }
              if (relu && want < 0) want = 0;
              // A bf16 output is rounded once more (half a step: 1/256 relative); a float32 one not.
              const float got = plain_out ? y_plain[oc * pixels + p] : bf16_to_f32(y[((oc / 16) * pixels + p) * 16 + oc % 16]);
              ASSERT_NEAR(got, want, (plain_out ? 0 : std::fabs(want) / 256) + 1e-5 * magnitude)
                  << k.isa << " " << in_c << "->" << out_c << " x " << pixels << " relu " << relu << " plain out " << plain_out << " oc " << oc
                  << " pixel " << p;
            }
        }
    }
    // Exact cases: 16 -> 32 channels over 3 pixels; pixel 0 reads 1 on channel 0 only, pixel 1 reads
    // zeros, pixel 2 a NaN on channel 3.
    const PointwiseConvDims d{16, 32, 3, false, false};
    std::vector<uint16_t> x(16 * 3, 0);
    x[0 * 16 + 0] = f32_to_bf16(1.f);
    x[2 * 16 + 3] = 0x7fc0;
    std::vector<float> w(32 * 16, 0.f), bias(32, 0.f);
    const float tie = 0.00390625f;  // 2^-8: half a bf16 step at 1
    w[0 * 16] = 1.f, bias[0] = tie;                                       // 1 + 2^-8: to 1 (even)
    w[1 * 16] = 1.0078125f, bias[1] = tie;                                // 1 + 3 * 2^-8: up to 1 + 2^-6 (even)
    w[2 * 16] = -2.f, bias[2] = 0.5f;                                     // -1.5: the ReLU gives +0
    w[3 * 16] = 0.f, bias[3] = -0.f;                                      // -0 + 0 = +0
    w[4 * 16] = 1.f, bias[4] = std::numeric_limits<float>::max();         // rounds past bf16's largest: +inf
    w[5 * 16] = 1.f, bias[5] = -3.f;                                      // -2: ReLU +0
    std::vector<uint16_t> packed(pointwise_bf16_weight_elems(d));
    pack_pointwise_bf16_weight(d, w.data(), packed.data());
    for (const bool relu : {false, true}) {
      const PointwiseConvDims dr{16, 32, 3, relu, false};
      std::vector<uint16_t> y(32 * 3, 0x1234);
      k.pointwise_conv_bf16(dr, x.data(), packed.data(), bias.data(), y.data(), 0, pointwise_bf16_pairs(dr));
      auto at = [&](int64_t oc, int64_t p) { return y[((oc / 16) * 3 + p) * 16 + oc % 16]; };
      EXPECT_EQ(at(0, 0), f32_to_bf16(1.f)) << k.isa;
      EXPECT_EQ(at(1, 0), f32_to_bf16(1.015625f)) << k.isa;
      EXPECT_EQ(at(2, 0), relu ? 0 : f32_to_bf16(-1.5f)) << k.isa;
      EXPECT_EQ(at(3, 0), 0) << k.isa;
      EXPECT_EQ(at(4, 0), 0x7f80) << k.isa;
      EXPECT_EQ(at(5, 0), relu ? 0 : f32_to_bf16(-2.f)) << k.isa;
      EXPECT_EQ(at(0, 1), f32_to_bf16(tie)) << k.isa;  // zeros in: the bias alone
      for (int64_t oc = 0; oc < 32; ++oc) {
        const uint16_t nan_pixel = at(oc, 2);
        if (relu) EXPECT_EQ(nan_pixel, 0) << k.isa << " oc " << oc;
        else EXPECT_GT(nan_pixel & 0x7fff, 0x7f80) << k.isa << " oc " << oc;
      }
    }
  }
  if (tables == 0) GTEST_SKIP() << "no table with the bf16 pointwise conv runs on this CPU";
}

// The 8-bit pointwise conv (tables from avx512_bf16 up) against integer sums: random shapes (odd
// block counts, pixel counts around its 8-row passes), codes over their whole range (255 x -128
// products, which vpdpbusd must sum without saturating), every output kind with and without ReLU,
// scales that put outputs on exact rounding ties (to even) and far past the 8-bit and int32 ranges;
// 8-bit codes also through a random table, and summed with a random residual.
TEST(KernelTables, PointwiseConv8bitMatchesReference) {
  std::mt19937 rng(91);
  int tables = 0;
  for (IsaTier tier : tables_to_test()) {
    const KernelTable& k = kernels_for(tier);
    if (!k.pointwise_conv_8bit) continue;
    ++tables;
    for (const auto& [in_c, out_c, pixels] : std::vector<std::array<int64_t, 3>>{
             {4, 16, 1}, {12, 48, 7}, {32, 32, 8}, {64, 80, 9}, {96, 64, 16}, {64, 144, 49}, {288, 96, 17}, {32, 32, 196}})
      for (const Pointwise8bitOutput output :
           {Pointwise8bitOutput::u8, Pointwise8bitOutput::s8, Pointwise8bitOutput::f32_nhwc, Pointwise8bitOutput::f32_plain})
        for (const bool relu : {false, true})
          for (const int scaling : {0, 1, 2}) {  // 0: ordinary, 1: half-integer ties, 2: far out of range
            const bool eight_bit = output == Pointwise8bitOutput::u8 || output == Pointwise8bitOutput::s8;
            const float y_zero = output == Pointwise8bitOutput::u8 ? static_cast<float>(rng() % 256) : 0.f;
            const Pointwise8bitDims d{in_c, out_c, pixels, output, relu, y_zero, nullptr, nullptr, {}};
            std::vector<uint8_t> x(static_cast<size_t>(pixels * in_c));
            std::vector<int8_t> w(static_cast<size_t>(out_c * in_c));
            std::vector<int32_t> offset(static_cast<size_t>(out_c));
            std::vector<float> scale(static_cast<size_t>(out_c));
            for (uint8_t& v : x) v = rng() % 4 == 0 ? 255 : static_cast<uint8_t>(rng());
            for (int8_t& v : w) v = rng() % 4 == 0 ? int8_t{-128} : static_cast<int8_t>(rng());
            for (int32_t& v : offset) v = static_cast<int32_t>(rng() % 200001) - 100000;
            for (float& v : scale) v = scaling == 1 ? 0.5f : scaling == 2 ? 3e5f : std::ldexp(1.f + (rng() % 1000) / 1000.f, -13);
            std::vector<int8_t> packed(w.size());
            pack_pointwise_8bit_weight(d, w.data(), packed.data());
            std::vector<uint8_t> y8(static_cast<size_t>(pixels * out_c), 77);
            std::vector<float> yf(static_cast<size_t>(pixels * out_c), -1234.f);
            void* y = eight_bit ? static_cast<void*>(y8.data()) : static_cast<void*>(yf.data());
            k.pointwise_conv_8bit(d, x.data(), packed.data(), offset.data(), scale.data(), y, 0, pointwise_8bit_pairs(d));
            // The same codes through a table (a folded effvit.Requantize).
            std::vector<uint8_t> table(256), y_table(y8.size(), 77);
            for (uint8_t& v : table) v = static_cast<uint8_t>(rng());
            Pointwise8bitDims with_table = d;
            with_table.table = table.data();
            if (eight_bit)
              k.pointwise_conv_8bit(with_table, x.data(), packed.data(), offset.data(), scale.data(), y_table.data(), 0, pointwise_8bit_pairs(d));
            // And summed with a residual (a folded effvit.QuantizedAdd): the add kernel's bytes on the
            // codes above. Scales with ties (halves), signed and unsigned residuals and sums.
            std::vector<uint8_t> residual(y8.size()), y_sum(y8.size(), 77), want_sum(y8.size());
            for (uint8_t& v : residual) v = static_cast<uint8_t>(rng());
            const bool residual_signed = rng() % 2, sum_signed = rng() % 2;
            Pointwise8bitDims with_residual = d;
            with_residual.residual = residual.data();
            with_residual.add = AddRequantizeParams{scaling == 1 ? 0.5f : 0.031f, output == Pointwise8bitOutput::u8 ? y_zero : 0.f,
                                                    scaling == 1 ? 0.25f : 0.017f, residual_signed ? -3.f : 130.f,
                                                    scaling == 1 ? 0.5f : 0.043f, sum_signed ? 2.f : 121.f,
                                                    output == Pointwise8bitOutput::s8, residual_signed, sum_signed};
            if (eight_bit) {
              k.pointwise_conv_8bit(with_residual, x.data(), packed.data(), offset.data(), scale.data(), y_sum.data(), 0, pointwise_8bit_pairs(d));
              k.add_requantize_8bit(y8.data(), residual.data(), want_sum.data(), y8.size(), with_residual.add);
              ASSERT_EQ(y_sum, want_sum) << k.isa << " residual, " << in_c << "->" << out_c << " x " << pixels << " scaling " << scaling;
            }
            for (int64_t oc = 0; oc < out_c; ++oc)
              for (int64_t p = 0; p < pixels; ++p) {
                int64_t sum = offset[static_cast<size_t>(oc)];
                for (int64_t ic = 0; ic < in_c; ++ic)
                  sum += int64_t{x[static_cast<size_t>(p * in_c + ic)]} * w[static_cast<size_t>(oc * in_c + ic)];
                const float real = static_cast<float>(sum);
                const std::string where = std::string(k.isa) + " " + std::to_string(in_c) + "->" + std::to_string(out_c) + " x " +
                                          std::to_string(pixels) + " output " + std::to_string(static_cast<int>(output)) + " relu " +
                                          std::to_string(relu) + " scaling " + std::to_string(scaling) + " oc " + std::to_string(oc) +
                                          " pixel " + std::to_string(p);
                if (eight_bit) {
                  const bool is_signed = output == Pointwise8bitOutput::s8;
                  const float lowest = is_signed ? -128.f : 0.f, highest = is_signed ? 127.f : 255.f;
                  const float lo = relu ? std::max(lowest, y_zero) : lowest;
                  const float want = std::min(std::max(std::nearbyint(std::fma(real, scale[static_cast<size_t>(oc)], y_zero)), lo), highest);
                  const size_t at = static_cast<size_t>(p * out_c + oc);
                  const float got = is_signed ? static_cast<float>(static_cast<int8_t>(y8[at])) : static_cast<float>(y8[at]);
                  ASSERT_EQ(got, want) << where;
                  ASSERT_EQ(y_table[at], table[y8[at]]) << where << " (table)";
                } else {
                  float want = real * scale[static_cast<size_t>(oc)];
                  if (relu) want = std::max(want, 0.f);
                  const size_t at = static_cast<size_t>(output == Pointwise8bitOutput::f32_nhwc ? p * out_c + oc : oc * pixels + p);
                  ASSERT_EQ(yf[at], want) << where;
                }
              }
          }
  }
  if (tables == 0) GTEST_SKIP() << "no table with the 8-bit pointwise conv runs on this CPU";
}

// The plain float32 -> blocked bf16 conversion the pointwise conv reads a plain producer through:
// every element rounded as f32_to_bf16 rounds it (ties to even, FLT_MAX to infinity, NaN quiet, -0
// kept), in the blocked order.
TEST(KernelTables, PlainToBlockedBf16MatchesReference) {
  std::mt19937 rng(75);
  std::normal_distribution<float> normal;
  int tables = 0;
  for (IsaTier tier : tables_to_test()) {
    const KernelTable& k = kernels_for(tier);
    if (!k.plain_f32_to_blocked_bf16) continue;
    ++tables;
    for (const auto& [channels, pixels] : std::vector<std::array<int64_t, 2>>{{16, 1}, {32, 7}, {16, 8}, {48, 49}, {16, 256}}) {
      std::vector<float> x(static_cast<size_t>(channels * pixels));
      for (float& v : x) v = normal(rng) * 100.f;
      const float specials[] = {1.00390625f, 1.01171875f, std::numeric_limits<float>::max(), -0.f, std::numeric_limits<float>::quiet_NaN(),
                                -std::numeric_limits<float>::infinity()};
      for (size_t i = 0; i < std::size(specials) && i < x.size(); ++i) x[i * 3 % x.size()] = specials[i];
      std::vector<uint16_t> y(x.size(), 0x1234);
      k.plain_f32_to_blocked_bf16(x.data(), channels, pixels, y.data());
      for (int64_t c = 0; c < channels; ++c)
        for (int64_t p = 0; p < pixels; ++p)
          ASSERT_EQ(y[static_cast<size_t>(((c / 16) * pixels + p) * 16 + c % 16)], f32_to_bf16(x[static_cast<size_t>(c * pixels + p)]))
              << k.isa << " " << channels << " x " << pixels << " channel " << c << " pixel " << p;
    }
  }
  if (tables == 0) GTEST_SKIP() << "no table with the bf16 pointwise conv runs on this CPU";
}

// The inverse (a bf16 plan's effvit.ToPlain): every bf16 bit pattern widens exactly, NaN payloads,
// infinities, -0 and denormals included, to its plain position; tiles of 8 pixels and the tail.
TEST(KernelTables, BlockedBf16ToPlainIsExact) {
  std::mt19937 rng(76);
  int tables = 0;
  for (IsaTier tier : tables_to_test()) {
    const KernelTable& k = kernels_for(tier);
    if (!k.blocked_bf16_to_plain_f32) continue;
    ++tables;
    for (const auto& [channels, pixels] : std::vector<std::array<int64_t, 2>>{{16, 1}, {32, 7}, {16, 8}, {48, 49}, {32, 196}}) {
      std::vector<uint16_t> x(static_cast<size_t>(channels * pixels));
      for (uint16_t& v : x) v = static_cast<uint16_t>(rng());
      const uint16_t specials[] = {0x7fc1, 0xff80, 0x8000, 0x0001, 0x7f7f};
      for (size_t i = 0; i < std::size(specials) && i < x.size(); ++i) x[i * 5 % x.size()] = specials[i];
      std::vector<float> y(x.size(), 7.f);
      k.blocked_bf16_to_plain_f32(x.data(), channels, pixels, y.data());
      for (int64_t c = 0; c < channels; ++c)
        for (int64_t p = 0; p < pixels; ++p) {
          uint32_t got;
          std::memcpy(&got, &y[static_cast<size_t>(c * pixels + p)], sizeof got);
          ASSERT_EQ(got, uint32_t{x[static_cast<size_t>(((c / 16) * pixels + p) * 16 + c % 16)]} << 16)
              << k.isa << " " << channels << " x " << pixels << " channel " << c << " pixel " << p;
        }
    }
  }
  if (tables == 0) GTEST_SKIP() << "no table with the bf16 conversions runs on this CPU";
}

// The bf16 Add and Relu (bf16 plans) against the Add and Relu reference ops on bf16 tensors, and
// the rounding worked out by hand: a sum exactly halfway between two bf16 values goes to the even
// one, up or down; NaN stays NaN; a negative Relu is +0.
TEST(KernelTables, Bf16ReluAndAddMatchReference) {
  std::mt19937 rng(73);
  auto bits = [](float f) {
    uint32_t u;
    std::memcpy(&u, &f, sizeof u);
    return static_cast<uint16_t>(u >> 16);  // exact for the values below (their low 16 bits are 0)
  };
  for (IsaTier tier : tables_to_test()) {
    const KernelTable& k = kernels_for(tier);
    for (int64_t n : {1, 5, 15, 16, 17, 100, 4099}) {
      Tensor a(DType::bf16, {n + 1}), b(DType::bf16, {n + 1});
      std::uniform_int_distribution<int> any_finite(0, 0x7f7f);
      for (int64_t i = 0; i <= n; ++i) {
        // Random bf16 values of moderate size, either sign.
        a.data<BFloat16>()[i].bits = static_cast<uint16_t>((any_finite(rng) & 0x3fff) | 0x3000 | (rng() & 0x8000));
        b.data<BFloat16>()[i].bits = static_cast<uint16_t>((any_finite(rng) & 0x3fff) | 0x3000 | (rng() & 0x8000));
      }
      // 1 + 2^-8 lies halfway between bf16's 1 and 1 + 2^-7: it rounds to 1 (even); 1 + 3 * 2^-8
      // lies halfway between 1 + 2^-7 and 1 + 2^-6: it rounds up to 1 + 2^-6 (even).
      a.data<BFloat16>()[1].bits = bits(1.f);
      b.data<BFloat16>()[1].bits = bits(0.00390625f);
      if (n > 1) {
        a.data<BFloat16>()[2].bits = bits(1.0078125f);
        b.data<BFloat16>()[2].bits = bits(0.00390625f);
      }
      if (n > 2) a.data<BFloat16>()[3].bits = 0x7fc0;  // NaN
      if (n > 3) a.data<BFloat16>()[4].bits = 0xffc0;  // -NaN
      if (n > 4) a.data<BFloat16>()[5].bits = 0x8000;  // -0
      Tensor relu(DType::bf16, {n + 1}), sum(DType::bf16, {n + 1});
      const auto* a16 = reinterpret_cast<const uint16_t*>(a.data<BFloat16>()) + 1;
      const auto* b16 = reinterpret_cast<const uint16_t*>(b.data<BFloat16>()) + 1;
      k.relu_bf16(a16, reinterpret_cast<uint16_t*>(relu.data<BFloat16>()) + 1, static_cast<size_t>(n));
      k.add_bf16(a16, b16, reinterpret_cast<uint16_t*>(sum.data<BFloat16>()) + 1, static_cast<size_t>(n));
      Tensor av(DType::bf16, {n}), bv(DType::bf16, {n});
      std::memcpy(av.raw(), a16, av.bytes());
      std::memcpy(bv.raw(), b16, bv.bytes());
      const Tensor want_sum = run_op1("Add", {rt(av), rt(bv)});
      const Tensor want_relu = run_op1("Relu", {rt(av)});
      for (int64_t i = 0; i < n; ++i) {
        const uint16_t got_sum = sum.data<BFloat16>()[i + 1].bits, got_relu = relu.data<BFloat16>()[i + 1].bits;
        ASSERT_EQ(got_relu, want_relu.data<BFloat16>()[i].bits) << k.isa << " n " << n << " at " << i;
        if (i == 2 || i == 3) {  // NaN + anything: any NaN will do
          EXPECT_EQ(got_sum & 0x7f80, 0x7f80) << k.isa;
          EXPECT_NE(got_sum & 0x7f, 0) << k.isa;
          continue;
        }
        ASSERT_EQ(got_sum, want_sum.data<BFloat16>()[i].bits) << k.isa << " n " << n << " at " << i;
      }
      EXPECT_EQ(sum.data<BFloat16>()[1].bits, bits(1.f)) << k.isa << ": a tie rounds down to even";
      if (n > 1) {
        EXPECT_EQ(sum.data<BFloat16>()[2].bits, bits(1.015625f)) << k.isa << ": a tie rounds up to even";
      }
      // As relu_f32: a negative, -0 and NaN of either sign give +0 (worked out by hand, not only
      // through the reference op).
      for (int64_t i = 1; i <= n; ++i) {
        const uint16_t x = a.data<BFloat16>()[i].bits;
        if ((x & 0x8000) || (x & 0x7fff) > 0x7f80) {
          ASSERT_EQ(relu.data<BFloat16>()[i].bits, 0) << k.isa << ": relu of " << std::hex << x << " is +0";
        }
      }
      if (n > 4) {
        EXPECT_EQ(relu.data<BFloat16>()[3].bits, 0) << k.isa << ": relu(NaN)";
        EXPECT_EQ(relu.data<BFloat16>()[4].bits, 0) << k.isa << ": relu(-NaN)";
        EXPECT_EQ(relu.data<BFloat16>()[5].bits, 0) << k.isa << ": relu(-0)";
      }
    }
  }
}

// Bit-identical to the QuantizeLinear reference op: ties to even, saturation, NaN, both types.
TEST(KernelTables, QuantizeMatchesReference) {
  std::mt19937 rng(72);
  for (IsaTier tier : tables_to_test()) {
    const KernelTable& k = kernels_for(tier);
    for (int64_t n : {1, 7, 16, 33, 1000}) {
      Tensor x = random_f32({n + 1}, rng, -40.f, 40.f);
      float* xs = x.data<float>();
      // Exact ties (x / 0.25 = k + 0.5, k odd and even) and out-of-range values among the random ones.
      for (int64_t i = 1; i <= n; i += 5) xs[i] = 0.25f * static_cast<float>(static_cast<int>(xs[i])) + 0.125f;
      xs[1] = 0.125f;  // 0.5 -> 0: half to even, where half away from zero gives 1
      if (n > 1) xs[2] = 0.375f;  // 1.5 -> 2
      if (n > 3) xs[3] = std::numeric_limits<float>::quiet_NaN();
      if (n > 4) xs[4] = -0.625f;  // -2.5 -> -2
      const Tensor scale = f32s({}, {0.25f});
      for (bool to_signed : {false, true}) {
        const Tensor xv = f32s({n}, std::vector<float>(xs + 1, xs + 1 + n));
        const Tensor zp = to_signed ? Tensor::from_vector<int8_t>({}, {-3}) : Tensor::from_vector<uint8_t>({}, {7});
        const Tensor want = run_op1("QuantizeLinear", {rt(xv), rt(scale), rt(zp)});
        Tensor got(to_signed ? DType::i8 : DType::u8, {n + 1});
        if (to_signed) k.quantize_f32_s8(xs + 1, got.data<int8_t>() + 1, static_cast<size_t>(n), 0.25f, -3.f);
        else k.quantize_f32_u8(xs + 1, got.data<uint8_t>() + 1, static_cast<size_t>(n), 0.25f, 7.f);
        ASSERT_EQ(std::memcmp(static_cast<const char*>(got.raw()) + 1, want.raw(), static_cast<size_t>(n)), 0)
            << k.isa << " n " << n << (to_signed ? " int8" : " uint8");
        // The ties themselves, worked out by hand (the reference op could be wrong the same way).
        auto at = [&](int64_t i) { return to_signed ? int{got.data<int8_t>()[i]} + 3 : int{got.data<uint8_t>()[i]} - 7; };
        EXPECT_EQ(at(1), 0) << k.isa;
        if (n > 1) {
          EXPECT_EQ(at(2), 2) << k.isa;
        }
        if (n > 4) {
          EXPECT_EQ(at(4), -2) << k.isa;
        }
      }
    }
  }
}

// A 16-bit QuantizeLinear -> DequantizeLinear pair on one float kernel: bit-equal to the two
// reference ops, with exact ties (half to even), NaN, and values past both ends of the code range.
TEST(KernelTables, QuantizeDequantizeMatchesTheTwoOps) {
  std::mt19937 rng(77);
  for (IsaTier tier : tables_to_test()) {
    const KernelTable& k = kernels_for(tier);
    for (const bool is_signed : {false, true})
      for (int64_t n : {1, 9, 16, 1000}) {
        Tensor x = random_f32({n}, rng, -8.f, 8.f);
        float* xs = x.data<float>();
        const float scale = 1.f / 1024.f;  // a power of two: k + 0.5 steps are exact ties
        xs[0] = 0.5f * scale;  // 0.5 steps -> 0
        // Exact ties, k + 0.5 steps for odd and even k of either sign (half to even goes both ways).
        for (int64_t i = 1; i < n; i += 3) xs[i] = scale * (static_cast<float>(static_cast<int>(xs[i] * 1000.f)) + 0.5f);
        if (n > 4) xs[4] = std::numeric_limits<float>::quiet_NaN();
        if (n > 5) xs[5] = 1e6f;   // past the top of the range
        if (n > 6) xs[6] = -1e6f;  // and the bottom
        const Tensor sq = f32s({}, {scale}), sd = f32s({}, {scale * 1.5f});
        const Tensor zq = is_signed ? Tensor::from_vector<int16_t>({}, {-1234}) : Tensor::from_vector<uint16_t>({}, {30000});
        const Tensor zd = is_signed ? Tensor::from_vector<int16_t>({}, {17}) : Tensor::from_vector<uint16_t>({}, {29000});
        const Tensor codes = run_op1("QuantizeLinear", {rt(x), rt(sq), rt(zq)});
        const Tensor want = run_op1("DequantizeLinear", {rt(codes), rt(sd), rt(zd)});
        QuantizeDequantizeParams p{scale, is_signed ? -1234.f : 30000.f, is_signed ? -32768.f : 0.f, is_signed ? 32767.f : 65535.f,
                                   scale * 1.5f, is_signed ? 17.f : 29000.f};
        std::vector<float> got(static_cast<size_t>(n));
        k.quantize_dequantize_f32(xs, got.data(), static_cast<size_t>(n), p);
        ASSERT_EQ(std::memcmp(got.data(), want.raw(), static_cast<size_t>(n) * sizeof(float)), 0) << k.isa << " n " << n << (is_signed ? " int16" : " uint16");
      }
  }
}

// effvit.QuantizedAdd's kernel: every pair of codes, for each mix of uint8 and int8 operands and
// output, bit-equal to DequantizeLinear twice, Add and QuantizeLinear. Halves as scales make exact
// ties (half to even both ways); a tiny output scale saturates at both ends; the last set has no
// special values at all.
TEST(KernelTables, AddRequantizeMatchesTheFourOps) {
  struct Scales {
    float a, b, y;
  };
  const Scales sets[] = {{0.5f, 0.5f, 1.f}, {0.0137f, 0.0291f, 0.0002f}, {0.0213f, 0.0171f, 0.0383f}};
  for (int signs = 0; signs < 8; ++signs) {
    const bool a_signed = signs & 1, b_signed = signs & 2, y_signed = signs & 4;
    Tensor a(a_signed ? DType::i8 : DType::u8, {256 * 256}), b(b_signed ? DType::i8 : DType::u8, {256 * 256});
    for (int i = 0; i < 256 * 256; ++i) {
      static_cast<uint8_t*>(a.raw())[i] = static_cast<uint8_t>(i >> 8);
      static_cast<uint8_t*>(b.raw())[i] = static_cast<uint8_t>(i & 255);
    }
    // Zero points inside each type's range, away from its middle.
    auto zero = [](bool is_signed, int u8_value) {
      return is_signed ? Tensor::from_vector<int8_t>({}, {static_cast<int8_t>(u8_value - 128)})
                       : Tensor::from_vector<uint8_t>({}, {static_cast<uint8_t>(u8_value)});
    };
    const Tensor za = zero(a_signed, 131), zb = zero(b_signed, 3), zy = zero(y_signed, 120);
    for (const Scales& sc : sets) {
      const Tensor want = run_op1("effvit.QuantizedAdd", {rt(a), rt(f32s({}, {sc.a})), rt(za), rt(b), rt(f32s({}, {sc.b})), rt(zb),
                                                          rt(f32s({}, {sc.y})), rt(zy)});
      const AddRequantizeParams p{sc.a, a_signed ? 3.f : 131.f, sc.b, b_signed ? -125.f : 3.f, sc.y, y_signed ? -8.f : 120.f,
                                  a_signed, b_signed, y_signed};
      for (IsaTier tier : tables_to_test()) {
        const KernelTable& k = kernels_for(tier);
        for (size_t n : {size_t{256 * 256}, size_t{77}}) {  // whole vectors, and a tail
          std::vector<uint8_t> got(n);
          k.add_requantize_8bit(a.raw(), b.raw(), got.data(), n, p);
          ASSERT_EQ(std::memcmp(got.data(), want.raw(), n), 0)
              << k.isa << " signs " << signs << " scales " << sc.a << " " << sc.b << " " << sc.y;
        }
      }
    }
  }
}

// DequantizeLinear's vector kernel: every uint8 / int8 value, bit-equal to the reference op.
TEST(KernelTables, DequantizeMatchesReference) {
  for (IsaTier tier : tables_to_test()) {
    const KernelTable& k = kernels_for(tier);
    for (float scale : {0.25f, 0.0137f, 3.1e-5f}) {
      Tensor u8(DType::u8, {256}), s8(DType::i8, {256});
      for (int i = 0; i < 256; ++i) {
        u8.data<uint8_t>()[i] = static_cast<uint8_t>(i);
        s8.data<int8_t>()[i] = static_cast<int8_t>(i - 128);
      }
      const Tensor sv = f32s({}, {scale});
      const Tensor want_u8 = run_op1("DequantizeLinear", {rt(u8), rt(sv), rt(Tensor::from_vector<uint8_t>({}, {131}))});
      const Tensor want_s8 = run_op1("DequantizeLinear", {rt(s8), rt(sv), rt(Tensor::from_vector<int8_t>({}, {-5}))});
      Tensor got_u8(DType::f32, {256}), got_s8(DType::f32, {256});
      k.dequantize_u8_f32(u8.data<uint8_t>(), got_u8.data<float>(), 256, scale, 131.f);
      k.dequantize_s8_f32(s8.data<int8_t>(), got_s8.data<float>(), 256, scale, -5.f);
      expect_identical(got_u8, want_u8, std::string(k.isa) + " uint8");
      expect_identical(got_s8, want_s8, std::string(k.isa) + " int8");
    }
  }
}

// The byte lookup behind effvit.Requantize: every byte value through random tables, at lengths
// around each tier's vector width and from unaligned starts, against table[x].
TEST(KernelTables, LookupMatchesReference) {
  std::mt19937 rng(74);
  for (IsaTier tier : tables_to_test()) {
    const KernelTable& k = kernels_for(tier);
    for (int trial = 0; trial < 20; ++trial) {
      uint8_t table[256];
      for (auto& v : table) v = static_cast<uint8_t>(rng());
      for (size_t n : {size_t{0}, size_t{1}, size_t{15}, size_t{16}, size_t{33}, size_t{64}, size_t{127}, size_t{256}, size_t{1000}}) {
        std::vector<uint8_t> x(n + 3), y(n + 3, 0xa5);
        for (size_t i = 0; i < x.size(); ++i) x[i] = static_cast<uint8_t>(trial == 0 ? i : rng());
        k.lookup_u8(x.data() + 3, table, y.data() + 3, n);
        for (size_t i = 0; i < n; ++i) ASSERT_EQ(y[i + 3], table[x[i + 3]]) << k.isa << " n " << n << " i " << i;
        ASSERT_EQ(y[2], 0xa5) << "wrote before the start";
        // The VBMI build where this CPU can run it; it must not write past the end either.
        if (!k.lookup_u8_vbmi || !__builtin_cpu_supports("avx512vbmi")) continue;
        std::vector<uint8_t> z(n + 4, 0xa5);
        k.lookup_u8_vbmi(x.data() + 3, table, z.data() + 3, n);
        for (size_t i = 0; i < n; ++i) ASSERT_EQ(z[i + 3], table[x[i + 3]]) << k.isa << " vbmi n " << n << " i " << i;
        ASSERT_EQ(z[2], 0xa5) << "vbmi wrote before the start";
        ASSERT_EQ(z[n + 3], 0xa5) << "vbmi wrote past the end";
      }
    }
  }
}

TEST(Hardware, TierIsSupportedAndDerivesTheChannelBlock) {
  const HardwareInfo& hw = hardware_info();
  ASSERT_FALSE(hw.supported.empty());
  EXPECT_EQ(hw.supported.front(), IsaTier::sse41);
  EXPECT_EQ(hw.supported.back(), hw.native);
  EXPECT_LE(hw.tier, hw.native);
  EXPECT_TRUE(cpu_supports(hw.tier));
  EXPECT_EQ(hw.channel_block, hw.tier >= IsaTier::avx512 ? 16 : 8);
  EXPECT_FALSE(hw.cpu_model.empty());
  for (IsaTier t : hw.supported) EXPECT_EQ(parse_isa_tier(isa_tier_name(t)), t);
  EXPECT_FALSE(parse_isa_tier("avx512f").has_value());
  EXPECT_FALSE(parse_isa_tier("").has_value());
}

}  // namespace
}  // namespace effvit

namespace effvit {
namespace {

using namespace effvit::test;

// The fused attention head of every table against the op's reference loops, on window shapes that
// are and are not whole vectors, channel counts that are not, kernels with uneven padding, with
// and without biases and q quantisation.
TEST(KernelTables, AttentionHeadMatchesReference) {
  std::mt19937 rng(73);
  struct Case {
    int64_t kd, vd, h, w, kh, kw, pad_top, pad_left;
    bool biases;
    float q_step;
  };
  const Case cases[] = {{16, 64, 7, 7, 5, 5, 2, 2, true, 0.f},   {16, 96, 4, 4, 5, 5, 2, 2, true, 0.f},
                        {16, 16, 7, 7, 5, 5, 2, 2, false, 0.f},  {8, 24, 1, 1, 3, 3, 1, 1, true, 0.f},
                        {5, 7, 3, 5, 3, 3, 1, 1, true, 0.f},     {4, 9, 14, 14, 4, 2, 1, 1, true, 0.f},
                        {16, 33, 6, 3, 1, 1, 0, 0, false, 0.f},  {16, 32, 7, 7, 5, 5, 2, 2, true, 0.05f},
                        {16, 32, 7, 7, 5, 5, 2, 2, true, 0.02f}};
  for (IsaTier tier : tables_to_test()) {
    const KernelTable& k = kernels_for(tier);
    for (const Case& c : cases) {
      const int64_t n = c.h * c.w;
      Node node;
      node.op = "effvit.AttentionHead";
      node.set_int("key_dim", c.kd);
      node.set_ints("pads", {c.pad_top, c.pad_left, c.kh - 1 - c.pad_top, c.kw - 1 - c.pad_left});
      node.set_float("scale", 0.3f);
      // Two grids: int8 with zero point 0 (step 0.05), uint8 with zero point 100 (step 0.02, so
      // both ends saturate on inputs in [-3, 3]).
      const bool u8_grid = c.q_step == 0.02f;
      const float q_zero = u8_grid ? 100.f : 0.f, q_lo = u8_grid ? 0.f : -128.f, q_hi = u8_grid ? 255.f : 127.f;
      if (c.q_step > 0.f) {
        node.set_float("q_step", c.q_step);
        node.set_float("q_zero", q_zero);
        node.set_float("q_lo", q_lo);
        node.set_float("q_hi", q_hi);
      }
      const Tensor qkv = random_f32({2, 2 * c.kd + c.vd, c.h, c.w}, rng, -3.f, 3.f);
      const Tensor weight = random_f32({c.kd, 1, c.kh, c.kw}, rng);
      const Tensor dw_bias = random_f32({c.kd}, rng), bias = random_f32({n, n}, rng, -2.f, 2.f);
      Tensor want(DType::f32, {2, c.vd, n});
      kAttentionHeadOp.compute(node, {&qkv, &weight, c.biases ? &dw_bias : nullptr, c.biases ? &bias : nullptr}, {&want});

      const AttentionHeadDims d = attention_head_dims(node, qkv.shape(), weight.shape());
      std::vector<float> tap_major(static_cast<size_t>(c.kd * c.kh * c.kw));
      pack_attention_dw_weight(d, weight.data<float>(), tap_major.data());
      // Stale scratch must not leak into the result: fill it with NaN first.
      std::vector<float> scratch(attention_head_scratch_floats(d), std::numeric_limits<float>::quiet_NaN());
      const AttentionHeadScratch s = carve_attention_head_scratch(d, scratch.data());
      std::vector<float> bias_t(attention_bias_floats(d));
      pack_attention_bias(d, bias.data<float>(), bias_t.data());
      Tensor got(DType::f32, {2, c.vd, n});
      for (int64_t b = 0; b < 2; ++b)
        k.attention_head_f32(d, qkv.data<float>() + b * (2 * c.kd + c.vd) * n, tap_major.data(),
                             c.biases ? dw_bias.data<float>() : nullptr, c.biases ? bias_t.data() : nullptr,
                             got.data<float>() + b * c.vd * n, s);
      expect_close(got, want, 1e-5, std::string(k.isa) + " kd " + std::to_string(c.kd) + " vd " + std::to_string(c.vd) +
                                         " " + std::to_string(c.h) + "x" + std::to_string(c.w));
    }
  }
}

// A QDQ file's head (fuse_attention_head): q', k, v, the scores and P rounded to uint8 grids, some
// saturating at both ends. The kernel's sums run in another order than the reference's, so a value
// within float rounding of a half step may round the other way: nearly every output is the
// reference's, none is more than a few of P's steps times |v| away; and the grids matter.
TEST(KernelTables, AttentionHeadRoundsIntermediatesAsReference) {
  std::mt19937 rng(79);
  const int64_t kd = 16, vd = 32, h = 7, w = 7, n = h * w;
  Node node;
  node.op = "effvit.AttentionHead";
  node.set_int("key_dim", kd);
  node.set_ints("pads", {2, 2, 2, 2});
  node.set_float("scale", 0.25f);
  node.set_floats("q_grids", {0.03f, 120.f, 0.f, 255.f, 0.03f, 120.f, 0.035f, 125.f, 0.f, 255.f, 0.035f, 125.f});
  node.set_floats("k_grid", {0.02f, 130.f, 0.f, 255.f, 0.02f, 130.f});
  node.set_floats("v_grid", {0.01f, 128.f, 0.f, 255.f, 0.01f, 128.f});
  node.set_floats("scores_grid", {0.05f, 100.f, 0.f, 255.f, 0.05f, 100.f});
  node.set_floats("probs_grid", {1.f / 255.f, 0.f, 0.f, 255.f, 1.f / 255.f, 0.f});
  const Tensor qkv = random_f32({1, 2 * kd + vd, h, w}, rng, -3.f, 3.f);
  const Tensor weight = random_f32({kd, 1, 5, 5}, rng);
  const Tensor dw_bias = random_f32({kd}, rng), bias = random_f32({n, n}, rng, -2.f, 2.f);
  Tensor want(DType::f32, {1, vd, n});
  kAttentionHeadOp.compute(node, {&qkv, &weight, &dw_bias, &bias}, {&want});
  for (IsaTier tier : tables_to_test()) {
    const KernelTable& k = kernels_for(tier);
    auto run = [&](const Node& head) {
      const AttentionHeadDims d = attention_head_dims(head, qkv.shape(), weight.shape());
      std::vector<float> tap_major(static_cast<size_t>(kd * 25));
      pack_attention_dw_weight(d, weight.data<float>(), tap_major.data());
      std::vector<float> scratch(attention_head_scratch_floats(d), std::numeric_limits<float>::quiet_NaN());
      std::vector<float> bias_t(attention_bias_floats(d));
      pack_attention_bias(d, bias.data<float>(), bias_t.data());
      Tensor got(DType::f32, {1, vd, n});
      k.attention_head_f32(d, qkv.data<float>(), tap_major.data(), dw_bias.data<float>(), bias_t.data(), got.data<float>(),
                           carve_attention_head_scratch(d, scratch.data()));
      return got;
    };
    const Tensor got = run(node);
    int64_t equal = 0;
    for (int64_t i = 0; i < want.numel(); ++i) {
      const float wv = want.data<float>()[i], gv = got.data<float>()[i];
      equal += std::fabs(gv - wv) <= 1e-5f * (1.f + std::fabs(wv));
      ASSERT_LE(std::fabs(gv - wv), 4 * 1.28f / 255.f) << k.isa << " " << i;
    }
    EXPECT_GE(equal, want.numel() * 98 / 100) << k.isa;
    Node unrounded = node;
    for (const char* grid : {"q_grids", "k_grid", "v_grid", "scores_grid", "probs_grid"}) unrounded.attrs.erase(grid);
    const Tensor loose = run(unrounded);
    int64_t moved = 0;
    for (int64_t i = 0; i < want.numel(); ++i) moved += std::fabs(loose.data<float>()[i] - want.data<float>()[i]) > 1e-4f;
    EXPECT_GE(moved, want.numel() / 10) << k.isa << ": the grids changed nothing, so the test shows nothing";
  }
}

// Rows whose logits are all below any finite padding (masked with -FLT_MAX, or -inf) on a window
// that is not whole vectors (7x7): the padding lanes must never win the row's max.
TEST(KernelTables, AttentionHeadMaskedRows) {
  std::mt19937 rng(76);
  for (IsaTier tier : tables_to_test()) {
    for (const float fill : {-3e38f, -std::numeric_limits<float>::infinity()}) {
      const int64_t n = 49;
      const Tensor qkv = random_f32({1, 40, 7, 7}, rng);
      const Tensor weight = random_f32({16, 1, 1, 1}, rng);
      Tensor bias = random_f32({n, n}, rng);
      for (int64_t j = 0; j < n; ++j) bias.data<float>()[5 * n + j] = fill;
      Node node;
      node.op = "effvit.AttentionHead";
      node.set_int("key_dim", 16);
      node.set_ints("pads", {0, 0, 0, 0});
      Tensor want(DType::f32, {1, 8, n});
      kAttentionHeadOp.compute(node, {&qkv, &weight, nullptr, &bias}, {&want});
      const AttentionHeadDims d = attention_head_dims(node, qkv.shape(), weight.shape());
      std::vector<float> scratch(attention_head_scratch_floats(d)), bias_t(attention_bias_floats(d));
      pack_attention_bias(d, bias.data<float>(), bias_t.data());
      Tensor got(DType::f32, {1, 8, n});
      kernels_for(tier).attention_head_f32(d, qkv.data<float>(), weight.data<float>(), nullptr, bias_t.data(),
                                           got.data<float>(), carve_attention_head_scratch(d, scratch.data()));
      for (int64_t c = 0; c < 8; ++c) {
        const float w = want.data<float>()[c * n + 5], g = got.data<float>()[c * n + 5];
        if (std::isnan(w)) {
          EXPECT_TRUE(std::isnan(g)) << kernels_for(tier).isa << " fill " << fill;
        } else {
          EXPECT_NEAR(g, w, 1e-5f * (1 + std::fabs(w))) << kernels_for(tier).isa << " fill " << fill << " channel " << c;
        }
      }
    }
  }
}

// A NaN anywhere in a window's scores makes its outputs NaN, not a plausible probability mix.
TEST(KernelTables, AttentionHeadPropagatesNaN) {
  std::mt19937 rng(74);
  for (IsaTier tier : tables_to_test()) {
    AttentionHeadDims d{};
    d.key_dim = 16;
    d.value_dim = 16;
    d.height = d.width = 7;
    d.kernel_h = d.kernel_w = 1;
    d.scale = 1.f;
    Tensor qkv = random_f32({48, 49}, rng);
    qkv.data<float>()[16 * 49 + 3] = std::numeric_limits<float>::quiet_NaN();  // one k entry
    const Tensor weight = random_f32({16}, rng);
    std::vector<float> scratch(attention_head_scratch_floats(d));
    Tensor out(DType::f32, {16, 49});
    kernels_for(tier).attention_head_f32(d, qkv.data<float>(), weight.data<float>(), nullptr, nullptr, out.data<float>(),
                                         carve_attention_head_scratch(d, scratch.data()));
    for (int64_t i = 0; i < out.numel(); ++i) ASSERT_TRUE(std::isnan(out.data<float>()[i])) << kernels_for(tier).isa << " " << i;
  }
}

}  // namespace
}  // namespace effvit

namespace effvit {
namespace {

using namespace effvit::test;

// NV12 rows, widening and normalisation of every table equal the reference ops bit for bit: the
// fused image quantizer promises the unfused chain's exact bytes.
TEST(KernelTables, ImageRowsMatchReference) {
  std::mt19937 rng(75);
  for (IsaTier tier : tables_to_test()) {
    const KernelTable& k = kernels_for(tier);
    for (int64_t width : {2, 18, 224}) {
      Tensor frame(DType::u8, {1, 3, width, 1});  // a 2-row NV12 frame: 2 Y rows, 1 UV row
      for (int64_t i = 0; i < frame.numel(); ++i) frame.data<uint8_t>()[i] = static_cast<uint8_t>(rng());
      Node convert;
      convert.op = "effvit.Nv12ToRgb";
      Tensor want(DType::f32, {1, 3, 2, width});
      kNv12ToRgbOp.compute(convert, {&frame}, {&want});
      std::vector<float> r(static_cast<size_t>(width)), g(r.size()), b(r.size());
      for (int64_t row = 0; row < 2; ++row) {
        const uint8_t* bytes = frame.data<uint8_t>();
        k.nv12_row_f32(bytes + row * width, bytes + 2 * width, width, r.data(), g.data(), b.data());
        for (int64_t x = 0; x < width; ++x) {
          ASSERT_EQ(r[x], want.data<float>()[(0 * 2 + row) * width + x]) << k.isa << " width " << width;
          ASSERT_EQ(g[x], want.data<float>()[(1 * 2 + row) * width + x]) << k.isa << " width " << width;
          ASSERT_EQ(b[x], want.data<float>()[(2 * 2 + row) * width + x]) << k.isa << " width " << width;
        }
      }
      std::vector<float> widened(r.size()), normalized(r.size());
      k.widen_u8_f32(frame.data<uint8_t>(), widened.data(), static_cast<size_t>(width));
      k.normalize_f32(widened.data(), normalized.data(), static_cast<size_t>(width), 123.675f, 0.01712475f);
      for (int64_t x = 0; x < width; ++x) {
        const float byte = frame.data<uint8_t>()[x];
        const float sub = byte - 123.675f;  // separate statements: the Sub and Mul ops' roundings
        ASSERT_EQ(widened[x], byte);
        ASSERT_EQ(normalized[x], sub * 0.01712475f) << k.isa;
      }
    }
  }
}

}  // namespace
}  // namespace effvit
