// "Did you mean" suggestions for misspelt keys and names.
//
// Pure functions, thread-safe.
#pragma once

#include <cstddef>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace consentd::config {

// Optimal-string-alignment distance: insertions, deletions, substitutions
// and transpositions of adjacent characters each cost 1.
std::size_t EditDistance(std::string_view a, std::string_view b);

// The candidate closest to `word`, if it is close enough to be a plausible
// typo: a case-insensitive match, a prefix either way of 3+ characters
// (counted as distance 1), or a distance of at most max(1, len/3) (len = the
// longer of the two). The closest wins; ties go to the earlier candidate.
std::optional<std::string> SuggestClosest(std::string_view word,
                                          std::span<const std::string_view> candidates);

// " (did you mean 'X'?)" or "" when nothing is close.
std::string DidYouMean(std::string_view word, std::span<const std::string_view> candidates);

}  // namespace consentd::config
