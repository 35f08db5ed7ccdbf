// Deliver: desired absolute state -> v4 status batch writes, batch
// unsubscribe-all, contact property PATCHes; erasure by the mapping's mode.
// One bad item must not fail the others: a batch HubSpot refuses as a
// whole is split and sent item by item.
#include <algorithm>
#include <cctype>
#include <cstddef>
#include <functional>
#include <map>
#include <set>
#include <tuple>

#include "connectors/hubspot/hubspot_internal.h"
#include "core/redact.h"

namespace consentd::connectors::hubspot_internal {

namespace hs = mapping::hubspot;

namespace {

const std::string kStatusWritePath = "/communication-preferences/v4/statuses/batch/write";

// The contact id in HubSpot's 409 for a create ("Contact already exists.
// Existing ID: 1001"); empty when the message names none.
std::string ExistingContactId(std::string_view message) {
  constexpr std::string_view kMarker = "Existing ID: ";
  const std::size_t at = message.find(kMarker);
  if (at == std::string_view::npos) return {};
  std::size_t end = at + kMarker.size();
  while (end < message.size() && message[end] >= '0' && message[end] <= '9') ++end;
  return std::string(message.substr(at + kMarker.size(), end - at - kMarker.size()));
}

int Severity(const Status& s) {
  switch (ClassOf(s)) {
    case ErrorClass::kBlockedByTarget:
      return 3;
    case ErrorClass::kPermanent:
      return 2;
    case ErrorClass::kRetryable:
      return 1;
  }
  return 1;
}

std::string Lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

// `text` names `address` as a whole: not as the tail of a longer local
// part ("ba@x.com" does not name "a@x.com") nor as the head of a longer
// domain ("a@x.com.au" does not either).
bool NamesAddress(std::string_view text, std::string_view address) {
  auto part_of_address = [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) != 0 ||
           std::string_view(".!#$%&'*+-/=?^_`{|}~@").find(c) != std::string_view::npos;
  };
  for (size_t at = text.find(address); at != std::string_view::npos;
       at = text.find(address, at + 1)) {
    const size_t end = at + address.size();
    const bool starts = at == 0 || !part_of_address(text[at - 1]);
    // A dot that ends a sentence is not part of the domain.
    const bool ends =
        end == text.size() || !part_of_address(text[end]) ||
        (text[end] == '.' && (end + 1 == text.size() || !part_of_address(text[end + 1])));
    if (starts && ends) return true;
  }
  return false;
}

}  // namespace

// The work of one Deliver call. Items are indexed by their position.
class Delivery {
 public:
  Delivery(const HubSpotConnector& c, const std::vector<OutboundItem>& items)
      : c_(c),
        items_(items),
        results_(items.size()),
        writes_(items.size()),
        phones_(items.size()),
        erase_(items.size(), false) {}

  std::vector<DeliveryResult> Run();

 private:
  struct Input {
    json value;              // one element of the request's `inputs`
    std::string subscriber;  // lower-cased, to attribute errors
    size_t owner = 0;        // item index
  };

  void Fail(size_t i, Status s, std::optional<std::chrono::milliseconds> retry_after = {});
  bool Failed(size_t i) const { return !results_[i].status.ok(); }
  void Note(size_t i, const std::string& text) { details_[i].push_back(text); }

  void Plan();
  void PlanErasure(size_t i, mapping::ErasureMode mode);
  void LookUpContacts();
  void KeepNewerWithdrawals();
  void SendStatuses();
  void SendUnsubscribeAll();
  void SendProperties();
  void SkipErasuresOfMissingContacts();
  void SendGdprDeletes();
  void FillSystemIds();
  // Sends `inputs` to `path` in chunks; attributes failures to owners.
  void SendBatch(const std::string& path, std::vector<Input> inputs, bool split_allowed);
  // The `source` of a status this write changed, from a status write's
  // answer (KeepNewerWithdrawals tells consentd's own writes by it). A
  // status the write did not change (NO_STATUS_CHANGE) may keep the source
  // of whoever set it, so it teaches nothing.
  void LearnOwnSource(const json& body) const {
    if (!body.is_object()) return;
    for (const json& r : ArrayAt(body, "results")) {
      if (!r.is_object() || StringAt(r, "setStatusSuccessReason") == "NO_STATUS_CHANGE" ||
          !StringAt(r, "legalBasisExplanation").starts_with(hs::kOwnExplanationPrefix)) {
        continue;
      }
      c_.LearnOwnStatusSource(StringAt(r, "source"));
      return;
    }
  }
  std::string Subscriber(size_t i, const std::string& channel) const {
    return channel == "EMAIL" ? email_[i] : phones_[i];
  }
  // The subscriber (lower-cased) whose statuses KeepNewerWithdrawals reads
  // before item `i` writes `s`; empty when `s` is not guarded: not a grant,
  // a topic whose HubSpot changes do not flow back, or a person with no
  // HubSpot contact linked (a first write, as in an initial sync: nothing
  // there to keep, and no read to pay for).
  std::string GuardedSubscriber(size_t i, const hs::StatusWrite& s) const {
    if (Failed(i) || items_[i].desired.system_id.empty() ||
        s.status_state != hs::SubscriptionState::kSubscribed || !s.reported_back) {
      return {};
    }
    return Lower(Subscriber(i, s.channel));
  }

