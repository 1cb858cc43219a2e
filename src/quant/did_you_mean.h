// "did you mean 'max_percentile'?" for a misspelt key or value, from the names it could have been.
#pragma once

#include <string>
#include <vector>

namespace effvit::quant {

// The known name closest to `word` by edit distance (case ignored), when it is close enough to be
// a typo of it (one edit of a word of 3+ letters, two of one of 6+); else "".
std::string closest_name(const std::string& word, const std::vector<std::string>& known);

// " (did you mean 'NAME'?)" for closest_name's answer, or "".
std::string did_you_mean(const std::string& word, const std::vector<std::string>& known);

}  // namespace effvit::quant
