// The quantization YAML: the seed's own file (paths aside) loads with its 28 int16 Softmax entries,
// and every malformed config is one error naming the file and the key.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <regex>
#include <sstream>

#include "effvit/error.h"
#include "quant/config.h"
#include "quant/did_you_mean.h"

namespace effvit::quant {
namespace {

namespace fs = std::filesystem;

class QuantConfigTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("effvit_qcfg_" + std::to_string(::getpid()));
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string write(const std::string& text) {
    const std::string path = (dir_ / "config.yaml").string();
    std::ofstream(path) << text;
    return path;
  }

  // Loading must fail with one line naming the file and containing `what`.
  void expect_error(const std::string& text, const std::string& what) {
    const std::string path = write(text);
    try {
      load_quant_config(path);
      ADD_FAILURE() << "no error for: " << what;
    } catch (const Error& e) {
      const std::string message = e.what();
      EXPECT_EQ(message.rfind(path + ": ", 0), 0u) << message;
      EXPECT_NE(message.find(what), std::string::npos) << message << " (wanted: " << what << ")";
      EXPECT_EQ(message.find('\n'), std::string::npos) << message;
      EXPECT_EQ(e.kind(), ErrorKind::invalid_input);
    }
  }

  fs::path dir_;
};

const char* kMinimal = R"(
model_parameters:
  onnx_model: 'm.onnx'
input_parameters:
  input_type_rt: 'rgb'
  input_type_train: 'rgb'
calibration_parameters:
  cal_data_dir: './cal'
  calibration_type: 'max'
)";

TEST_F(QuantConfigTest, TheSeedsYamlLoadsWithOnlyItsPathsChanged) {
  std::ifstream in(EFFVIT_SEED_YAML);
  ASSERT_TRUE(in) << EFFVIT_SEED_YAML;
  std::stringstream text;
  text << in.rdbuf();
  std::string yaml = std::regex_replace(text.str(), std::regex("'./efficientvit_m5.onnx'"), "'models/m5.onnx'");
  const QuantConfig c = load_quant_config(write(yaml));
  EXPECT_EQ(c.onnx_model, (dir_ / "models/m5.onnx").string());
  EXPECT_EQ(c.output_path(), (dir_ / "EfficientViT_msra_224x224_nv12" / "EfficientViT_msra_224x224_nv12.onnx").string());
  EXPECT_EQ(c.node_info.size(), 28u);
  for (const auto& [name, p] : c.node_info) {
    EXPECT_NE(name.find("/attn/Softmax"), std::string::npos) << name;
    EXPECT_TRUE(p.integer);
    EXPECT_EQ(p.input_bits, 16);
    EXPECT_EQ(p.output_bits, 16);
  }
  EXPECT_EQ(c.input_type_rt, InputKind::nv12);
  EXPECT_EQ(c.input_type_train, InputKind::rgb);
  EXPECT_EQ(c.norm_type, NormType::data_mean_and_scale);
  EXPECT_EQ(c.mean, (std::vector<float>{123.675f, 116.28f, 103.53f}));
  EXPECT_EQ(c.scale, (std::vector<float>{0.01712475f, 0.017507f, 0.01742919f}));
  EXPECT_EQ(c.cal_data_dir, (dir_ / "calibration_data_rgb_f32").string());
  EXPECT_EQ(c.cal_data_type, CalDataType::float32);
  EXPECT_DOUBLE_EQ(c.max_percentile, 0.99999);
  // march, layer_out_dump and the compiler section mean nothing here: one note each.
  std::string notes;
  for (const auto& n : c.notes) notes += n + "\n";
  EXPECT_NE(notes.find("model_parameters.march: ignored on a CPU"), std::string::npos) << notes;
  EXPECT_NE(notes.find("model_parameters.layer_out_dump"), std::string::npos) << notes;
  EXPECT_NE(notes.find("compiler_parameters"), std::string::npos) << notes;
}