  // An erasure that keeps the contact (restrict, anonymize).
  bool KeepsTheContact(size_t i) const { return items_[i].desired.erase && !erase_[i]; }

  const HubSpotConnector& c_;
  const std::vector<OutboundItem>& items_;
  std::vector<DeliveryResult> results_;
  std::vector<hs::Writes> writes_;
  std::vector<std::string> email_;
  std::vector<std::string> phones_;
  std::vector<bool> erase_;  // delete mode: gdpr-delete
  std::vector<std::vector<std::string>> details_;
  std::vector<std::map<std::string, std::string>> extra_properties_;  // anonymize
};

void Delivery::Fail(size_t i, Status s, std::optional<std::chrono::milliseconds> retry_after) {
  DeliveryResult& r = results_[i];
  if (!r.status.ok() && Severity(r.status) >= Severity(s)) return;
  r.error_class = ClassOf(s);
  r.status = std::move(s);
  r.retry_after = retry_after;
}

std::vector<DeliveryResult> Delivery::Run() {
  email_.resize(items_.size());
  details_.resize(items_.size());
  extra_properties_.resize(items_.size());
  for (size_t i = 0; i < items_.size(); ++i) {
    results_[i].outbox_id = items_[i].outbox_id;
    results_[i].system_id = items_[i].desired.system_id;
    email_[i] = items_[i].desired.email;
  }
  try {
    Plan();
    SkipErasuresOfMissingContacts();
    LookUpContacts();
    KeepNewerWithdrawals();
    SendStatuses();  // before unsubscribe-all: a SUBSCRIBED write lifts it (v4)
    SendUnsubscribeAll();
    SendProperties();
    SendGdprDeletes();
    FillSystemIds();
  } catch (const json::exception& e) {
    // An answer of an unexpected shape: what was not confirmed is retried.
    for (size_t i = 0; i < items_.size(); ++i) {
      Fail(i, Unavailable(std::string("HubSpot answered unexpectedly: ") + e.what()));
    }
  }
  for (size_t i = 0; i < items_.size(); ++i) {
    std::string detail;
    for (const auto& d : details_[i]) detail += (detail.empty() ? "" : "; ") + d;
    if (detail.empty()) detail = "nothing to write";
    results_[i].detail = MaskEmailsInText(detail);
  }
  return std::move(results_);
}

void Delivery::Plan() {
  const mapping::MappingSpec& spec = *c_.spec_;
  auto er = spec.erasure.find(c_.settings_.name);
  const mapping::ErasureMode mode =
      er == spec.erasure.end() ? mapping::ErasureMode::kDelete : er->second.mode;
  for (size_t i = 0; i < items_.size(); ++i) {
    const DesiredState& d = items_[i].desired;
    if (d.erase) {
      PlanErasure(i, mode);
      continue;
    }
    hs::Writes w = c_.mapper_.ToState(d.state);
    // A channel that is unsubscribed from all gets no SUBSCRIBED write: v4
    // would lift the unsubscribe-all, and the flip would be echoed.
    std::set<std::string> blocked;
    for (const auto& u : w.unsubscribe_all) blocked.insert(u.channel);
    std::erase_if(w.statuses, [&](const hs::StatusWrite& s) {
      return blocked.contains(s.channel) && s.status_state == hs::SubscriptionState::kSubscribed;
    });
    for (const auto& n : w.notes) Note(i, n);
    if (!d.reconsent_topics.empty()) {
      Note(i,
           "re-consent requested: HubSpot has no API double opt-in; granted topics are "
           "written as SUBSCRIBED");
    }
    writes_[i] = std::move(w);
  }
}

