// effvit's micro-kernels, every ISA build this machine can run (not only the one the hardware
// object picked), against the reference loops of the ops they replace, on awkward lengths and
// unaligned starts.
#include <gtest/gtest.h>

#include <cstring>
#include <limits>
#include <random>

#include "cpu/hardware.h"
#include "kernels/kernels.h"
#include "test_util.h"

namespace effvit {
namespace {

using namespace effvit::test;

std::vector<IsaTier> tables_to_test() {
  std::vector<IsaTier> tiers;
  for (IsaTier t : {IsaTier::sse41, IsaTier::avx2, IsaTier::avx512})
    if (cpu_supports(t)) tiers.push_back(t);
  return tiers;
}

TEST(KernelTables, EachTierHasItsOwnBuild) {
  EXPECT_STREQ(kernels_for(IsaTier::sse41).isa, "sse41");
  EXPECT_STREQ(kernels_for(IsaTier::avx2).isa, "avx2");
  EXPECT_STREQ(kernels_for(IsaTier::avx2_vnni).isa, "avx2");
  EXPECT_STREQ(kernels_for(IsaTier::avx512).isa, "avx512");
  EXPECT_STREQ(kernels_for(IsaTier::amx).isa, "avx512");
  EXPECT_STREQ(hardware().kernels->isa, kernels_for(hardware().info.tier).isa);
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

// Bit-identical to the QuantizeLinear reference op: ties to even, saturation, NaN, both types.
TEST(KernelTables, QuantizeMatchesReference) {
  std::mt19937 rng(72);
  for (IsaTier tier : tables_to_test()) {
    const KernelTable& k = kernels_for(tier);
    for (int64_t n : {1, 7, 16, 33, 1000}) {
      Tensor x = random_f32({n + 1}, rng, -40.f, 40.f);
      float* xs = x.data<float>();
      // Exact ties and out-of-range values among the random ones.
      for (int64_t i = 1; i <= n; i += 5) xs[i] = 0.25f * static_cast<float>(static_cast<int>(xs[i] * 2.f)) * 2.f + 0.125f * 2.f;
      if (n > 3) xs[3] = std::numeric_limits<float>::quiet_NaN();
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