// `s` with the first `from` replaced by `to` (which must be there).
std::string replace(std::string s, const std::string& from, const std::string& to) {
  const size_t at = s.find(from);
  EXPECT_NE(at, std::string::npos) << from;
  return s.replace(at, from.size(), to);
}

TEST_F(QuantConfigTest, DefaultsOfAMinimalConfig) {
  const QuantConfig c = load_quant_config(write(kMinimal));
  EXPECT_EQ(c.output_path(), (dir_ / "m_int8.onnx").string());
  EXPECT_EQ(c.norm_type, NormType::no_preprocess);
  EXPECT_DOUBLE_EQ(c.max_percentile, 1.0);
  EXPECT_EQ(c.num_bin, 2048u);
  EXPECT_EQ(c.num_quantized_bins, 0);
  EXPECT_TRUE(c.notes.empty());
}

TEST_F(QuantConfigTest, KlSettingsAreNotedWhereNothingReadsThem) {
  std::string yaml = kMinimal;
  yaml.replace(yaml.find("calibration_type: 'max'"), 23, "calibration_type: 'max'\n  num_bin: 512");
  const QuantConfig c = load_quant_config(write(yaml));
  ASSERT_EQ(c.notes.size(), 1u);
  EXPECT_NE(c.notes[0].find("num_bin: only kl"), std::string::npos) << c.notes[0];
  std::string kl = kMinimal;
  kl.replace(kl.find("calibration_type: 'max'"), 23, "calibration_type: 'kl'\n  num_bin: 512\n  num_quantized_bins: 128");
  const QuantConfig k = load_quant_config(write(kl));
  EXPECT_TRUE(k.notes.empty());
  EXPECT_EQ(k.num_bin, 512u);
  EXPECT_EQ(k.num_quantized_bins, 128);
}

TEST_F(QuantConfigTest, TyposAreNamedWithWhatTheyMeant) {
  const std::string m = kMinimal;
  // An optional key misspelt: the note says what it would have been, and that the default holds.
  std::string yaml = replace(m, "calibration_type: 'max'", "calibration_type: 'max'\n  max_percentil: 0.99");
  const QuantConfig c = load_quant_config(write(yaml));
  ASSERT_EQ(c.notes.size(), 1u);
  EXPECT_EQ(c.notes[0], "calibration_parameters.max_percentil: unknown key, ignored (did you mean 'max_percentile'?); its default is used");
  EXPECT_DOUBLE_EQ(c.max_percentile, 1.0);
  // A required key misspelt: the error names the misspelling, not only the missing key.
  expect_error(replace(m, "  onnx_model: 'm.onnx'", "  onnx_modle: 'm.onnx'"),
               "model_parameters.onnx_model: missing required key ('onnx_modle' is there: a typo of it?)");
  expect_error(replace(m, "calibration_parameters:", "calibration_parameter:"),
               "calibration_parameters: missing required section ('calibration_parameter' is there: a typo of it?)");
  // A misspelt value or node_info field.
  expect_error(replace(m, "input_type_rt: 'rgb'", "input_type_rt: 'rbg'"), "(did you mean 'rgb'?)");
  expect_error(replace(m, "  onnx_model: 'm.onnx'", "  onnx_model: 'm.onnx'\n  node_info: {'n': {'InputTyp': 'int16'}}"),
               "unknown field (expected ON, InputType, OutputType) (did you mean 'InputType'?)");
  // An unknown section near a known one.
  const QuantConfig s = load_quant_config(write(m + "input_parameter:\n  x: 1\n"));
  ASSERT_EQ(s.notes.size(), 1u);
  EXPECT_EQ(s.notes[0], "input_parameter: unknown section, ignored (did you mean 'input_parameters'?)");
}