// restrict: every mapped subscription type UNSUBSCRIBED, unsubscribe-all on
// the channel block's channels, every block property set. anonymize: the
// same, and the contact's name and phone properties cleared (the address
// stays: HubSpot keys statuses by it). delete: gdpr-delete.
void Delivery::PlanErasure(size_t i, mapping::ErasureMode mode) {
  if (mode == mapping::ErasureMode::kDelete) {
    erase_[i] = true;
    return;
  }
  const mapping::MappingSpec& spec = *c_.spec_;
  hs::Writes w;
  for (const mapping::TopicSpec& t : spec.topics) {
    auto b = t.bindings.find(c_.settings_.name);
    if (b == t.bindings.end()) continue;
    for (const auto& [channel, id] : b->second.subscriptions) {
      hs::StatusWrite s;
      s.subscription_id = id;
      s.channel = spec.NativeChannel(channel, c_.settings_.name);
      s.status_state = hs::SubscriptionState::kUnsubscribed;
      s.legal_basis_explanation =
          hs::OwnExplanation(s.status_state, "erasure requested (" +
                                                 std::string(mapping::ErasureModeName(mode)) + ")");
      if (!s.channel.empty()) w.statuses.push_back(std::move(s));
    }
  }
  for (const std::string& ch : c_.wide_channels_) w.unsubscribe_all.push_back({ch});
  for (const mapping::BlockSpec& b : spec.blocks) {
    auto side = b.sides.find(c_.settings_.name);
    if (side == b.sides.end() || side->second.property.empty()) continue;
    w.properties.push_back({side->second.property, side->second.value});
  }
  if (mode == mapping::ErasureMode::kAnonymize) {
    for (const char* p : {"firstname", "lastname", "phone", "mobilephone"}) {
      extra_properties_[i][p] = "";
    }
  }
  Note(i, std::string("erasure (") + std::string(mapping::ErasureModeName(mode)) +
              "): every mapped subscription unsubscribed, blocks set" +
              (mode == mapping::ErasureMode::kAnonymize ? ", name and phone cleared" : ""));
  writes_[i] = std::move(w);
}

// A restrict or anonymize erasure writes statuses and properties to the
// person's contact, and HubSpot creates a contact for an address it is
// written to. When the contact is gone (deleted in HubSpot, its webhook
// lost), those writes would put the address back into the CRM, the
// opposite of the erasure: it is looked up first (by id when linked, which
// also finds it after a merge, as the survivor; else by address) and,
// when gone, nothing is written and the erasure counts as already done.
// Erasures are rare: one read each.
void Delivery::SkipErasuresOfMissingContacts() {
  for (size_t i = 0; i < items_.size(); ++i) {
    if (Failed(i) || !KeepsTheContact(i)) continue;
    const bool by_id = !results_[i].system_id.empty();
    if (!by_id && email_[i].empty()) continue;  // LookUpContacts fails it
    std::optional<std::chrono::milliseconds> wait;
    auto found =
        c_.ReadContacts({by_id ? results_[i].system_id : email_[i]}, /*by_email=*/!by_id, &wait);
    if (!found.ok()) {
      Fail(i, found.status(), wait);
      continue;
    }
    if (!found->found.empty()) continue;
    if (!found->failed.empty()) {  // not known to be gone
      Fail(i, Unavailable(found->failed.begin()->second));
      continue;
    }
    writes_[i] = hs::Writes{};
    extra_properties_[i].clear();
    results_[i].already_gone = true;
    Note(i, "no contact to restrict: gone from HubSpot, nothing written, none created");
  }
}

