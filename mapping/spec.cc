#include "mapping/spec.h"

namespace consentd::mapping {

std::string_view ConnectorKindName(ConnectorKind kind) {
  switch (kind) {
    case ConnectorKind::kHubSpot:
      return "hubspot";
    case ConnectorKind::kMailchimp:
      return "mailchimp";
    case ConnectorKind::kGeneric:
      return "generic";
  }
  return "generic";
}

std::string_view SystemRoleName(SystemRole role) {
  return role == SystemRole::kCrm ? "crm" : "journey";
}

std::string_view FlowDirectionName(FlowDirection d) {
  switch (d) {
    case FlowDirection::kBoth:
      return "both";
    case FlowDirection::kCrmToJourney:
      return "crm_to_journey";
    case FlowDirection::kJourneyToCrm:
      return "journey_to_crm";
    case FlowDirection::kNone:
      return "none";
  }
  return "none";
}

std::string_view ErasureModeName(ErasureMode mode) {
  switch (mode) {
    case ErasureMode::kDelete:
      return "delete";
    case ErasureMode::kAnonymize:
      return "anonymize";
    case ErasureMode::kRestrict:
      return "restrict";
  }
  return "delete";
}

std::string_view MailchimpTopicKindName(MailchimpTopicKind kind) {
  switch (kind) {
    case MailchimpTopicKind::kInterest:
      return "interest";
    case MailchimpTopicKind::kMarketingPermission:
      return "marketing_permission";
    case MailchimpTopicKind::kMemberStatus:
      return "member_status";
  }
  return "interest";
}

const ConnectorCapabilities& CapabilitiesOf(ConnectorKind kind) {
  using K = BlockScope::Kind;
  // HubSpot: gdpr-delete, or keep the record and strip its marketing data
  // (restrict); it has no anonymising call. Mailchimp: delete-permanent, or
  // archive the member (restrict); its audience is e-mail only. The generic
  // connector passes the mode on and can do all three.
  static const ConnectorCapabilities kHubSpot{{ErasureMode::kDelete, ErasureMode::kRestrict},
                                              {"EMAIL", "SMS", "WHATSAPP"},
                                              {K::kAll, K::kChannel, K::kAddress}};
  static const ConnectorCapabilities kMailchimp{{ErasureMode::kDelete, ErasureMode::kRestrict},
                                                {"email"},
                                                {K::kAll, K::kChannel, K::kAddress}};
  static const ConnectorCapabilities kGeneric{
      {ErasureMode::kDelete, ErasureMode::kAnonymize, ErasureMode::kRestrict},
      {},
      {K::kAll, K::kChannel, K::kAddress, K::kTopic}};
  switch (kind) {
    case ConnectorKind::kHubSpot:
      return kHubSpot;
    case ConnectorKind::kMailchimp:
      return kMailchimp;
    case ConnectorKind::kGeneric:
      return kGeneric;
  }
  return kGeneric;
}

const SystemSpec* MappingSpec::FindSystem(std::string_view name) const {
  const auto it = systems.find(std::string(name));
  return it == systems.end() ? nullptr : &it->second;
}

std::set<std::string, std::less<>> MappingSpec::SystemsWithoutRecordPerAddress() const {
  std::set<std::string, std::less<>> out;
  for (const auto& [name, system] : systems) {
    if (!system.KeepsRecordPerAddress()) out.insert(name);
  }
  return out;
}

const TopicSpec* MappingSpec::FindTopic(std::string_view name) const {
  for (const TopicSpec& t : topics) {
    if (t.name == name) return &t;
  }
  return nullptr;
}

const SystemSpec* MappingSpec::SystemWithRole(SystemRole role) const {
  for (const auto& [name, s] : systems) {
    if (s.role == role) return &s;
  }
  return nullptr;
}

std::string MappingSpec::NativeChannel(std::string_view channel, std::string_view system) const {
  const auto it = channels.find(std::string(channel));
  if (it == channels.end()) return {};
  const auto n = it->second.native.find(std::string(system));
  return n == it->second.native.end() ? std::string() : n->second;
}

std::string MappingSpec::CanonicalChannel(std::string_view native, std::string_view system) const {
  for (const auto& [name, c] : channels) {
    const auto n = c.native.find(std::string(system));
    if (n != c.native.end() && n->second == native) return name;
  }
  return {};
}

bool FlowsFrom(FlowDirection d, SystemRole role) {
  switch (d) {
    case FlowDirection::kBoth:
      return true;
    case FlowDirection::kCrmToJourney:
      return role == SystemRole::kCrm;
    case FlowDirection::kJourneyToCrm:
      return role == SystemRole::kJourney;
    case FlowDirection::kNone:
      return false;
  }
  return false;
}

bool FlowsTo(FlowDirection d, SystemRole role) {
  switch (d) {
    case FlowDirection::kBoth:
      return true;
    case FlowDirection::kCrmToJourney:
      return role == SystemRole::kJourney;
    case FlowDirection::kJourneyToCrm:
      return role == SystemRole::kCrm;
    case FlowDirection::kNone:
      return false;
  }
  return false;
}

}  // namespace consentd::mapping
