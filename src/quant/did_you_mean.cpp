#include "quant/did_you_mean.h"

#include <algorithm>
#include <cctype>

namespace effvit::quant {
namespace {

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

// Levenshtein distance with adjacent transpositions counted as one edit (optimal string alignment).
size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<std::vector<size_t>> d(a.size() + 1, std::vector<size_t>(b.size() + 1));
  for (size_t i = 0; i <= a.size(); ++i) d[i][0] = i;
  for (size_t j = 0; j <= b.size(); ++j) d[0][j] = j;
  for (size_t i = 1; i <= a.size(); ++i)
    for (size_t j = 1; j <= b.size(); ++j) {
      d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + (a[i - 1] != b[j - 1])});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1]) d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
    }
  return d[a.size()][b.size()];
}

}  // namespace

std::string closest_name(const std::string& word, const std::vector<std::string>& known) {
  // Names of a config are short; a long word compared with hundreds would cost nothing either.
  if (word.size() > 200) return "";
  const std::string w = lower(word);
  std::string best;
  size_t best_distance = 3;
  for (const std::string& k : known) {
    const size_t d = edit_distance(w, lower(k));
    const size_t n = std::max(w.size(), k.size());
    // One edit of a word of 3+ letters ('rbg'), two of one of 6+; more is another word.
    if (d < best_distance && (d <= 1 ? n >= 3 : 3 * d <= n)) {
      best = k;
      best_distance = d;
    }
  }
  return best == word ? "" : best;
}

std::string did_you_mean(const std::string& word, const std::vector<std::string>& known) {
  const std::string name = closest_name(word, known);
  return name.empty() ? "" : " (did you mean '" + name + "'?)";
}

}  // namespace effvit::quant