// Items without an address (only the contact id known) and items with
// statuses or an unsubscribe-all on a phone channel need the contact.
void Delivery::LookUpContacts() {
  std::vector<size_t> need;
  std::vector<std::string> ids, emails;
  for (size_t i = 0; i < items_.size(); ++i) {
    // A channel block alone needs it too: grants on a blocked channel are
    // filtered out before delivery, so an SMS block is often the item's only
    // SMS content.
    const bool phone =
        std::any_of(writes_[i].statuses.begin(), writes_[i].statuses.end(),
                    [](const hs::StatusWrite& s) { return s.channel != "EMAIL"; }) ||
        std::any_of(writes_[i].unsubscribe_all.begin(), writes_[i].unsubscribe_all.end(),
                    [](const hs::UnsubscribeAllWrite& u) { return u.channel != "EMAIL"; });
    if (email_[i].empty() && results_[i].system_id.empty()) {
      Fail(i, InvalidArgument("neither an e-mail address nor a HubSpot contact id is known"));
      continue;
    }
    // Nothing to look up for an erasure by gdpr-delete (by id when known:
    // a contact gone is done, not a failure) or one whose contact is gone
    // (SkipErasuresOfMissingContacts).
    if (Failed(i) || erase_[i] || results_[i].already_gone) continue;
    if (email_[i].empty() || phone) need.push_back(i);
  }
  if (need.empty()) return;
  for (size_t i : need) {
    if (email_[i].empty()) {
      ids.push_back(results_[i].system_id);
    } else {
      emails.push_back(email_[i]);
    }
  }
  // A failed read keeps the answer's Retry-After for the rows it fails:
  // they are not to be tried sooner than the vendor asked.
  std::optional<std::chrono::milliseconds> wait_by_id, wait_by_email;
  auto by_id = c_.ReadContacts(ids, false, &wait_by_id);
  auto by_email = c_.ReadContacts(emails, true, &wait_by_email);
  for (size_t i : need) {
    const bool use_id = email_[i].empty();
    const auto& batch = use_id ? by_id : by_email;
    if (!batch.ok()) {
      Fail(i, batch.status(), use_id ? wait_by_id : wait_by_email);
      continue;
    }
    const Contact* found = nullptr;
    for (const Contact& c : batch->found) {
      if (use_id ? c.id == results_[i].system_id : Lower(c.email) == Lower(email_[i])) {
        found = &c;
      }
    }
    if (found == nullptr) {
      // HubSpot failed this input (not "not found"): only this row waits.
      if (const std::string* why = batch->FailureOf(use_id ? results_[i].system_id : email_[i])) {
        Fail(i, Unavailable(*why));
        continue;
      }
    }
    if (found == nullptr) {
      if (use_id) Fail(i, NotFound("HubSpot contact " + results_[i].system_id + " not found"));
      continue;  // by address: a status write creates the contact
    }
    if (email_[i].empty()) email_[i] = found->email;
    phones_[i] = found->phone;
    results_[i].system_id = found->id;
  }
}

