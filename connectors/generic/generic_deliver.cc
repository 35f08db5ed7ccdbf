// Deliver: the desired state of each subject becomes declared writes, one
// per consent record and per block record the mapping binds to this system
// (write.consent / write.block), or an erasure (write.erasure) of the
// person's record and of each other record it names (also_erase_ids). With a
// `batch` form, the records of all items of the call share requests of up
// to max_batch() records. Every request carries an Idempotency-Key derived
// from the outbox row's key and the record, so a retried write is the same
// write (DESIGN rule 6).
//
// An item's outcome is the worst of its requests: blocked_by_target, then
// permanent, then retryable (with the longest Retry-After); writes are
// absolute, so retrying the ones that succeeded is harmless.
#include <algorithm>

#include "connectors/generic/generic_impl.h"
#include "core/keyed_hash.h"

namespace consentd::connectors::generic {
namespace {

using nlohmann::json;

json OrNull(const std::string& s) { return s.empty() ? json() : json(s); }

}  // namespace

struct GenericConnector::Part {
  const config::GenericWrite* write = nullptr;
  std::string what;  // "write.consent", ...
  bool erasure = false;
  bool other_record = false;  // an erasure of another record of the person (also_erase_ids)
  TemplateValues values;
  json body;        // the rendered per-record body (null: none)
  std::string key;  // Idempotency-Key
  Status status;    // of its request
  Outcome outcome = Outcome::kRetryable;
  std::optional<std::chrono::milliseconds> retry_after;
  bool sent = false;
};

struct GenericConnector::Pending {
  const OutboundItem* item = nullptr;
  DeliveryResult result;
  std::vector<Part> parts;
  Status plan_error;
  // The erasure cannot reach this system at all (no write.erasure): the
  // target does not support it, which the erasure request records as
  // `unsupported`, not as a failure a replay could mend.
  bool plan_unsupported = false;
  int consents = 0;
  int blocks = 0;
  std::vector<std::string> skipped;  // records the mapping does not bind here
};

void GenericConnector::Plan(Pending& p) const {
  const DesiredState& d = p.item->desired;
  const std::string& name = settings_.name;
  auto common = [&](const std::string& key) {
    return TemplateValues{{"system_id", OrNull(d.system_id)},
                          {"email", OrNull(d.email)},
                          {"subject", json(d.subject)},
                          {"idempotency_key", json(key)}};
  };
  auto add = [&](const config::GenericWrite& w, std::string what, bool erasure,
                 TemplateValues values, const std::string& key) -> bool {
    Part part;
    part.write = &w;
    part.what = std::move(what);
    part.erasure = erasure;
    part.key = key;
    part.values = std::move(values);
    if (!w.request.body_json.empty()) {
      auto body = RenderJson(json::parse(w.request.body_json), part.values);
      if (!body.ok()) {
        p.plan_error = InvalidArgument(name + " " + part.what + ": " + body.status().message());
        return false;
      }
      part.body = std::move(body).value();
    }
    p.parts.push_back(std::move(part));
    return true;
  };

  if (d.erase) {
    if (!decl_.erasure.request.declared) {
      p.plan_error = BlockedByTarget(name +
                                     ": an erasure is due but the connector declares "
                                     "no write.erasure");
      p.plan_unsupported = true;
      return;
    }
    auto found = spec_->erasure.find(name);
    const std::string mode(mapping::ErasureModeName(
        found != spec_->erasure.end() ? found->second.mode : mapping::ErasureMode::kDelete));
    const std::string key = p.item->idempotency_key + ":erasure";
    TemplateValues v = common(key);
    v["mode"] = mode;
    if (!add(decl_.erasure, "write.erasure", true, std::move(v), key)) return;
    // The person's other records here (two records linked to one person
    // by a merge elsewhere): each erased by its own request, the row done
    // only when all are (an "already gone" answer counts as done).
    for (const auto& [address, id] : d.also_erase_ids) {
      const std::string other_key =
          p.item->idempotency_key + ":erasure:" + Sha256Hex(address).substr(0, 16);
      TemplateValues o = {{"system_id", json(id)},
                          {"email", json(address)},
                          {"subject", json(d.subject)},
                          {"idempotency_key", json(other_key)},
                          {"mode", mode}};
      if (!add(decl_.erasure, "write.erasure", true, std::move(o), other_key)) return;
      p.parts.back().other_record = true;
    }
    return;
  }

  for (const auto& [k, rec] : d.state.consents) {
    const mapping::TopicSpec* topic = spec_->FindTopic(k.topic);
    std::string native;
    if (topic != nullptr) {
      if (auto b = topic->bindings.find(name); b != topic->bindings.end()) {
        native = b->second.native_topic;
      }
    }
    const std::string channel = spec_->NativeChannel(k.channel, name);
    if (native.empty() || channel.empty()) {
      p.skipped.push_back("consent " + k.topic + "/" + k.channel);
      continue;
    }
    std::string status(ConsentStatusName(rec.status));
    if (rec.status == ConsentStatus::kGranted && d.reconsent_topics.contains(k.topic)) {
      status = std::string(ConsentStatusName(ConsentStatus::kPending));
      p.result.reconsent = true;
    }
    const std::string key = p.item->idempotency_key + ":consent:" + native + ":" + channel +
                            (k.address.empty() ? "" : ":" + Sha256Hex(k.address).substr(0, 16));
    TemplateValues v = common(key);
    v["topic"] = native;
    v["channel"] = channel;
    v["address"] = OrNull(k.address);
    v["status"] = status;
    v["legal_basis"] = OrNull(rec.legal_basis);
    v["method"] = std::string(ConsentMethodName(rec.method));
    v["notice_version"] = OrNull(rec.notice_version);
    v["occurred_at"] = FormatRfc3339(rec.provenance.occurred_at);
    v["occurred_at_ms"] = rec.provenance.occurred_at;
    v["canonical_topic"] = k.topic;
    v["canonical_channel"] = k.channel;
    if (!add(decl_.consent, "write.consent", false, std::move(v), key)) return;
    ++p.consents;
  }

  for (const auto& [scope, rec] : d.state.blocks) {
    const mapping::BlockSide* side = nullptr;
    for (const mapping::BlockSpec& b : spec_->blocks) {
      auto it = b.sides.find(name);
      if (b.scope == scope.kind && it != b.sides.end() && !it->second.native_block.empty()) {
        side = &it->second;
        break;
      }
    }
    std::string channel;
    if (scope.kind == BlockScope::Kind::kChannel) channel = spec_->NativeChannel(scope.value, name);
    if (side == nullptr || (scope.kind == BlockScope::Kind::kChannel && channel.empty())) {
      p.skipped.push_back("block " + std::string(BlockScopeKindName(scope.kind)));
      continue;
    }
    if (!decl_.block.request.declared) {
      p.plan_error = FailedPrecondition(name +
                                        ": the mapping sends blocks to this system but the "
                                        "connector declares no write.block");
      return;
    }
    const std::string address = scope.kind == BlockScope::Kind::kAddress ? scope.value : "";
    const std::string key = p.item->idempotency_key + ":block:" + side->native_block +
                            (channel.empty() ? "" : ":" + channel) +
                            (address.empty() ? "" : ":" + Sha256Hex(address).substr(0, 16));
    TemplateValues v = common(key);
    v["block"] = side->native_block;
    v["active"] = rec.active;
    v["scope"] = std::string(BlockScopeKindName(scope.kind));
    v["channel"] = OrNull(channel);
    v["address"] = OrNull(address);
    v["reason"] = std::string(BlockReasonName(rec.reason));
    v["since"] = rec.since != 0 ? json(FormatRfc3339(rec.since)) : json();
    v["until"] = rec.until != 0 ? json(FormatRfc3339(rec.until)) : json();
    v["occurred_at"] = FormatRfc3339(rec.provenance.occurred_at);
    v["occurred_at_ms"] = rec.provenance.occurred_at;
    if (!add(decl_.block, "write.block", false, std::move(v), key)) return;
    ++p.blocks;
  }
}

void GenericConnector::SendSingle(Pending& p, Part& part) {
  const std::string body = part.body.is_null()
                               ? std::string()
                               : part.body.dump(-1, ' ', false, json::error_handler_t::replace);
  Answer a = Send(part.write->request, part.values, body, part.what, part.key, part.erasure);
  part.sent = true;
  part.status = a.status;
  part.outcome = a.outcome;
  part.retry_after = a.retry_after;
  if (a.status.ok() && !part.other_record && !part.write->system_id_pointer.empty()) {
    if (const json* id = AtPointer(a.body, part.write->system_id_pointer);
        id != nullptr && (id->is_string() || id->is_number_integer())) {
      p.result.system_id = id->is_string() ? id->get<std::string>() : id->dump();
    }
  }
}

void GenericConnector::SendBatch(const config::GenericWrite& write, std::string_view what,
                                 std::vector<std::pair<Pending*, Part*>>& parts) {
  json items = json::array();
  std::string keys;
  for (auto& [p, part] : parts) {
    items.push_back(part->body);
    keys += part->key + "\n";
  }
  const std::string key = "batch:" + Sha256Hex(keys).substr(0, 32);
  TemplateValues v = {{"items", std::move(items)},
                      {"count", static_cast<std::int64_t>(parts.size())},
                      {"idempotency_key", key}};
  Answer a;
  auto body = RenderJson(json::parse(write.batch.body_json), v);
  const std::string label = std::string(what) + ".batch";
  if (!body.ok()) {
    a.status = InvalidArgument(settings_.name + " " + label + ": " + body.status().message());
    a.outcome = Outcome::kPermanent;
  } else {
    // Never "already gone": one answer cannot say that of every record in
    // it, and a 404 here is more likely a batch URL the system does not
    // have than a batch of erasures all done before.
    a = Send(write.batch, v, body->dump(-1, ' ', false, json::error_handler_t::replace), label, key,
             /*erasure=*/false);
  }
  for (auto& [p, part] : parts) {
    part->sent = true;
    part->status = a.status;
    part->outcome = a.outcome;
    part->retry_after = a.retry_after;
  }
}

std::vector<DeliveryResult> GenericConnector::Deliver(const std::vector<OutboundItem>& items) {
  std::vector<Pending> pending(items.size());
  for (std::size_t i = 0; i < items.size(); ++i) {
    pending[i].item = &items[i];
    pending[i].result.outbox_id = items[i].outbox_id;
    Plan(pending[i]);
  }
  // Per kind of write: batched when declared, else one request per record.
  const std::pair<const config::GenericWrite*, std::string_view> kinds[] = {
      {&decl_.consent, "write.consent"},
      {&decl_.block, "write.block"},
      {&decl_.erasure, "write.erasure"}};
  const std::size_t chunk = static_cast<std::size_t>(max_batch());
  for (const auto& [write, what] : kinds) {
    std::vector<std::pair<Pending*, Part*>> parts;
    for (Pending& p : pending) {
      if (!p.plan_error.ok()) continue;
      for (Part& part : p.parts) {
        if (part.write == write) parts.emplace_back(&p, &part);
      }
    }
    if (!write->batch.declared) {
      for (auto& [p, part] : parts) SendSingle(*p, *part);
      continue;
    }
    for (std::size_t at = 0; at < parts.size(); at += chunk) {
      std::vector<std::pair<Pending*, Part*>> slice(
          parts.begin() + static_cast<std::ptrdiff_t>(at),
          parts.begin() + static_cast<std::ptrdiff_t>(std::min(parts.size(), at + chunk)));
      SendBatch(*write, what, slice);
    }
  }

  std::vector<DeliveryResult> out;
  for (Pending& p : pending) {
    DeliveryResult& r = p.result;
    if (!p.plan_error.ok()) {
      r.status = p.plan_error;
      r.error_class = p.plan_unsupported ? ErrorClass::kBlockedByTarget : ClassOf(r.status);
      r.detail = r.status.message();
      out.push_back(std::move(r));
      continue;
    }
    const Part* worst = nullptr;
    auto rank = [](Outcome o) {
      switch (o) {
        case Outcome::kBlocked:
          return 3;
        case Outcome::kPermanent:
          return 2;
        case Outcome::kRetryable:
          return 1;
        default:
          return 0;
      }
    };
    for (const Part& part : p.parts) {
      if (rank(part.outcome) == 0) continue;
      if (part.outcome == Outcome::kRetryable && part.retry_after &&
          (!r.retry_after || *r.retry_after < *part.retry_after)) {
        r.retry_after = part.retry_after;
      }
      if (worst == nullptr || rank(part.outcome) > rank(worst->outcome)) worst = &part;
    }
    if (worst != nullptr) {
      r.status = worst->status;
      r.error_class = worst->outcome == Outcome::kBlocked     ? ErrorClass::kBlockedByTarget
                      : worst->outcome == Outcome::kRetryable ? ErrorClass::kRetryable
                                                              : ErrorClass::kPermanent;
      r.detail = worst->status.message();
      r.reconsent = false;
      out.push_back(std::move(r));
      continue;
    }
    r.status = Status::Ok();
    if (p.item->desired.erase) {
      // Already done there when no record of the person was left to erase.
      r.already_gone = std::all_of(p.parts.begin(), p.parts.end(),
                                   [](const Part& part) { return part.outcome == Outcome::kGone; });
      r.detail = p.parts.front().outcome == Outcome::kGone ? "erased (already gone at the target)"
                                                           : "erased";
      if (p.parts.size() > 1) {
        r.detail += " with " + std::to_string(p.parts.size() - 1) + " other record(s)";
      }
    } else {
      r.detail = "wrote " + std::to_string(p.consents) + " consent(s), " +
                 std::to_string(p.blocks) + " block(s)";
      if (!p.skipped.empty()) {
        r.detail += "; not bound here: " + std::to_string(p.skipped.size()) + " record(s)";
      }
    }
    out.push_back(std::move(r));
  }
  return out;
}

}  // namespace consentd::connectors::generic
