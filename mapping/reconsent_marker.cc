// ReconsentMarker (mapping/spec.h): the marker's name and its text per topic.
#include "mapping/spec.h"

namespace consentd::mapping {

std::string_view ReconsentMarkerKindName(ReconsentMarkerKind kind) {
  switch (kind) {
    case ReconsentMarkerKind::kTag:
      return "tag";
    case ReconsentMarkerKind::kMergeField:
      return "merge_field";
    case ReconsentMarkerKind::kNone:
      return "none";
  }
  return "unknown";
}

std::string ReconsentMarker::For(std::string_view topic) const {
  constexpr std::string_view kTopic = "{topic}";
  const std::string& text = kind == ReconsentMarkerKind::kMergeField ? value : tag;
  std::string out;
  for (std::size_t i = 0; i < text.size();) {
    if (text.compare(i, kTopic.size(), kTopic) == 0) {
      out += topic;
      i += kTopic.size();
    } else {
      out.push_back(text[i++]);
    }
  }
  return out;
}

}  // namespace consentd::mapping
