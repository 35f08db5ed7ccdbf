// `connectors.<name>:` of kind generic (issue #9, docs/connectors-generic.md):
// how consentd writes to, polls and checks a system that speaks its open
// event protocol, declared instead of coded. Read and validated by
// config/generic_connector_section.cc; used by connectors/generic.
//
// Templates are kept as written (placeholders checked by the loader), body
// templates as JSON text; JSON pointers are checked to be well-formed.
// Plain values, part of config::ConnectorConfig.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "config/diagnostics.h"

namespace consentd::config {

// One HTTP request, declared.
struct GenericRequest {
  bool declared = false;
  std::string method = "GET";  // GET POST PUT PATCH DELETE
  std::string url;             // template; "/..." is appended to base_url, else absolute
  std::vector<std::pair<std::string, std::string>> headers;  // value templates
  std::string body_json;                                     // JSON template text; empty: no body
  bool body_written = false;                                 // `body:` present (even if invalid)
  Position at;

  // The same request, wherever in the file it is declared (reload).
  bool operator==(const GenericRequest& o) const {
    return declared == o.declared && method == o.method && url == o.url && headers == o.headers &&
           body_json == o.body_json && body_written == o.body_written;
  }
};

// `write.consent|block|erasure`.
struct GenericWrite {
  GenericRequest request;
  std::string system_id_pointer;  // the target's id in a 2xx response; optional
  GenericRequest batch;           // optional; its body holds "{items}"

  bool operator==(const GenericWrite&) const = default;
};

// One response matcher: an HTTP status range and, optionally, a value the
// JSON body holds at `pointer` (compared as JSON; `equals_json` is JSON text).
struct GenericResponseRule {
  int status_min = 0;
  int status_max = 0;
  std::string pointer;      // empty: status only
  std::string equals_json;  // with pointer; empty: the pointer must exist

  bool operator==(const GenericResponseRule&) const = default;
};

struct GenericResponses {
  std::vector<GenericResponseRule> retryable;
  std::vector<GenericResponseRule> permanent;
  std::vector<GenericResponseRule> blocked_by_target;
  std::vector<GenericResponseRule> already_gone;  // erasure: done
  // `already_gone` was written, even as `[]` (then no answer is "already
  // gone"); unwritten, the default 404 and 410 apply.
  bool already_gone_written = false;

  bool operator==(const GenericResponses&) const = default;
};

enum class GenericAuthKind { kNone, kBearer, kBasic, kApiKey, kStandardWebhooks };

struct GenericAuth {
  GenericAuthKind kind = GenericAuthKind::kNone;
  std::string secret_file;  // token_file | password_file | key_file | secret_file (resolved)
  std::string username;     // basic
  std::string header;       // api_key

  bool operator==(const GenericAuth&) const = default;
};

// How an item (of a poll page or a read) becomes a protocol event: per
// event field, a JSON pointer into the item or a constant.
struct GenericItemField {
  std::string field;       // "id", "type", ..., "data/topic"
  std::string pointer;     // set, or
  std::string const_json;  // a constant, JSON text

  bool operator==(const GenericItemField&) const = default;
};

struct GenericPoll {
  bool declared = false;
  GenericRequest request;  // url with {cursor} {since} {until} {since_ms} {until_ms}
  std::string items_pointer;
  std::string next_cursor_pointer;  // optional
  std::string more_pointer;         // optional
  std::vector<GenericItemField> item;

  bool operator==(const GenericPoll&) const = default;
};

struct GenericRead {
  bool declared = false;
  GenericRequest request;  // {system_id} {email}
  std::string items_pointer;

  bool operator==(const GenericRead&) const = default;
};

struct GenericListTopics {
  bool declared = false;
  GenericRequest request;
  std::string items_pointer;
  std::string id_pointer;
  std::string name_pointer;     // optional
  std::string channel_pointer;  // optional

  bool operator==(const GenericListTopics&) const = default;
};

struct GenericConnectorConfig {
  std::vector<std::string> webhook_secret_files;  // resolved; any verifies
  GenericAuth auth;
  GenericWrite consent;
  GenericWrite block;
  GenericWrite erasure;
  GenericResponses responses;
  GenericPoll poll;
  GenericRead read;
  GenericRequest check;
  GenericListTopics list_topics;

  bool operator==(const GenericConnectorConfig&) const = default;
};

}  // namespace consentd::config
