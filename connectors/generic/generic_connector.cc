// Generic connector: construction, the HTTP call (auth, signing, the
// declared classification), webhooks, Read, Check, the `consentctl map`
// entry points and ListNativeTopics. Deliver and Poll have their own files.
#include <algorithm>

#include "connectors/common/retry_policy.h"
#include "connectors/common/webhook_signatures.h"
#include "connectors/generic/generic_impl.h"
#include "core/keyed_hash.h"
#include "core/proof/bytes.h"

namespace consentd::connectors {

std::unique_ptr<Connector> MakeGenericConnector(GenericSettings s,
                                                std::shared_ptr<const mapping::MappingSpec> spec,
                                                HttpClient& http) {
  return std::make_unique<generic::GenericConnector>(std::move(s), std::move(spec), http);
}

namespace generic {
namespace {

using nlohmann::json;
constexpr int kDefaultBatch = 100;

std::string AsText(const json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_null()) return "";
  return v.dump(-1, ' ', false, json::error_handler_t::replace);
}

bool Matches(const config::GenericResponseRule& rule, int status, const json& body) {
  if (status < rule.status_min || status > rule.status_max) return false;
  if (rule.pointer.empty()) return true;
  const json* v = AtPointer(body, rule.pointer);
  if (v == nullptr) return false;
  if (rule.equals_json.empty()) return true;
  const json want = json::parse(rule.equals_json, nullptr, false);
  // `equals: 409` matches 409 and "409": the declaration is YAML, the
  // system's JSON may quote numbers.
  return *v == want || (!v->is_structured() && AsText(*v) == AsText(want));
}

bool Any(const std::vector<config::GenericResponseRule>& rules, int status, const json& body) {
  return std::any_of(rules.begin(), rules.end(), [&](const config::GenericResponseRule& r) {
    return Matches(r, status, body);
  });
}

std::string TrimSlash(std::string url) {
  while (!url.empty() && url.back() == '/') url.pop_back();
  return url;
}

}  // namespace

const json* AtPointer(const json& j, const std::string& pointer) {
  if (pointer.empty()) return &j;
  try {
    const json::json_pointer p(pointer);
    if (!j.contains(p)) return nullptr;
    return &j.at(p);
  } catch (const json::exception&) {
    return nullptr;
  }
}

Outcome Classify(const config::GenericResponses& rules, int status, const json& body,
                 bool erasure) {
  if (Any(rules.blocked_by_target, status, body)) return Outcome::kBlocked;
  if (erasure) {
    if (!rules.already_gone_written ? (status == 404 || status == 410)
                                    : Any(rules.already_gone, status, body)) {
      return Outcome::kGone;
    }
  }
  if (Any(rules.retryable, status, body)) return Outcome::kRetryable;
  if (Any(rules.permanent, status, body)) return Outcome::kPermanent;
  if (status >= 200 && status < 300) return Outcome::kOk;
  if (status == 408 || status == 425 || status == 429 || status >= 500) return Outcome::kRetryable;
  return Outcome::kPermanent;
}

GenericConnector::GenericConnector(GenericSettings s,
                                   std::shared_ptr<const mapping::MappingSpec> spec,
                                   HttpClient& http)
    : settings_(std::move(s)), spec_(std::move(spec)), http_(http), decl_(settings_.declaration) {
  settings_.base_url = TrimSlash(settings_.base_url);
}

int GenericConnector::max_batch() const {
  return settings_.batch_size > 0 ? settings_.batch_size : kDefaultBatch;
}

Answer GenericConnector::Send(const config::GenericRequest& request, const TemplateValues& values,
                              const std::string& body, std::string_view what,
                              const std::string& idempotency_key, bool erasure) {
  Answer a;
  const std::string label = settings_.name + " " + std::string(what);
  auto path = RenderText(request.url, values, TemplateEscape::kUrlComponent,
                         /*null_is_error=*/true);
  if (!path.ok()) {
    a.status = FailedPrecondition(label + ": " + path.status().message());
    a.outcome = Outcome::kPermanent;
    return a;
  }
  OutboundRequest req;
  req.method = request.method;
  req.url = path->starts_with("/") ? settings_.base_url + *path : *path;
  req.timeout = settings_.timeout;
  req.headers.emplace_back("Accept", "application/json");
  for (const auto& [name, value] : request.headers) {
    auto v = RenderText(value, values, TemplateEscape::kHeader);
    if (!v.ok()) {
      a.status = InvalidArgument(label + ": header " + name + ": " + v.status().message());
      a.outcome = Outcome::kPermanent;
      return a;
    }
    req.headers.emplace_back(name, *v);
  }
  if (!body.empty()) {
    req.headers.emplace_back("Content-Type", "application/json");
    req.body = body;
  }
  if (!idempotency_key.empty()) req.headers.emplace_back("Idempotency-Key", idempotency_key);
  switch (decl_.auth.kind) {
    case config::GenericAuthKind::kNone:
      break;
    case config::GenericAuthKind::kBearer:
      req.headers.emplace_back("Authorization", "Bearer " + settings_.auth_secret);
      break;
    case config::GenericAuthKind::kBasic:
      req.headers.emplace_back(
          "Authorization",
          "Basic " + proof::Base64Encode(decl_.auth.username + ":" + settings_.auth_secret));
      break;
    case config::GenericAuthKind::kApiKey:
      req.headers.emplace_back(decl_.auth.header, settings_.auth_secret);
      break;
    case config::GenericAuthKind::kStandardWebhooks: {
      const std::int64_t ts = clock_.NowMs() / 1000;
      // A retried write keeps its id (the receiver may dedupe on it); other
      // requests get one per call.
      const std::string id =
          "msg_" + (idempotency_key.empty()
                        ? Sha256Hex(req.method + " " + req.url + " " + std::to_string(ts))
                        : Sha256Hex(idempotency_key))
                       .substr(0, 32);
      auto sig = StandardWebhooksSign(settings_.auth_secret, id, ts, req.body);
      if (!sig.ok()) {
        a.status = FailedPrecondition(label + ": cannot sign: " + sig.status().message());
        a.outcome = Outcome::kPermanent;
        return a;
      }
      req.headers.emplace_back("webhook-id", id);
      req.headers.emplace_back("webhook-timestamp", std::to_string(ts));
      req.headers.emplace_back("webhook-signature", *sig);
      break;
    }
  }

  auto sent = http_.Send(req);
  if (!sent.ok()) {
    a.status = sent.status().WithContext(label);
    a.outcome =
        ClassOf(a.status) == ErrorClass::kRetryable ? Outcome::kRetryable : Outcome::kPermanent;
    return a;
  }
  const net::HttpResponse& r = *sent;
  a.http_status = r.status;
  a.body = json::parse(r.body, nullptr, /*allow_exceptions=*/false);
  if (a.body.is_discarded()) a.body = nullptr;
  a.retry_after = RetryAfterOfAnswer(net::FindHeader(r.headers, "Retry-After"),
                                     net::FindHeader(r.headers, "Date"), clock_.NowMs());
  a.outcome = Classify(decl_.responses, r.status, a.body, erasure);
  const std::string summary = label + ": answered " + std::to_string(r.status);
  switch (a.outcome) {
    case Outcome::kOk:
    case Outcome::kGone:
      a.status = Status::Ok();
      break;
    case Outcome::kRetryable:
      a.status = r.status == 429 ? ResourceExhausted(summary + " (rate limited)")
                                 : Unavailable(summary + " (retryable)");
      break;
    case Outcome::kBlocked:
      a.status = BlockedByTarget(summary + ": the target refuses this transition");
      break;
    case Outcome::kPermanent:
      // A 401 or 403 is the credential's (the daemon retries such rows
      // until the target takes a delivery), unless the declaration lists
      // that answer as permanent: then it is the row's (a dead letter).
      if (Any(decl_.responses.permanent, r.status, a.body)) {
        a.status = InvalidArgument(summary + " (permanent)");
        break;
      }
      a.status = r.status == 401   ? Unauthenticated(summary)
                 : r.status == 403 ? Status(StatusCode::kPermissionDenied, summary)
                 : r.status == 404 ? NotFound(summary)
                                   : InvalidArgument(summary + " (permanent)");
      break;
  }
  return a;
}

// ---- Webhooks ----

Result<std::vector<RecordRef>> GenericConnector::RefsOf(std::string_view body) const {
  auto events = ParseEvents(body);
  if (!events.ok()) return events.status();
  std::vector<RecordRef> refs;
  for (const ProtocolEvent& e : *events) {
    RecordRef ref;
    ref.event_id = e.id;
    ref.system_id = e.system_id;
    ref.email = e.email;
    ref.occurred_at = e.occurred_at;
    ref.event_json = EventJson(e).dump(-1, ' ', false, json::error_handler_t::replace);
    if (e.type == kSubjectErased) {
      ref.hint = RecordHint::kPrivacyDeletion;
    } else if (e.type == kSubjectMerged) {
      ref.hint = RecordHint::kMerged;
      if (const json* ids = AtPointer(e.data, "/merged_ids"); ids && ids->is_array()) {
        for (const json& id : *ids) ref.merged_ids.push_back(AsText(id));
      }
    } else if (e.type == kIdentityChanged) {
      ref.hint = RecordHint::kEmailChanged;
      if (const json* old = AtPointer(e.data, "/old_email")) ref.old_email = AsText(*old);
    }
    refs.push_back(std::move(ref));
  }
  return refs;
}

Result<std::vector<RecordRef>> GenericConnector::ParseWebhook(const net::HttpRequest& req,
                                                              std::string_view /*public_url*/,
                                                              TimestampMs now) const {
  if (Status s = VerifyEventRequest(req, settings_.webhook_secrets, now); !s.ok()) return s;
  return RefsOf(req.body);
}

Result<std::vector<RecordRef>> GenericConnector::ParseWebhookUnverified(std::string_view body,
                                                                        TimestampMs) const {
  return RefsOf(body);
}

// ---- Read ----

InboundRecord GenericConnector::RecordOf(const ProtocolEvent& e, bool signed_event) const {
  InboundRecord r;
  r.event_id = e.id;
  r.system_id = e.system_id;
  r.email = e.email;
  // A protocol event (a webhook's, or a poll item of the change feed) shows
  // its record as of when the person acted, however late consentd reads
  // it: a record retired after then is not made live again by it. A read's
  // answer shows the record now: Read clears this for the daemon to stamp.
  r.read_at = e.occurred_at;
  if (e.type == kSubjectMerged) {
    if (const json* ids = AtPointer(e.data, "/merged_ids"); ids && ids->is_array()) {
      for (const json& id : *ids) r.merged_ids.push_back(AsText(id));
    }
  }
  r.mapped = MapEvent(e, *spec_, settings_.name);
  if (signed_event) {
    for (Change& c : r.mapped.changes) c.signature_scheme = std::string(kSignatureScheme);
  }
  return r;
}

std::vector<InboundRecord> GenericConnector::RecordsOf(const json& items,
                                                       bool signed_events) const {
  std::vector<InboundRecord> out;
  const json one = json::array({items});
  const json& list = items.is_array() ? items : one;
  for (std::size_t i = 0; i < list.size(); ++i) {
    const json event = ItemEvent(decl_.poll.item, list[i]);
    auto e = ParseEvent(event);
    if (!e.ok()) {
      InboundRecord bad;
      bad.event_id = AsText(event.value("id", json()));
      if (const json* sid = AtPointer(event, "/subject/id")) bad.system_id = AsText(*sid);
      bad.mapped.notes.push_back("skipped item " + std::to_string(i) + ": " + e.status().message());
      out.push_back(std::move(bad));
      continue;
    }
    out.push_back(RecordOf(*e, signed_events));
  }
  return out;
}

Result<std::vector<InboundRecord>> GenericConnector::Read(const std::vector<RecordRef>& refs) {
  std::vector<InboundRecord> out;
  for (const RecordRef& ref : refs) {
    if (!ref.event_json.empty()) {
      const json j = json::parse(ref.event_json, nullptr, /*allow_exceptions=*/false);
      auto e = ParseEvent(j);
      if (!e.ok()) {
        InboundRecord bad;
        bad.event_id = ref.event_id;
        bad.system_id = ref.system_id;
        bad.mapped.notes.push_back("stored event unreadable: " + e.status().message());
        out.push_back(std::move(bad));
        continue;
      }
      out.push_back(RecordOf(*e, /*signed_event=*/true));
      continue;
    }
    if (!decl_.read.declared) continue;  // nothing to re-read it with
    TemplateValues v = {{"system_id", ref.system_id.empty() ? json() : json(ref.system_id)},
                        {"email", ref.email.empty() ? json() : json(ref.email)}};
    Answer a = Send(decl_.read.request, v, "", "read", "", false);
    if (a.outcome == Outcome::kRetryable) return a.status;
    if (!a.status.ok()) {
      InboundRecord bad;
      bad.event_id = ref.event_id;
      bad.system_id = ref.system_id;
      bad.mapped.notes.push_back("read refused: " + a.status.message());
      out.push_back(std::move(bad));
      continue;
    }
    const json* items = AtPointer(a.body, decl_.read.items_pointer);
    if (items == nullptr) continue;
    for (InboundRecord& r : RecordsOf(*items, false)) {
      // The record as it is now, whatever its items' dates (a record added
      // again after consentd retired it may carry an older consent date):
      // as of the read, which the daemon stamps (StampReadAt).
      r.read_at = 0;
      out.push_back(std::move(r));
    }
  }
  return out;
}

Result<std::vector<InboundRecord>> GenericConnector::MapRecordPayload(std::string_view text) const {
  const json j = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return InvalidArgument("payload is not JSON");
  // A protocol event (or {"events": [...]}) as sent to the webhook, else a
  // poll item (or a list of them) as the poll declaration reads it.
  const bool event_shaped =
      j.is_object() && (j.contains("events") || (j.contains("type") && j.contains("data")));
  if (event_shaped || !decl_.poll.declared) {
    auto events = ParseEvents(text);
    if (!events.ok()) return events.status();
    std::vector<InboundRecord> out;
    for (const ProtocolEvent& e : *events) out.push_back(RecordOf(e, false));
    return out;
  }
  std::vector<InboundRecord> out = RecordsOf(j, false);
  if (out.size() == 1 && out[0].mapped.changes.empty() && !out[0].mapped.notes.empty() &&
      out[0].mapped.notes[0].starts_with("skipped")) {
    return InvalidArgument(out[0].mapped.notes[0]);
  }
  return out;
}

// ---- Check, ListNativeTopics ----

Status GenericConnector::Check() {
  if (!decl_.check.declared) return Status::Ok();  // nothing declared to check with
  Answer a = Send(decl_.check, {}, "", "check", "", false);
  return a.status;
}

Result<std::vector<NativeTopic>> GenericConnector::ListNativeTopics() {
  if (!decl_.list_topics.declared) {
    // (StatusCode has no Unimplemented; FailedPrecondition: the declaration lacks it.)
    return FailedPrecondition(
        "connector " + settings_.name + " declares no list_topics: add connectors." +
        settings_.name + ".list_topics (docs/connectors-generic.md) to list the system's topics");
  }
  Answer a = Send(decl_.list_topics.request, {}, "", "list_topics", "", false);
  if (!a.status.ok()) return a.status;
  const json* items = AtPointer(a.body, decl_.list_topics.items_pointer);
  if (items == nullptr || !items->is_array()) {
    return InvalidArgument(settings_.name + " list_topics: the answer holds no list at \"" +
                           decl_.list_topics.items_pointer + "\"");
  }
  std::vector<NativeTopic> out;
  for (const json& item : *items) {
    NativeTopic t;
    const json* id = AtPointer(item, decl_.list_topics.id_pointer);
    if (id == nullptr) continue;
    t.id = AsText(*id);
    if (const json* n = AtPointer(item, decl_.list_topics.name_pointer);
        n && !decl_.list_topics.name_pointer.empty()) {
      t.name = AsText(*n);
    }
    if (const json* c = AtPointer(item, decl_.list_topics.channel_pointer);
        c && !decl_.list_topics.channel_pointer.empty()) {
      t.channel = AsText(*c);
    }
    for (const mapping::TopicSpec& topic : spec_->topics) {
      auto b = topic.bindings.find(settings_.name);
      if (b != topic.bindings.end() && b->second.native_topic == t.id) t.mapped = true;
    }
    out.push_back(std::move(t));
  }
  return out;
}

}  // namespace generic
}  // namespace consentd::connectors