// HubSpot keeps the last status written, and a write carries every mapped
// subscription of the person. A SUBSCRIBED write states a grant captured
// at `captured_at`; if someone other than consentd (the person's
// unsubscribe link, a form, a HubSpot user) has set UNSUBSCRIBED since
// then, or within the skew window before (a withdrawal wins ties), consentd
// has not decided that change yet or it would not be granting. Written
// over, the withdrawal would be gone, and HubSpot's read-back would show
// consentd's value. So the statuses of every subscriber with a SUBSCRIBED
// write are read first (one batch read per channel and 100 subscribers)
// and such an input is left out: HubSpot's report of the change decides
// it. Only subscriptions whose changes flow back into consentd are
// guarded; a topic HubSpot only receives is written as before. A read that
// fails retryably fails the items it was for (nothing is written blind;
// they are retried); a read refused for good is split per subscriber, and a
// subscriber that cannot be read alone, or that the answer leaves out, is
// written unguarded (the write then succeeds or fails on its own), except
// one left out by a 207 failing it on HubSpot's side: its items wait, as
// for a retryable failure. A value
// left out is reported in `kept_out`, so that consentd forgets its memory
// of writing it. The window left is the time between this read and the
// write.
void Delivery::KeepNewerWithdrawals() {
  std::map<std::string, std::set<std::string>> by_channel;  // channel -> subscribers
  // (channel, subscriber) -> the first item that writes a guarded grant there
  std::map<std::pair<std::string, std::string>, size_t> first_owner;
  for (size_t i = 0; i < items_.size(); ++i) {
    for (const hs::StatusWrite& s : writes_[i].statuses) {
      const std::string sub = GuardedSubscriber(i, s);
      if (sub.empty()) continue;
      by_channel[s.channel].insert(sub);
      first_owner.try_emplace({s.channel, sub}, i);
    }
  }
  if (by_channel.empty()) return;
  // (channel, subscriber, subscription id) -> the status HubSpot holds now
  std::map<std::tuple<std::string, std::string, std::int64_t>, hs::SubscriptionStatus> current;
  // (channel, subscriber) -> why it could not be read
  std::map<std::pair<std::string, std::string>, ApiError> unread;
  // Reads the statuses of `subs` on `channel` into `current`.
  const std::function<void(const std::string&, std::vector<std::string>)> read =
      [&](const std::string& channel, std::vector<std::string> subs) {
        json inputs = json::array();
        for (const std::string& sub : subs) inputs.push_back(sub);
        HubSpotConnector::CallResult r = c_.Call(
            "POST",
            "/communication-preferences/v4/statuses/batch/read?channel=" + UrlEncode(channel),
            json{{"inputs", inputs}});
        if (!r.ok() && !r.error.status.IsRetryable()) {
          // A refused credential is no subscriber's: not read one by one.
          if (subs.size() > 1 && !IsCredentialRefusal(r.error.status)) {
            for (std::string& sub : subs) read(channel, {std::move(sub)});
            return;
          }
          std::set<size_t> owners;
          for (const std::string& sub : subs) owners.insert(first_owner.at({channel, sub}));
          for (size_t owner : owners) {
            Note(owner, "statuses on " + channel + " not read (" + r.error.status.message() +
                            "): written unguarded");
          }
          return;
        }
        if (!r.ok() || !r.reply->body.is_object()) {
          const ApiError why =
              r.ok() ? ApiError{Unavailable("HubSpot status read: no JSON body"), {}} : r.error;
          for (const std::string& sub : subs) unread[{channel, sub}] = why;
          return;
        }
        std::set<std::string> answered;
        for (const json& res : ArrayAt(r.reply->body, "results")) {
          if (!res.is_object()) continue;
          const std::string sub = Lower(StringAt(res, "subscriberIdString"));
          answered.insert(sub);
          const auto list = res.find("statuses");
          if (list == res.end() || !list->is_array()) continue;
          for (const json& j : *list) {
            if (!j.is_object()) continue;
            hs::SubscriptionStatus st = StatusFromJson(j);
            current[{channel, sub, st.subscription_id}] = std::move(st);
          }
        }
        // A 207 failing subscribers on HubSpot's side: those without a
        // result are not known to hold nothing (written unguarded, a grant
        // could undo a newer unsubscribe there). They wait, as for a
        // failed read. (An input HubSpot refuses for what it is does not.)
        for (const json& e : ArrayAt(r.reply->body, "errors")) {
          if (!e.is_object()) continue;
          const std::string category = StringAt(e, "category");
          if (category == "OBJECT_NOT_FOUND" || category == "VALIDATION_ERROR") continue;
          const ApiError why{Unavailable("HubSpot status read: " +
                                         (category.empty() ? std::string("error") : category) +
                                         ": " + MaskEmailsInText(StringAt(e, "message"))),
                             {}};
          for (const std::string& sub : subs) {
            if (!answered.contains(Lower(sub))) unread[{channel, sub}] = why;
          }
          break;
        }
      };
  for (const auto& [channel, subscribers] : by_channel) {
    const std::vector<std::string> all(subscribers.begin(), subscribers.end());
    for (size_t start = 0; start < all.size(); start += kApiBatchLimit) {
      const auto first = all.begin() + static_cast<std::ptrdiff_t>(start);
      const size_t n = std::min<size_t>(kApiBatchLimit, all.size() - start);
      read(channel, std::vector<std::string>(first, first + static_cast<std::ptrdiff_t>(n)));
    }
  }
  const std::string own_source = c_.OwnStatusSource();
  const auto skew = static_cast<TimestampMs>(c_.spec_->skew_window.count());
  for (size_t i = 0; i < items_.size(); ++i) {
    if (Failed(i)) continue;  // a failed read above may have failed it
    std::erase_if(writes_[i].statuses, [&](const hs::StatusWrite& s) {
      const std::string sub = GuardedSubscriber(i, s);
      if (sub.empty()) return false;
      if (const auto bad = unread.find({s.channel, sub}); bad != unread.end()) {
        Fail(i, bad->second.status, bad->second.retry_after);
        return false;
      }
      const auto it = current.find({s.channel, sub, s.subscription_id});
      if (it == current.end()) return false;
      const hs::SubscriptionStatus& now = it->second;
      if (now.status != hs::SubscriptionState::kUnsubscribed) return false;
      // consentd's own write: the reconciler already ordered it. Once a
      // write has taught consentd its status source, the source says whose
      // a status is: a change by anyone else that kept consentd's
      // explanation has another source, and consentd's unsubscribe-all
      // (a channel block) leaves each topic UNSUBSCRIBED under whatever
      // explanation it had, a grant's or a form's. The source is kept
      // across restarts (LearntState); until one was ever learnt (a new
      // installation) the explanation says it, naming the state it wrote
      // (hs::OwnExplanation).
      const bool own = own_source.empty()
                           ? hs::WriterOfExplanation(now.legal_basis_explanation, now.status) !=
                                 hs::ExplanationWriter::kOther
                           : now.source_of_status == own_source;
      if (own || now.timestamp + skew < s.captured_at) return false;
      results_[i].kept_out.push_back(s.echo_key);
      Note(i, "subscription " + std::to_string(s.subscription_id) +
                  "=SUBSCRIBED not written: HubSpot holds UNSUBSCRIBED set at " +
                  std::to_string(now.timestamp) + " (source " + now.source_of_status +
                  "), not before the grant captured at " + std::to_string(s.captured_at) +
                  "; read again and decided");
      return true;
    });
    // Every value kept out and nothing else to write: HubSpot is left as it
    // was, and the proof log must not say the row was written.
    const hs::Writes& w = writes_[i];
    results_[i].nothing_written = !results_[i].kept_out.empty() && w.statuses.empty() &&
                                  w.unsubscribe_all.empty() && w.properties.empty() &&
                                  extra_properties_[i].empty();
  }
}

