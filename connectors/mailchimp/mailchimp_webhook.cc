// Mailchimp webhooks: authenticated by the secret in the URL (Mailchimp
// does not sign), form-encoded, and only a hint: the record is re-read
// through the API before anything is decided (connector.h).
#include "connectors/common/webhook_signatures.h"
#include "connectors/mailchimp/connector_impl.h"
#include "connectors/mailchimp/wire_format.h"
#include "core/keyed_hash.h"
#include "core/normalise.h"
#include "core/proof/bytes.h"

namespace consentd::connectors::mailchimp {
namespace {

using Fields = std::vector<std::pair<std::string, std::string>>;

const std::string* FieldOf(const Fields& fields, std::string_view name) {
  for (const auto& [k, v] : fields) {
    if (k == name) return &v;
  }
  return nullptr;
}

// The secret query parameter of the request itself, as sent (not yet
// decoded). Never the public URL's: that is consentd's own configuration
// (`webhook_url` holds the secret), so taking it from there would let a
// request without any secret through.
std::optional<std::string_view> RawSecretOf(std::string_view query) {
  while (!query.empty()) {
    const size_t amp = query.find('&');
    const std::string_view part = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    const size_t eq = part.find('=');
    if (eq != std::string_view::npos && net::UrlDecode(part.substr(0, eq)) == "secret") {
      return part.substr(eq + 1);
    }
  }
  return std::nullopt;
}

// Whether the sent secret is the configured one. A '+' in a query is a
// space to a form decoder, but an operator who registered
// `?secret=ab+c` (base64 secrets hold '+') means the '+': both readings are
// compared, each in constant time and both always.
bool SecretMatches(std::string_view raw, std::string_view configured) {
  const bool as_form = ConstantTimeEquals(net::UrlDecode(raw, true), configured);
  const bool as_sent = ConstantTimeEquals(net::UrlDecode(raw, false), configured);
  return as_form || as_sent;
}

// A required address field: its raw value (hashed as Mailchimp does) and
// its normalised form.
Status AddressField(const Fields& fields, const char* name, std::string& raw,
                    std::string& normalised) {
  const std::string* v = FieldOf(fields, name);
  if (v == nullptr || v->empty()) {
    return InvalidArgument(std::string("mailchimp webhook: field ") + name + " is missing");
  }
  auto email = NormaliseEmail(*v);
  if (!email.ok()) {
    return InvalidArgument(std::string("mailchimp webhook: field ") + name +
                           " is not a usable address: " + email.status().message());
  }
  // Mailchimp hashes the address as it holds it (trimmed, case-folded).
  const size_t b = v->find_first_not_of(" \t");
  raw = v->substr(b, v->find_last_not_of(" \t") - b + 1);
  normalised = *email;
  return Status::Ok();
}

// {"type": "subscribe", "data": {"email": ..., "merges": {"FNAME": ...}}}
// -> type=subscribe, data[email]=..., data[merges][FNAME]=... (the form
// fields Mailchimp posts).
void FlattenJson(const nlohmann::json& j, const std::string& prefix, Fields& out) {
  if (j.is_object()) {
    for (auto it = j.begin(); it != j.end(); ++it) {
      FlattenJson(*it, prefix.empty() ? it.key() : prefix + "[" + it.key() + "]", out);
    }
  } else if (j.is_array()) {
    for (size_t i = 0; i < j.size(); ++i) {
      FlattenJson(j[i], prefix + "[" + std::to_string(i) + "]", out);
    }
  } else if (j.is_string()) {
    out.emplace_back(prefix, j.get<std::string>());
  } else if (!j.is_null()) {
    out.emplace_back(prefix, j.dump());
  }
}

}  // namespace

Result<std::vector<RecordRef>> MailchimpConnector::ParseWebhook(const net::HttpRequest& req,
                                                                std::string_view /*public_url*/,
                                                                TimestampMs now) const {
  // Authenticate before looking at the body.
  const std::optional<std::string_view> secret = RawSecretOf(req.query);
  if (settings_.webhook_secret.empty()) {
    return Unauthenticated("mailchimp webhook: no webhook secret is configured");
  }
  if (!secret) return Unauthenticated("mailchimp webhook: the secret query parameter is missing");
  if (!SecretMatches(*secret, settings_.webhook_secret)) {
    return Unauthenticated("mailchimp webhook: wrong secret");
  }

  if (auto ct = req.Header("Content-Type");
      ct && LowerAscii(*ct).rfind("application/x-www-form-urlencoded", 0) != 0) {
    return InvalidArgument(
        "mailchimp webhook: Content-Type must be application/x-www-form-urlencoded");
  }
  return ParseEventFields(net::ParseQuery(req.body), req.body, now);
}

Result<std::vector<RecordRef>> MailchimpConnector::ParseWebhookUnverified(std::string_view body,
                                                                          TimestampMs now) const {
  const size_t first = body.find_first_not_of(" \t\r\n");
  if (first == std::string_view::npos || body[first] != '{') {
    return ParseEventFields(net::ParseQuery(body), body, now);
  }
  // A JSON rendering of the form fields (as webhook inspectors show them).
  const nlohmann::json j = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return InvalidArgument("mailchimp webhook: body is not JSON");
  Fields fields;
  FlattenJson(j, "", fields);
  return ParseEventFields(fields, body, now);
}

Result<std::vector<RecordRef>> MailchimpConnector::ParseEventFields(const Fields& fields,
                                                                    std::string_view body,
                                                                    TimestampMs now) const {
  const std::string* type = FieldOf(fields, "type");
  if (type == nullptr || type->empty()) {
    return InvalidArgument("mailchimp webhook: field type is missing");
  }
  // Another audience's webhook sent to this URL says nothing about ours.
  if (const std::string* list = FieldOf(fields, "data[list_id]");
      list != nullptr && !list->empty() && *list != settings_.list_id) {
    return std::vector<RecordRef>{};
  }

  RecordRef ref;
  // Mailchimp sends no event id: the body (type, fired_at, data) is the
  // event, so a re-delivery of the same body is the same event. Keyed (by
  // the webhook secret), not a plain hash: event ids stay in the proof log
  // after an erasure, and a plain hash of a body that holds the address
  // would let anyone who can rebuild the body confirm a guess.
  Result<std::string> mac = HmacSha256(settings_.webhook_secret, body);
  if (!mac.ok()) return mac.status();
  ref.event_id = "mc:" + proof::HexEncode(*mac);
  ref.occurred_at = now;
  if (const std::string* fired = FieldOf(fields, "fired_at"); fired != nullptr) {
    auto t = ParseDateTime(*fired);
    if (!t) return InvalidArgument("mailchimp webhook: field fired_at is not a date-time");
    ref.occurred_at = *t;
  }

  std::string raw;
  if (*type == "subscribe" || *type == "unsubscribe" || *type == "profile" || *type == "cleaned") {
    CONSENTD_RETURN_IF_ERROR(AddressField(fields, "data[email]", raw, ref.email));
    const std::string* action = FieldOf(fields, "data[action]");
    ref.hint = *type == "unsubscribe" && action != nullptr && *action == "delete"
                   ? RecordHint::kDeleted
                   : RecordHint::kChanged;
  } else if (*type == "upemail") {
    CONSENTD_RETURN_IF_ERROR(AddressField(fields, "data[new_email]", raw, ref.email));
    std::string old_raw;
    CONSENTD_RETURN_IF_ERROR(AddressField(fields, "data[old_email]", old_raw, ref.old_email));
    ref.hint = RecordHint::kEmailChanged;
    // The old member's hash, from the address as Mailchimp held it: the
    // normalised form (an internationalised domain as its A-label) hashes
    // differently. Kept with the hint, which is stored before the read.
    ref.merged_ids = {SubscriberHash(old_raw)};
  } else {
    // campaign and any future type: not about a member's consent.
    return std::vector<RecordRef>{};
  }
  ref.system_id = SubscriberHash(raw);
  return std::vector<RecordRef>{std::move(ref)};
}

}  // namespace consentd::connectors::mailchimp
