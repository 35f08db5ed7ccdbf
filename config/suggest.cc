#include "config/suggest.h"

#include <algorithm>
#include <cctype>
#include <vector>

namespace consentd::config {
namespace {

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

}  // namespace

std::size_t EditDistance(std::string_view a, std::string_view b) {
  const std::size_t n = a.size();
  const std::size_t m = b.size();
  // Three rows suffice for the transposition rule.
  std::vector<std::size_t> prev2(m + 1), prev(m + 1), cur(m + 1);
  for (std::size_t j = 0; j <= m; ++j) prev[j] = j;
  for (std::size_t i = 1; i <= n; ++i) {
    cur[0] = i;
    for (std::size_t j = 1; j <= m; ++j) {
      const std::size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1]) {
        cur[j] = std::min(cur[j], prev2[j - 2] + 1);
      }
    }
    std::swap(prev2, prev);
    std::swap(prev, cur);
  }
  return prev[m];
}

std::optional<std::string> SuggestClosest(std::string_view word,
                                          std::span<const std::string_view> candidates) {
  const std::string lower_word = Lower(word);
  std::optional<std::string> best;
  std::size_t best_distance = 0;
  for (std::string_view candidate : candidates) {
    if (candidate == word) continue;
    const std::string lower_candidate = Lower(candidate);
    if (lower_candidate == lower_word) return std::string(candidate);
    // A prefix of at least 3 characters ("warning" for "warn") is a typo too.
    const bool prefix =
        std::min(word.size(), candidate.size()) >= 3 &&
        (lower_word.starts_with(lower_candidate) || lower_candidate.starts_with(lower_word));
    const std::size_t d = prefix ? 1 : EditDistance(lower_word, lower_candidate);
    const std::size_t limit = std::max<std::size_t>(1, std::max(word.size(), candidate.size()) / 3);
    if (d <= limit && (!best || d < best_distance)) {
      best = std::string(candidate);
      best_distance = d;
    }
  }
  return best;
}

std::string DidYouMean(std::string_view word, std::span<const std::string_view> candidates) {
  auto s = SuggestClosest(word, candidates);
  return s ? " (did you mean '" + *s + "'?)" : std::string();
}

}  // namespace consentd::config