void Delivery::SendStatuses() {
  std::vector<Input> inputs;
  for (size_t i = 0; i < items_.size(); ++i) {
    if (Failed(i)) continue;
    int written = 0;
    for (const hs::StatusWrite& s : writes_[i].statuses) {
      const std::string sub = Subscriber(i, s.channel);
      if (sub.empty()) {
        Note(i, "subscription " + std::to_string(s.subscription_id) + " on " + s.channel +
                    " not written: the contact has no " +
                    (s.channel == "EMAIL" ? "e-mail address" : "phone number"));
        continue;
      }
      json in = {{"subscriberIdString", sub},
                 {"channel", s.channel},
                 {"statusState", std::string(hs::SubscriptionStateName(s.status_state))},
                 {"subscriptionId", s.subscription_id}};
      if (!s.legal_basis.empty()) in["legalBasis"] = s.legal_basis;
      if (!s.legal_basis_explanation.empty()) {
        in["legalBasisExplanation"] = s.legal_basis_explanation;
      }
      inputs.push_back({std::move(in), Lower(sub), i});
      ++written;
    }
    if (written > 0) {
      std::string what;
      for (const hs::StatusWrite& s : writes_[i].statuses) {
        what += (what.empty() ? "" : ", ") + std::to_string(s.subscription_id) + "=" +
                std::string(hs::SubscriptionStateName(s.status_state));
      }
      Note(i, "statuses " + what);
    }
  }
  SendBatch(kStatusWritePath, std::move(inputs), true);
}

void Delivery::SendUnsubscribeAll() {
  std::map<std::string, std::vector<Input>> by_channel;
  for (size_t i = 0; i < items_.size(); ++i) {
    if (Failed(i)) continue;
    for (const hs::UnsubscribeAllWrite& u : writes_[i].unsubscribe_all) {
      const std::string sub = Subscriber(i, u.channel);
      if (sub.empty()) {
        Note(i, "unsubscribe-all on " + u.channel + " not written: no subscriber address");
        continue;
      }
      by_channel[u.channel].push_back({json(sub), Lower(sub), i});
      Note(i, "unsubscribe-all " + u.channel);
    }
  }
  for (auto& [channel, inputs] : by_channel) {
    SendBatch("/communication-preferences/v4/statuses/batch/unsubscribe-all?channel=" +
                  UrlEncode(channel),
              std::move(inputs), true);
  }
}

namespace {

// One input's error in a batch answer (a 207), classed by its category as
// the reads class them: a refusal of the input itself (blocklisted:
// blocked; VALIDATION_ERROR, OBJECT_NOT_FOUND, CONFLICT or none: permanent)
// or HubSpot failing on its side (INTERNAL_ERROR and the rest: retried; a
// rate limit: retried as one).
Status InputErrorStatus(const json& error, std::string msg) {
  if (IsGdprBlocklisted(error)) return BlockedByTarget(std::move(msg));
  const std::string category = StringAt(error, "category");
  if (category.empty() || category == "VALIDATION_ERROR" || category == "OBJECT_NOT_FOUND" ||
      category == "CONFLICT") {
    return InvalidArgument(std::move(msg));
  }
  if (category == "RATE_LIMITS") return ResourceExhausted(std::move(msg));
  return Unavailable(std::move(msg));
}

}  // namespace