TEST_F(QuantConfigTest, AutoMixedConfigKeepsTheFileAsWrittenWithANodeALine) {
  const std::string yaml = "# my notes on this config\n" + replace(kMinimal, "  onnx_model: 'm.onnx'\n", R"(  onnx_model: 'm.onnx'   # the export of 2026-12-01
  # pinned by hand after a sensitivity run
  node_info: {'a': {'ON': 'BPU', 'InputType': 'int16'},
              'b': {'ON': 'BPU'}}
  output_model_file_prefix: 'mixed'
)");
  const QuantConfig c = load_quant_config(write(yaml));
  const std::string path = write_config_with_float_nodes(c, {"b", "it's/new"});
  std::ifstream in(path);
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  for (const char* kept : {"# my notes on this config", "onnx_model: 'm.onnx'   # the export of 2026-12-01",
                           "  # pinned by hand after a sensitivity run\n  node_info: {\n", "  output_model_file_prefix: 'mixed'"})
    EXPECT_NE(text.find(kept), std::string::npos) << kept << " missing from:\n" << text;
  EXPECT_NE(text.find("    'a': {'ON': 'BPU', 'InputType': 'int16'},\n    'b': {'ON': 'CPU'},\n    'it''s/new': {'ON': 'CPU'}\n  }\n"),
            std::string::npos) << text;
  const QuantConfig mixed = load_quant_config(path);
  EXPECT_EQ(mixed.node_info.at("a").input_bits, 16);
  EXPECT_FALSE(mixed.node_info.at("b").integer);
  EXPECT_FALSE(mixed.node_info.at("it's/new").integer);
  EXPECT_EQ(mixed.output_path(), c.output_path());

  // Without node_info: added at the end of model_parameters.
  std::string none = kMinimal;
  const QuantConfig n = load_quant_config(write(none));
  std::ifstream again(write_config_with_float_nodes(n, {"x"}));
  const std::string added((std::istreambuf_iterator<char>(again)), std::istreambuf_iterator<char>());
  EXPECT_NE(added.find("  onnx_model: 'm.onnx'\n  node_info: {\n    'x': {'ON': 'CPU'}\n  }\ninput_parameters:"), std::string::npos) << added;
}

TEST_F(QuantConfigTest, AutoMixedConfigKeepsLineEndsAndBlockScalars) {
  // CRLF, node_info last in model_parameters with a comment after it; a block scalar whose last
  // line starts with '#' (its own text, not a comment).
  std::string crlf = replace(kMinimal, "  onnx_model: 'm.onnx'\n",
                             "  onnx_model: 'm.onnx'\n  node_info:\n    a: {ON: BPU}\n  # about input parameters: keep rgb\n\n");
  for (size_t at = crlf.find('\n'); at != std::string::npos; at = crlf.find('\n', at + 2)) crlf.insert(at, "\r");
  const QuantConfig c = load_quant_config(write(crlf));
  std::ifstream in(write_config_with_float_nodes(c, {"b"}), std::ios::binary);
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_NE(text.find("    'b': {'ON': 'CPU'}\r\n  }\r\n  # about input parameters: keep rgb\r\n\r\ninput_parameters:"), std::string::npos) << text;

  const std::string block = replace(kMinimal, "  onnx_model: 'm.onnx'\n", "  onnx_model: 'm.onnx'\n  output_model_file_prefix: >-\n    pre\n    # fix\n");
  const QuantConfig b = load_quant_config(write(block));
  const QuantConfig mixed = load_quant_config(write_config_with_float_nodes(b, {"x"}));
  EXPECT_EQ(mixed.output_path(), b.output_path()) << "the prefix's last line was taken for a comment";
  EXPECT_FALSE(mixed.node_info.at("x").integer);
}

TEST(DidYouMean, SuggestsOnlyCloseNames) {
  EXPECT_EQ(closest_name("max_percentil", {"max_percentile", "per_channel"}), "max_percentile");
  EXPECT_EQ(closest_name("ONNX_MODEL", {"onnx_model"}), "onnx_model");
  EXPECT_EQ(closest_name("nmu_bin", {"num_bin"}), "num_bin");  // a transposition is one edit
  EXPECT_EQ(closest_name("colour", {"onnx_model", "num_bin"}), "");
  EXPECT_EQ(closest_name("ab", {"xy"}), "") << "two edits of two letters is another word";
  EXPECT_EQ(did_you_mean("onnx_model", {"onnx_model"}), "") << "the name itself is no typo";
}

