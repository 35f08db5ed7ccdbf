#include "core/policy.h"

namespace consentd {

const TopicPolicy* Policy::FindTopic(std::string_view topic) const {
  const auto it = topics.find(std::string(topic));
  return it == topics.end() ? nullptr : &it->second;
}

bool Policy::IsChannelMapped(std::string_view channel) const {
  for (const auto& [name, topic] : topics) {
    if (topic.channels.contains(std::string(channel))) return true;
  }
  return false;
}

TargetConstraints Policy::ConstraintsFor(std::string_view system) const {
  const auto it = constraints.find(std::string(system));
  return it == constraints.end() ? TargetConstraints{} : it->second;
}

}  // namespace consentd