void Delivery::SendBatch(const std::string& path, std::vector<Input> inputs, bool split_allowed) {
  for (size_t start = 0; start < inputs.size(); start += kApiBatchLimit) {
    const size_t end = std::min(inputs.size(), start + kApiBatchLimit);
    std::vector<Input> chunk;
    std::set<size_t> owners;
    for (size_t k = start; k < end; ++k) {
      if (Failed(inputs[k].owner)) continue;
      chunk.push_back(inputs[k]);
      owners.insert(inputs[k].owner);
    }
    if (chunk.empty()) continue;
    json list = json::array();
    for (const Input& in : chunk) list.push_back(in.value);
    HubSpotConnector::CallResult r = c_.Call("POST", path, json{{"inputs", list}});
    auto split = [&] {
      // One bad input fails the whole batch: send each item alone so the
      // others go through and the bad one gets its own error.
      for (size_t owner : owners) {
        std::vector<Input> mine;
        for (const Input& in : chunk) {
          if (in.owner == owner) mine.push_back(in);
        }
        SendBatch(path, std::move(mine), false);
      }
    };
    if (!r.ok()) {
      // A refused credential is no input's fault: split, it would cost one
      // call per item, for every batch, at every retry.
      if (!r.error.status.IsRetryable() && !IsCredentialRefusal(r.error.status) && split_allowed &&
          owners.size() > 1) {
        split();
      } else {
        for (size_t owner : owners) Fail(owner, r.error.status, r.error.retry_after);
      }
      continue;
    }
    const json& body = r.reply->body;
    if (path == kStatusWritePath) LearnOwnSource(body);
    const json& errors = ArrayAt(body, "errors");
    if (errors.empty()) continue;
    // Partial failure (207): attribute each error to the inputs it names.
    std::set<size_t> unattributed = owners;
    bool all_attributed = true;
    for (const json& e : errors) {
      const std::string text = Lower(e.dump());
      std::set<size_t> hit;
      for (const Input& in : chunk) {
        if (!in.subscriber.empty() && NamesAddress(text, in.subscriber)) {
          hit.insert(in.owner);
        }
      }
      if (hit.empty()) {
        all_attributed = false;
        continue;
      }
      const std::string msg =
          "HubSpot " + path.substr(0, path.find('?')) + " refused an input: " + VendorMessage(e);
      for (size_t owner : hit) Fail(owner, InputErrorStatus(e, msg));
    }
    if (!all_attributed) {
      if (split_allowed && owners.size() > 1) {
        // Writes are absolute and idempotent: resending the good ones is safe.
        std::vector<Input> rest;
        for (const Input& in : chunk) {
          if (!Failed(in.owner)) rest.push_back(in);
        }
        std::set<size_t> rest_owners;
        for (const Input& in : rest) rest_owners.insert(in.owner);
        for (size_t owner : rest_owners) {
          std::vector<Input> mine;
          for (const Input& in : rest) {
            if (in.owner == owner) mine.push_back(in);
          }
          SendBatch(path, std::move(mine), false);
        }
      } else {
        const std::string msg = "HubSpot " + path.substr(0, path.find('?')) +
                                " refused an input: " + VendorMessage(errors[0]);
        for (size_t owner : owners) {
          if (!Failed(owner)) Fail(owner, InputErrorStatus(errors[0], msg));
        }
      }
    }
  }
}

void Delivery::SendProperties() {
  for (size_t i = 0; i < items_.size(); ++i) {
    if (Failed(i)) continue;
    json props = json::object();
    for (const hs::PropertyWrite& p : writes_[i].properties) props[p.property] = p.value;
    for (const auto& [k, v] : extra_properties_[i]) props[k] = v;
    if (props.empty()) continue;
    std::string what;
    for (const hs::PropertyWrite& p : writes_[i].properties) {
      what += (what.empty() ? "" : ", ") + p.property + "=" + (p.value.empty() ? "\"\"" : p.value);
    }
    // The linked contact by its id first: the address consentd holds can be
    // one the contact no longer has (changed in HubSpot, not read yet), and
    // by that address the block would go to another contact, or create one.
    // Gone by id (deleted, or an id HubSpot no longer knows): by address.
    HubSpotConnector::CallResult r;
    const bool by_id = !results_[i].system_id.empty();
    if (by_id) {
      r = c_.Call("PATCH", "/crm/v3/objects/contacts/" + UrlEncode(results_[i].system_id),
                  json{{"properties", props}});
    }
    const bool by_address = !by_id || (!r.ok() && r.error.status.code() == StatusCode::kNotFound);
    if (by_address && email_[i].empty()) {
      Fail(i, by_id ? r.error.status
                    : InvalidArgument("no e-mail address to write contact properties to"));
      continue;
    }
    const std::string patch_path =
        "/crm/v3/objects/contacts/" + UrlEncode(email_[i]) + "?idProperty=email";
    if (by_address) r = c_.Call("PATCH", patch_path, json{{"properties", props}});
    if (by_address && !r.ok() && r.error.status.code() == StatusCode::kNotFound) {
      // No contact with that address yet: create it with the properties.
      json create = props;
      create["email"] = email_[i];
      // `associations` is required by the spec's create input (none here).
      r = c_.Call("POST", "/crm/v3/objects/contacts",
                  json{{"properties", create}, {"associations", json::array()}});
      if (!r.ok() && r.error.status.code() == StatusCode::kAlreadyExists) {
        // Someone created it since the PATCH (a form, an import), or the
        // address is a contact's secondary one, which the PATCH by email
        // does not find: 409 "Contact already exists. Existing ID: N".
        // The properties go to that contact (by the address again when the
        // answer names none); if it is gone again, the row is retried
        // rather than failing for good.
        const std::string existing = ExistingContactId(r.error.status.message());
        r = c_.Call("PATCH", existing.empty() ? patch_path : "/crm/v3/objects/contacts/" + existing,
                    json{{"properties", props}});
        if (!r.ok() && r.error.status.code() == StatusCode::kNotFound) {
          r.error.status = Unavailable(
              "HubSpot: creating the contact answered that it exists, and writing to it that "
              "it does not (deleted meanwhile?)");
        }
      } else {
        what += " (contact created)";
      }
    }
    if (!r.ok()) {
      Fail(i, r.error.status, r.error.retry_after);
      continue;
    }
    if (r.reply->body.is_object() && r.reply->body.contains("id")) {
      results_[i].system_id = ContactFromJson(r.reply->body).id;
    }
    if (!what.empty()) Note(i, "properties " + what);
  }
}

