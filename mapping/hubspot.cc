#include "mapping/hubspot.h"

#include "core/normalise.h"
#include "mapping/native_util.h"
#include "mapping/policy.h"

namespace consentd::mapping::hubspot {

using internal::BlockWithSide;
using internal::ContainsNoCase;
using internal::NoFlow;

std::string_view SubscriptionStateName(SubscriptionState s) {
  switch (s) {
    case SubscriptionState::kSubscribed:
      return "SUBSCRIBED";
    case SubscriptionState::kUnsubscribed:
      return "UNSUBSCRIBED";
    case SubscriptionState::kNotSpecified:
      return "NOT_SPECIFIED";
  }
  return "NOT_SPECIFIED";
}

Result<SubscriptionState> ParseSubscriptionState(std::string_view name) {
  for (auto s : {SubscriptionState::kSubscribed, SubscriptionState::kUnsubscribed,
                 SubscriptionState::kNotSpecified}) {
    if (SubscriptionStateName(s) == name) return s;
  }
  return InvalidArgument("unknown HubSpot subscription status \"" + std::string(name) + "\"");
}

std::string OwnExplanation(SubscriptionState written, std::string_view why) {
  std::string out(kOwnExplanationPrefix);
  out += SubscriptionStateName(written);
  out += "; ";
  out += why;
  return out;
}

ExplanationWriter WriterOfExplanation(std::string_view explanation, SubscriptionState status) {
  if (!explanation.starts_with(kOwnExplanationPrefix)) return ExplanationWriter::kOther;
  const std::string_view rest = explanation.substr(kOwnExplanationPrefix.size());
  const size_t end = rest.find("; ");
  if (end == std::string_view::npos) return ExplanationWriter::kConsentdStateUnnamed;
  Result<SubscriptionState> named = ParseSubscriptionState(rest.substr(0, end));
  if (!named.ok()) return ExplanationWriter::kConsentdStateUnnamed;
  return *named == status ? ExplanationWriter::kConsentd : ExplanationWriter::kOther;
}

std::optional<ConsentMethod> MethodOfOwnExplanation(std::string_view explanation,
                                                    SubscriptionState status) {
  if (WriterOfExplanation(explanation, status) != ExplanationWriter::kConsentd) {
    return std::nullopt;
  }
  constexpr std::string_view kVia = ", via ";
  const size_t at = explanation.rfind(kVia);
  if (at == std::string_view::npos) return std::nullopt;
  Result<ConsentMethod> method = ParseConsentMethod(explanation.substr(at + kVia.size()));
  if (!method.ok()) return std::nullopt;
  return *method;
}

std::optional<std::string> NoticeOfOwnExplanation(std::string_view explanation) {
  // "…; <title>[, notice <version>], <basis>, via <method>": read from the
  // right, so that a title holding ", notice " is not taken for it.
  const size_t via = explanation.rfind(", via ");
  if (via == std::string_view::npos) return std::nullopt;
  const std::string_view before_via = explanation.substr(0, via);
  const size_t basis = before_via.rfind(", ");
  if (basis == std::string_view::npos) return std::nullopt;
  const std::string_view before_basis = before_via.substr(0, basis);
  constexpr std::string_view kNotice = ", notice ";
  const size_t at = before_basis.rfind(kNotice);
  if (at == std::string_view::npos) return std::nullopt;
  const std::string_view version = before_basis.substr(at + kNotice.size());
  if (version.empty() || version.find(", ") != std::string_view::npos) return std::nullopt;
  return std::string(version);
}

std::string LegalBasisToHubSpot(std::string_view dpv) {
  if (dpv.starts_with("eu-gdpr:A6-1-a")) return "CONSENT_WITH_NOTICE";
  if (dpv.starts_with("eu-gdpr:A6-1-b")) return "PERFORMANCE_OF_CONTRACT";
  return "LEGITIMATE_INTEREST_OTHER";
}

std::string LegalBasisFromHubSpot(std::string_view hubspot) {
  if (hubspot == "CONSENT_WITH_NOTICE") return "eu-gdpr:A6-1-a";
  if (hubspot == "PERFORMANCE_OF_CONTRACT") return "eu-gdpr:A6-1-b";
  if (hubspot.starts_with("LEGITIMATE_INTEREST_")) return "eu-gdpr:A6-1-f";
  return {};
}

Mapper::Mapper(const MappingSpec& spec, std::string system)
    : spec_(spec), system_(std::move(system)), hash_(MappingHash(spec)) {
  if (const SystemSpec* s = spec_.FindSystem(system_)) role_ = s->role;
}

Change Mapper::Base(TimestampMs at, const std::string& event_id) const {
  Change c;
  c.provenance.occurred_at = at;
  c.provenance.source_system = system_;
  c.provenance.source_event_id = event_id;
  c.mapping_hash = hash_;
  return c;
}

MapResult Mapper::FromStatus(const SubscriptionStatus& s) const {
  MapResult r;
  const std::string channel = spec_.CanonicalChannel(s.channel, system_);
  if (channel.empty()) {
    r.notes.push_back("unmapped: HubSpot channel " + s.channel + " is not in the mapping");
    return r;
  }
  const TopicSpec* topic = nullptr;
  for (const TopicSpec& t : spec_.topics) {
    const auto b = t.bindings.find(system_);
    if (b == t.bindings.end()) continue;
    const auto id = b->second.subscriptions.find(channel);
    if (id != b->second.subscriptions.end() && id->second == s.subscription_id) topic = &t;
  }
  if (topic == nullptr) {
    r.notes.push_back("unmapped: subscription type " + std::to_string(s.subscription_id) + " on " +
                      s.channel + " is not in the mapping");
    return r;
  }
  if (!FlowsFrom(topic->direction, role_)) {
    r.notes.push_back(NoFlow("topic", topic->name, "from", system_, topic->direction));
    return r;
  }
  if (s.status == SubscriptionState::kNotSpecified) {
    r.notes.push_back("NOT_SPECIFIED for topic '" + topic->name +
                      "': HubSpot states nothing, the canonical state is kept");
    return r;
  }
  Change c = Base(s.timestamp, s.event_id);
  c.kind = ChangeKind::kConsent;
  c.key.topic = topic->name;
  c.key.channel = channel;
  c.notice_version = topic->notice_version;
  if (s.status == SubscriptionState::kSubscribed) {
    c.status = ConsentStatus::kGranted;
    c.method = ContainsNoCase(s.source_of_status, "DOUBLE_OPT_IN") ? ConsentMethod::kDoubleOptIn
               : ContainsNoCase(s.source_of_status, "IMPORT")      ? ConsentMethod::kImport
                                                                   : ConsentMethod::kForm;
    // consentd's own grant read back: HubSpot's source is consentd's write,
    // not how the person consented; the explanation it wrote says that.
    if (std::optional<ConsentMethod> own =
            s.written_by_consentd ? MethodOfOwnExplanation(s.legal_basis_explanation, s.status)
                                  : std::nullopt) {
      c.method = *own;
      // And the notice it named: a grant written for an older notice, read
      // back after a notice change, is no answer to the re-consent.
      // (Only where the topic has notices: consentd names none otherwise,
      // and a title could end in ", notice …".)
      if (!topic->notice_version.empty()) {
        if (std::optional<std::string> notice = NoticeOfOwnExplanation(s.legal_basis_explanation)) {
          c.notice_version = *notice;
        }
      }
    }
  } else {
    c.status = ConsentStatus::kWithdrawn;
    c.method = ContainsNoCase(s.source_of_status, "UNSUBSCRIBE") ? ConsentMethod::kUnsubscribeLink
                                                                 : ConsentMethod::kApi;
  }
  c.legal_basis = LegalBasisFromHubSpot(s.legal_basis);
  if (c.legal_basis.empty()) c.legal_basis = topic->legal_basis;
  if (!s.legal_basis_explanation.empty()) {
    c.evidence["legal_basis_explanation"] = s.legal_basis_explanation;
  }
  r.changes.push_back(std::move(c));
  return r;
}

MapResult Mapper::FromUnsubscribeAll(const UnsubscribeAll& u) const {
  MapResult r;
  const std::string channel = spec_.CanonicalChannel(u.channel, system_);
  if (channel.empty()) {
    r.notes.push_back("unmapped: HubSpot channel " + u.channel + " is not in the mapping");
    return r;
  }
  const BlockSpec* block = BlockWithSide(spec_, BlockScope::Kind::kChannel, system_);
  if (block == nullptr) {
    r.notes.push_back("unmapped: no channel block has a side in " + system_);
    return r;
  }
  if (!FlowsFrom(block->direction, role_)) {
    r.notes.push_back(NoFlow("block", block->name, "from", system_, block->direction));
    return r;
  }
  Change c = Base(u.timestamp, u.event_id);
  c.kind = u.unsubscribed ? ChangeKind::kBlockSet : ChangeKind::kBlockCleared;
  c.scope = BlockScope::Channel(channel);
  c.block_reason = block->reason;
  r.changes.push_back(std::move(c));
  return r;
}

MapResult Mapper::FromProperty(const PropertyChange& p) const {
  MapResult r;
  for (const BlockSpec& b : spec_.blocks) {
    const auto side = b.sides.find(system_);
    if (side == b.sides.end() || side->second.property != p.property) continue;
    if (!FlowsFrom(b.direction, role_)) {
      r.notes.push_back(NoFlow("block", b.name, "from", system_, b.direction));
      continue;
    }
    Change c = Base(p.timestamp, p.event_id);
    c.kind = p.value == side->second.value ? ChangeKind::kBlockSet : ChangeKind::kBlockCleared;
    c.block_reason = b.reason;
    if (b.scope == BlockScope::Kind::kAddress) {
      auto email = NormaliseEmail(p.email);
      if (!email.ok()) {
        r.notes.push_back("block '" + b.name + "': the contact has no usable e-mail address");
        continue;
      }
      c.scope = BlockScope::Address(*email);
    } else {
      c.scope = BlockScope::All();
    }
    r.changes.push_back(std::move(c));
  }
  if (r.changes.empty() && r.notes.empty()) {
    r.notes.push_back("unmapped: property " + p.property + " is not a block in the mapping");
  }
  return r;
}

Writes Mapper::ToConsent(const ConsentRecord& record) const {
  Writes w;
  const TopicSpec* topic = spec_.FindTopic(record.key.topic);
  const auto b = topic == nullptr ? nullptr : &topic->bindings;
  if (topic == nullptr || !b->contains(system_)) {
    w.notes.push_back("unmapped: topic '" + record.key.topic + "' has no subscription type in " +
                      system_);
    return w;
  }
  if (!FlowsTo(topic->direction, role_)) {
    w.notes.push_back(NoFlow("topic", topic->name, "to", system_, topic->direction));
    return w;
  }
  const auto& subs = b->at(system_).subscriptions;
  const auto id = subs.find(record.key.channel);
  if (id == subs.end()) {
    w.notes.push_back("unmapped: topic '" + topic->name +
                      "' has no subscription type for channel " + record.key.channel + " in " +
                      system_);
    return w;
  }
  StatusWrite s;
  s.subscription_id = id->second;
  s.channel = spec_.NativeChannel(record.key.channel, system_);
  s.captured_at = record.provenance.occurred_at;
  s.reported_back = FlowsFrom(topic->direction, role_);
  s.echo_key = ConsentKeyString(record.key);
  switch (record.status) {
    case ConsentStatus::kGranted:
      s.status_state = SubscriptionState::kSubscribed;
      break;
    case ConsentStatus::kWithdrawn:
    case ConsentStatus::kRefused:
      s.status_state = SubscriptionState::kUnsubscribed;
      break;
    case ConsentStatus::kPending:
      w.notes.push_back("pending for topic '" + topic->name +
                        "': HubSpot has no pending status; written once confirmed");
      return w;
    case ConsentStatus::kNotAsked:
      w.notes.push_back("not_asked for topic '" + topic->name + "' is never written");
      return w;
  }
  const std::string basis = record.legal_basis.empty() ? topic->legal_basis : record.legal_basis;
  const std::string& notice =
      record.notice_version.empty() ? topic->notice_version : record.notice_version;
  s.legal_basis = LegalBasisToHubSpot(basis);
  s.legal_basis_explanation = OwnExplanation(
      s.status_state, (topic->title.empty() ? topic->name : topic->title) +
                          // The notice the person consented to (the record's; a grant kept
                          // from before a notice change names the older one).
                          (notice.empty() ? "" : ", notice " + notice) + ", " + basis + ", via " +
                          std::string(ConsentMethodName(record.method)));
  w.statuses.push_back(std::move(s));
  return w;
}

Writes Mapper::ToBlock(const BlockRecord& block) const {
  Writes w;
  const BlockSpec* spec = BlockWithSide(spec_, block.scope.kind, system_);
  // Never the address itself in a note.
  const std::string scope = block.scope.kind == BlockScope::Kind::kAddress
                                ? std::string("address")
                                : BlockScopeString(block.scope);
  if (spec == nullptr) {
    w.notes.push_back("unmapped: no " + scope + " block has a side in " + system_);
    return w;
  }
  if (!FlowsTo(spec->direction, role_)) {
    w.notes.push_back(NoFlow("block", spec->name, "to", system_, spec->direction));
    return w;
  }
  const BlockSide& side = spec->sides.at(system_);
  if (block.scope.kind == BlockScope::Kind::kChannel) {
    const std::string native = spec_.NativeChannel(block.scope.value, system_);
    if (native.empty()) {
      w.notes.push_back("unmapped: channel " + block.scope.value + " has no name in " + system_);
    } else if (block.active) {
      w.unsubscribe_all.push_back({native});
    } else {
      w.notes.push_back("block '" + spec->name +
                        "' cleared: HubSpot cannot undo unsubscribe-all; "
                        "topics are resubscribed one by one when granted again");
    }
    return w;
  }
  w.properties.push_back({side.property, block.active ? side.value : std::string()});
  return w;
}

Writes Mapper::ToState(const SubjectState& state) const {
  Writes all;
  auto add = [&all](Writes w) {
    all.statuses.insert(all.statuses.end(), w.statuses.begin(), w.statuses.end());
    all.unsubscribe_all.insert(all.unsubscribe_all.end(), w.unsubscribe_all.begin(),
                               w.unsubscribe_all.end());
    all.properties.insert(all.properties.end(), w.properties.begin(), w.properties.end());
    all.notes.insert(all.notes.end(), w.notes.begin(), w.notes.end());
  };
  for (const auto& [key, record] : state.consents) add(ToConsent(record));
  for (const auto& [scope, block] : state.blocks) add(ToBlock(block));
  return all;
}

}  // namespace consentd::mapping::hubspot