TEST_F(QuantConfigTest, EveryBadConfigNamesTheKey) {
  const std::string m = kMinimal;
  expect_error(replace(m, "  onnx_model: 'm.onnx'\n", "  working_dir: '.'\n"), "model_parameters.onnx_model: missing required key");
  expect_error(replace(m, "  onnx_model: 'm.onnx'\n", ""), "model_parameters: missing required section");
  expect_error(replace(m, "calibration_type: 'max'", "calibration_type: 'entropy'"), "calibration_parameters.calibration_type: 'entropy' is not one of max, kl, mse, default");
  expect_error(replace(m, "input_type_rt: 'rgb'", "input_type_rt: 'yuv420sp'"), "input_parameters.input_type_rt");
  expect_error(replace(m, "calibration_type: 'max'", "calibration_type: 'max'\n  max_percentile: 1.5"), "max_percentile: must be in (0, 1]");
  expect_error(replace(m, "calibration_type: 'max'", "calibration_type: 'max'\n  max_percentile: lots"), "max_percentile: must be a number");
  expect_error(replace(m, "input_type_train: 'rgb'", "input_type_train: 'rgb'\n  norm_type: 'data_mean'"), "mean_value: required");
  expect_error(replace(m, "input_type_train: 'rgb'", "input_type_train: 'rgb'\n  norm_type: 'data_scale'\n  scale_value: 0.1 x"),
               "'x' is not a number");
  expect_error(replace(m, "input_type_train: 'rgb'", "input_type_train: 'rgb'\n  norm_type: 'data_scale'\n  scale_value: 0 1"),
               "must be positive");
  expect_error(replace(m, "  onnx_model: 'm.onnx'\n", "  onnx_model: 'm.onnx'\n  node_info: {'a': {'ON': 'GPU'}}\n"),
               "node_info[\"a\"].ON: 'GPU' is not one of BPU, CPU");
  expect_error(replace(m, "  onnx_model: 'm.onnx'\n", "  onnx_model: 'm.onnx'\n  node_info: {'a': {'Type': 'int8'}}\n"),
               "unknown field");
  expect_error(replace(m, "  onnx_model: 'm.onnx'\n", "  onnx_model: ['m.onnx']\n"), "model_parameters.onnx_model: must be a single value");
  expect_error("model_parameters: [1, 2\n", "not valid YAML");
  expect_error("model_parameters: [1, 2]\n", "model_parameters: must be a mapping");
  expect_error("just a string\n", "no mapping");
  expect_error(replace(m, "  onnx_model: 'm.onnx'\n", "  onnx_model: 'm.onnx'\n  ? [a, b]\n  : 1\n"), "unexpected YAML structure");
  expect_error(replace(m, "input_type_train: 'rgb'", "input_type_train: 'rgb'\n  norm_type: 'data_scale'\n  scale_value: inf 1 1"),
               "must be positive finite");
  expect_error(replace(m, "  onnx_model: 'm.onnx'\n", "  onnx_model: 'm.onnx'\n  output_model_file_prefix: '..'\n"),
               "output_model_file_prefix: must be a file name prefix");
  expect_error(replace(m, "calibration_type: 'max'", "calibration_type: 'kl'\n  num_bin: 1000"), "num_bin: must be 512, 1024, 2048 or 4096, got 1000");
  expect_error(replace(m, "calibration_type: 'max'", "calibration_type: 'kl'\n  num_quantized_bins: 256"), "num_quantized_bins: must be a whole number");
  expect_error(replace(m, "calibration_type: 'max'", "calibration_type: 'kl'\n  num_quantized_bins: 127.5"), "num_quantized_bins: must be a whole number");
  expect_error(replace(m, "calibration_parameters:\n  cal_data_dir: './cal'\n  calibration_type: 'max'\n", ""),
               "calibration_parameters: missing required section");
}

}  // namespace
}  // namespace effvit::quant