void Delivery::SendGdprDeletes() {
  for (size_t i = 0; i < items_.size(); ++i) {
    if (!erase_[i] || Failed(i)) continue;
    // The linked contact by its id first: the address consentd holds can
    // be one the contact no longer has (changed in HubSpot, not read yet),
    // and HubSpot answers a delete by such an address 204 (it blocklists
    // it) while the contact stays. Gone by id: by the address, which
    // deletes any contact that has it and blocklists it. Its 204 does not
    // say whether there was one, so that counts as done, not as already
    // gone.
    HubSpotConnector::CallResult r;
    bool by_id_gone = false;
    if (!results_[i].system_id.empty()) {
      r = c_.Call("POST", "/crm/v3/objects/contacts/gdpr-delete",
                  json{{"objectId", results_[i].system_id}});
      by_id_gone = !r.ok() && r.error.status.code() == StatusCode::kNotFound;
    }
    if (results_[i].system_id.empty() || (by_id_gone && !email_[i].empty())) {
      json body = email_[i].empty() ? json{{"objectId", results_[i].system_id}}
                                    : json{{"objectId", email_[i]}, {"idProperty", "email"}};
      r = c_.Call("POST", "/crm/v3/objects/contacts/gdpr-delete", body);
      if (r.ok() && by_id_gone) {
        Note(i,
             "gdpr-delete: the linked contact was gone; by the address instead (any contact "
             "with it deleted, the address blocklisted)");
        continue;
      }
    }
    if (!r.ok() && r.error.status.code() != StatusCode::kNotFound) {
      Fail(i, r.error.status, r.error.retry_after);
      continue;
    }
    Note(i, r.ok() ? "gdpr-delete: contact permanently deleted, address blocklisted"
                   : "gdpr-delete: the contact was already gone");
    if (!r.ok()) results_[i].already_gone = true;
  }
}

// Best effort: the engine links the contact id; a failure here does not
// undo the writes.
void Delivery::FillSystemIds() {
  std::vector<std::string> emails;
  for (size_t i = 0; i < items_.size(); ++i) {
    if (!Failed(i) && !erase_[i] && results_[i].system_id.empty() && !email_[i].empty()) {
      emails.push_back(email_[i]);
    }
  }
  if (emails.empty()) return;
  auto batch = c_.ReadContacts(emails, true);
  if (!batch.ok()) return;
  for (size_t i = 0; i < items_.size(); ++i) {
    if (Failed(i) || erase_[i] || !results_[i].system_id.empty()) continue;
    for (const Contact& c : batch->found) {
      if (Lower(c.email) == Lower(email_[i])) results_[i].system_id = c.id;
    }
  }
}

std::string HubSpotConnector::OwnStatusSource() const {
  std::lock_guard lock(own_source_mu_);
  return own_status_source_;
}

void HubSpotConnector::LearnOwnStatusSource(const std::string& source) const {
  if (source.empty()) return;
  std::lock_guard lock(own_source_mu_);
  own_status_source_ = source;
}

void HubSpotConnector::RestoreLearntState(const std::string& state) {
  std::lock_guard lock(own_source_mu_);
  if (own_status_source_.empty()) own_status_source_ = state;
}

void HubSpotConnector::TakeOverMemory(const Connector& previous) {
  // The instance a reload replaces knew the source HubSpot gives consentd's
  // writes: without it, until the daemon reads it back from the store,
  // a person's change keeping consentd's explanation passes for its own.
  if (const auto* old = dynamic_cast<const HubSpotConnector*>(&previous)) {
    RestoreLearntState(old->OwnStatusSource());
  }
}

std::vector<DeliveryResult> HubSpotConnector::Deliver(const std::vector<OutboundItem>& items) {
  return Delivery(*this, items).Run();
}

}  // namespace consentd::connectors::hubspot_internal
