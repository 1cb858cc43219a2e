// `effvit quantize --report DIR`: what a person needs to see where int8 loses accuracy, as files
// they can open without the JSON:
//   report.json      the agreement (per node and logits), and every quantized activation's range,
//                    clipping bound, scale and zero point, with its |x| histogram
//   agreement.png/svg  each quantized node's cosine similarity to float32 in graph order: the
//                    error accumulated through the network's depth, least similar nodes named
//   histograms.png/svg the |x| histograms (log counts) of the inputs of the least similar nodes,
//                    with the clipping bound drawn on them
//   report.html      all of it on one page: the plots, the least similar and (with --sensitivity)
//                    the most sensitive nodes
#pragma once

#include <string>
#include <vector>

#include "quant/agreement.h"

namespace effvit::quant {

struct NodeSensitivity {
  std::string node;
  double cosine = 1;  // the logits' cosine to float32 with only this node quantized
  double top1 = 1;    // and their top-1 agreement
};

struct ActivationRange {
  std::string tensor;
  std::vector<std::string> readers;  // the quantized nodes that read it
  float min = 0, max = 0;            // observed
  float bound = 0;                   // the clipping bound chosen on |x|
  float scale = 1;
  int zero_point = 0;
  bool is_unsigned = false;
  float histogram_range = 0;         // the histogram covers |x| in [0, histogram_range]
  std::vector<uint64_t> histogram;   // 128 bins
};

// Writes the files into `dir` (created if needed). Throws effvit::Error naming a file it cannot write.
void write_report(const std::string& dir, const Agreement& agreement, const std::vector<ActivationRange>& activations,
                  const std::vector<NodeSensitivity>& sensitivity, const std::string& model_name, const std::string& calibration);

}  // namespace effvit::quant
