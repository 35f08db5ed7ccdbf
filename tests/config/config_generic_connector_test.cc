// `connectors.<name>:` of kind generic (docs/connectors-generic.md): every
// key read into GenericConnectorConfig, and each kind of mistake refused at
// its own FILE:LINE:COLUMN with a suggestion where one helps.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "config/config.h"
#include "tests/config/temp_dir.h"

namespace consentd::config {
namespace {

using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using testing::TempDir;

// Lines 1-13: store and a mapping with the generic system `crm` alone.
constexpr char kHead[] =
    "store: {path: /srv/consentd/c.db}\n"                                         // 1
    "mapping:\n"                                                                  // 2
    "  systems:\n"                                                                // 3
    "    crm: {kind: generic, role: crm}\n"                                       // 4
    "  channels:\n"                                                               // 5
    "    email: {crm: mail}\n"                                                    // 6
    "  topics:\n"                                                                 // 7
    "    - name: newsletter\n"                                                    // 8
    "      channels: [email]\n"                                                   // 9
    "      systems: {crm: {topic: nl}}\n"                                         // 10
    "  blocks: [{name: werbesperre, scope: all, systems: {crm: {block: ad}}}]\n"  // 11
    "  erasure: {crm: {mode: delete}}\n"                                          // 12
    "connectors:\n";                                                              // 13

// A full declaration, from line 14.
constexpr char
    kFull
        [] = "  crm:\n"                                                                  // 14
             "    kind: generic\n"                                                       // 15
             "    base_url: http://127.0.0.1:8480/api/\n"                                // 16
             "    webhook_secret_files: [whsec_new, whsec_old]\n"                        // 17
             "    auth:\n"                                                               // 18
             "      bearer: {token_file: crm_token}\n"                                   // 19
             "    batch_size: 50\n"                                                      // 20
             "    write:\n"                                                              // 21
             "      consent:\n"                                                          // 22
             "        method: PUT\n"                                                     // 23
             "        url: /contacts/{email}/topics/{topic}/{channel}\n"                 // 24
             "        headers: {X-Source: consentd, X-Subject: '{subject}'}\n"           // 25
             "        body:\n"                                                           // 26
             "          status: '{status}'\n"                                            // 27
             "          at: '{occurred_at_ms}'\n"                                        // 28
             "          note: 'set {{by}} consentd for {email}'\n"                       // 29
             "          fixed: 3\n"                                                      // 30
             "          flag: true\n"                                                    // 31
             "          text: '3'\n"                                                     // 32
             "        system_id: /id\n"                                                  // 33
             "        batch:\n"                                                          // 34
             "          method: POST\n"                                                  // 35
             "          url: /consents/batch\n"                                          // 36
             "          body: {items: '{items}', n: '{count}'}\n"                        // 37
             "      block:\n"                                                            // 38
             "        method: PATCH\n"                                                   // 39
             "        url: /contacts/{email}/blocks/{block}\n"                           // 40
             "        body: {active: '{active}', channel: '{channel}'}\n"                // 41
             "      erasure: {method: DELETE, url: '/contacts/{email}?mode={mode}'}\n"   // 42
             "    responses:\n"                                                          // 43
             "      retryable: [429, 5xx]\n"                                             // 44
             "      permanent: ['400-499']\n"                                            // 45
             "      blocked_by_target:\n"                                                // 46
             "        - {status: 409, pointer: /error/code, equals: refused}\n"          // 47
             "      already_gone: [404, 410]\n"                                          // 48
             "    poll:\n"                                                               // 49
             "      url: /changes?cursor={cursor}&since={since}\n"                       // 50
             "      items: /items\n"                                                     // 51
             "      next_cursor: /next\n"                                                // 52
             "      more: /has_more\n"                                                   // 53
             "      item:\n"                                                             // 54
             "        id: /change_id\n"                                                  // 55
             "        type: {const: consent.changed}\n"                                  // 56
             "        occurred_at: /at\n"                                                // 57
             "        system_id: /contact\n"                                             // 58
             "        email: /email\n"                                                   // 59
             "        data: {topic: /thema, channel: {const: mail}, status: /status}\n"  // 60
             "    read: {url: '/contacts/{system_id}/changes', items: /items}\n"         // 61
             "    check: {method: GET, url: /health}\n"                                  // 62
             "    list_topics: {url: /topics, items: '', id: /name, name: /title, channel: "
             "/channel}\n";  // 63

class ConfigGenericConnector : public ::testing::Test {
 protected:
  ConfigGenericConnector() {
    for (const char* f : {"whsec_new", "whsec_old"}) {
      creds_.Write(f, "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw");
    }
    for (const char* f : {"crm_token", "crm_password", "crm_key"}) creds_.Write(f, "x");
  }

  Result<Config> Load(const std::string& yaml) {
    return LoadConfigString(yaml, "t.yaml", LoadOptions{creds_.path()});
  }

  std::vector<std::string> Errors(const std::string& yaml) {
    std::vector<std::string> lines;
    Result<Config> r = Load(yaml);
    if (r.ok()) return lines;
    std::istringstream in(r.status().message());
    for (std::string line; std::getline(in, line);) lines.push_back(line);
    return lines;
  }

  // kHead + kFull with `from` replaced by `to` (once; it must occur).
  static std::string With(const std::string& from, const std::string& to) {
    std::string yaml = std::string(kHead) + kFull;
    const auto at = yaml.find(from);
    EXPECT_NE(at, std::string::npos) << from;
    if (at != std::string::npos) yaml.replace(at, from.size(), to);
    return yaml;
  }

  TempDir creds_;
};

TEST_F(ConfigGenericConnector, FullDeclarationIsReadIntoItsFields) {
  Result<Config> r = Load(std::string(kHead) + kFull);
  ASSERT_TRUE(r.ok()) << r.status().message();
  const ConnectorConfig& c = r->connectors.at("crm");
  const GenericConnectorConfig& g = c.generic;
  EXPECT_EQ(c.kind, mapping::ConnectorKind::kGeneric);
  EXPECT_EQ(c.batch_size, 50);
  EXPECT_EQ(c.rate_limit.max_in_flight, 10);
  ASSERT_EQ(g.webhook_secret_files.size(), 2u);
  EXPECT_EQ(g.webhook_secret_files[0], creds_.path() + "/whsec_new");
  EXPECT_EQ(g.auth.kind, GenericAuthKind::kBearer);
  EXPECT_EQ(g.auth.secret_file, creds_.path() + "/crm_token");

  EXPECT_TRUE(g.consent.request.declared);
  EXPECT_EQ(g.consent.request.method, "PUT");
  EXPECT_EQ(g.consent.request.url, "/contacts/{email}/topics/{topic}/{channel}");
  EXPECT_THAT(g.consent.request.headers,
              ElementsAre(std::pair<std::string, std::string>{"X-Source", "consentd"},
                          std::pair<std::string, std::string>{"X-Subject", "{subject}"}));
  // Quoted scalars stay strings; plain ones take their YAML type.
  EXPECT_EQ(nlohmann::json::parse(g.consent.request.body_json),
            nlohmann::json({{"status", "{status}"},
                            {"at", "{occurred_at_ms}"},
                            {"note", "set {{by}} consentd for {email}"},
                            {"fixed", 3},
                            {"flag", true},
                            {"text", "3"}}));
  EXPECT_EQ(g.consent.system_id_pointer, "/id");
  EXPECT_TRUE(g.consent.batch.declared);
  EXPECT_EQ(g.consent.batch.method, "POST");
  EXPECT_EQ(g.block.request.method, "PATCH");
  EXPECT_FALSE(g.block.batch.declared);
  EXPECT_EQ(g.erasure.request.method, "DELETE");

  ASSERT_EQ(g.responses.retryable.size(), 2u);
  EXPECT_EQ(g.responses.retryable[1].status_min, 500);
  EXPECT_EQ(g.responses.retryable[1].status_max, 599);
  ASSERT_EQ(g.responses.permanent.size(), 1u);
  EXPECT_EQ(g.responses.permanent[0].status_min, 400);
  EXPECT_EQ(g.responses.permanent[0].status_max, 499);
  ASSERT_EQ(g.responses.blocked_by_target.size(), 1u);
  EXPECT_EQ(g.responses.blocked_by_target[0].pointer, "/error/code");
  EXPECT_EQ(g.responses.blocked_by_target[0].equals_json, "\"refused\"");
  EXPECT_EQ(g.responses.already_gone.size(), 2u);
  EXPECT_TRUE(g.responses.already_gone_written);

  EXPECT_TRUE(g.poll.declared);
  EXPECT_EQ(g.poll.items_pointer, "/items");
  EXPECT_EQ(g.poll.next_cursor_pointer, "/next");
  EXPECT_EQ(g.poll.more_pointer, "/has_more");
  ASSERT_EQ(g.poll.item.size(), 8u);
  EXPECT_EQ(g.poll.item[1].field, "type");
  EXPECT_EQ(g.poll.item[1].const_json, "\"consent.changed\"");
  EXPECT_EQ(g.poll.item[5].field, "data/topic");
  EXPECT_EQ(g.poll.item[5].pointer, "/thema");
  EXPECT_TRUE(g.read.declared);
  EXPECT_EQ(g.read.items_pointer, "/items");
  EXPECT_TRUE(g.check.declared);
  EXPECT_TRUE(g.list_topics.declared);
  EXPECT_EQ(g.list_topics.items_pointer, "");
  EXPECT_EQ(c.poll_interval, std::chrono::seconds(60));
}

TEST_F(ConfigGenericConnector, FullDeclarationLoadsWithOnlyTheWarningsItsCombinationEarns) {
  Result<Config> r = Load(std::string(kHead) + kFull);
  ASSERT_TRUE(r.ok()) << r.status().message();
  // The test mapping has a single system; and write.consent declares both a
  // batch and system_id, which one answer for many records cannot fill.
  EXPECT_THAT(r->warnings,
              ElementsAre(HasSubstr("only one system is declared"),
                          "t.yaml:34:9: warning: write.consent: system_id is read from single "
                          "answers only; with a batch it is never read"));
}

TEST_F(ConfigGenericConnector, UndeclaredBlockAndErasureWritesTheMappingNeedsAreWarnings) {
  std::string yaml = std::string(kHead) + kFull;
  const std::string block_write =
      "      block:\n"
      "        method: PATCH\n"
      "        url: /contacts/{email}/blocks/{block}\n"
      "        body: {active: '{active}', channel: '{channel}'}\n"
      "      erasure: {method: DELETE, url: '/contacts/{email}?mode={mode}'}\n";
  const auto at = yaml.find(block_write);
  ASSERT_NE(at, std::string::npos);
  yaml.erase(at, block_write.size());
  Result<Config> r = Load(yaml);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_THAT(r->warnings,
              ElementsAre(HasSubstr("only one system is declared"),
                          HasSubstr("t.yaml:14:3: warning: connector 'crm' declares no "
                                    "'write.block', but the mapping's block 'werbesperre' (line "
                                    "11) is written to it"),
                          HasSubstr("t.yaml:14:3: warning: connector 'crm' declares no "
                                    "'write.erasure'"),
                          HasSubstr("write.consent: system_id is read from single answers only")));
}

// `already_gone: []` turns the default (404, 410) off; leaving the key out
// keeps it.
TEST_F(ConfigGenericConnector, AnEmptyAlreadyGoneListIsWrittenAndNotTheDefault) {
  Result<Config> off = Load(With("already_gone: [404, 410]", "already_gone: []"));
  ASSERT_TRUE(off.ok()) << off.status().message();
  EXPECT_TRUE(off->connectors.at("crm").generic.responses.already_gone_written);
  EXPECT_TRUE(off->connectors.at("crm").generic.responses.already_gone.empty());
  Result<Config> unwritten = Load(With("      already_gone: [404, 410]\n", ""));
  ASSERT_TRUE(unwritten.ok()) << unwritten.status().message();
  EXPECT_FALSE(unwritten->connectors.at("crm").generic.responses.already_gone_written);
}

TEST_F(ConfigGenericConnector, EachAuthKindIsRead) {
  Result<Config> basic = Load(With("bearer: {token_file: crm_token}",
                                   "basic: {username: consentd, password_file: crm_password}"));
  ASSERT_TRUE(basic.ok()) << basic.status().message();
  EXPECT_EQ(basic->connectors.at("crm").generic.auth.kind, GenericAuthKind::kBasic);
  EXPECT_EQ(basic->connectors.at("crm").generic.auth.username, "consentd");
  Result<Config> key = Load(
      With("bearer: {token_file: crm_token}", "api_key: {header: X-Api-Key, key_file: crm_key}"));
  ASSERT_TRUE(key.ok()) << key.status().message();
  EXPECT_EQ(key->connectors.at("crm").generic.auth.header, "X-Api-Key");
  Result<Config> sw =
      Load(With("bearer: {token_file: crm_token}", "standard_webhooks: {secret_file: whsec_new}"));
  ASSERT_TRUE(sw.ok()) << sw.status().message();
  EXPECT_EQ(sw->connectors.at("crm").generic.auth.kind, GenericAuthKind::kStandardWebhooks);
}

TEST_F(ConfigGenericConnector, AuthTakesExactlyOneKind) {
  EXPECT_THAT(Errors(With("bearer: {token_file: crm_token}",
                          "bearer: {token_file: crm_token}\n      api_key: {header: X, key_file: "
                          "crm_key}")),
              ElementsAre("t.yaml:20:7: auth takes exactly one of bearer, basic, api_key, "
                          "standard_webhooks; 'bearer' is set already"));
}

TEST_F(ConfigGenericConnector, InlineSecretInAuthIsRefused) {
  EXPECT_THAT(Errors(With("{token_file: crm_token}", "{token: abc}")),
              ElementsAre(HasSubstr("t.yaml:19:16: 'token' in 'connectors.*.auth.bearer' must "
                                    "not hold a secret inline")));
}

TEST_F(ConfigGenericConnector, UnknownPlaceholderIsRefusedWithASuggestion) {
  EXPECT_THAT(Errors(With("/contacts/{email}/topics/{topic}", "/contacts/{emial}/topics/{topic}")),
              ElementsAre(HasSubstr("t.yaml:24:14: unknown placeholder {emial} (did you mean "
                                    "'email'?); here: {system_id}, {email}")));
  // A block's placeholder is not a consent's.
  EXPECT_THAT(Errors(With("status: '{status}'", "status: '{block}'")),
              ElementsAre(HasSubstr("t.yaml:27:19: unknown placeholder {block}")));
}

TEST_F(ConfigGenericConnector, UnbalancedBraceIsRefusedAtItsString) {
  EXPECT_THAT(Errors(With("note: 'set {{by}}", "note: 'set {by")),
              ElementsAre(HasSubstr("t.yaml:29:17: '{by consentd for {email}' at offset 4 is not a "
                                    "placeholder")));
}

TEST_F(ConfigGenericConnector, BadMethodIsRefusedWithASuggestion) {
  EXPECT_THAT(Errors(With("method: PUT", "method: PUTT")),
              ElementsAre("t.yaml:23:17: expected one of GET, POST, PUT, PATCH, DELETE, got "
                          "\"PUTT\" (did you mean 'PUT'?)"));
}

TEST_F(ConfigGenericConnector, BadPointerIsRefused) {
  EXPECT_THAT(Errors(With("items: /items\n      next", "items: items\n      next")),
              ElementsAre(HasSubstr("t.yaml:51:14: \"items\" is not a JSON pointer")));
  EXPECT_THAT(Errors(With("system_id: /id", "system_id: /a~2")),
              ElementsAre(HasSubstr("t.yaml:33:20: \"/a~2\" is not a JSON pointer")));
}

TEST_F(ConfigGenericConnector, MissingRequiredPiecesAreNamed) {
  EXPECT_THAT(Errors(With("    write:\n      consent:", "    write:\n      consnet:")),
              ElementsAre("t.yaml:22:7: unknown key 'consnet' in 'connectors.*.write' (did you "
                          "mean 'consent'?)"));
  EXPECT_THAT(Errors(With("        method: PATCH\n", "")),
              ElementsAre("t.yaml:38:7: missing required key 'connectors.*.write.*.method'"));
  EXPECT_THAT(Errors(With("      item:\n        id: /change_id\n        type: {const: "
                          "consent.changed}\n",
                          "      item:\n        id: /change_id\n")),
              ElementsAre(HasSubstr("t.yaml:54:7: missing required key "
                                    "'connectors.*.poll.item.type'")));
}

TEST_F(ConfigGenericConnector, ResponseRulesAreChecked) {
  EXPECT_THAT(Errors(With("retryable: [429, 5xx]", "retryable: [429, 6xx, '500-499']")),
              ElementsAre(HasSubstr("t.yaml:44:24: expected an HTTP status (404), a class "
                                    "(\"4xx\") or a range (\"500-599\") from 100 to 599, got "
                                    "\"6xx\""),
                          HasSubstr("t.yaml:44:29: expected an HTTP status")));
  EXPECT_THAT(Errors(With("pointer: /error/code, equals", "pointr: /error/code, equals")),
              ElementsAre("t.yaml:47:11: 'equals' compares the body at 'pointer': add a pointer",
                          "t.yaml:47:25: unknown key 'pointr' in a response rule (did you mean "
                          "'pointer'?); a rule takes status, pointer, equals"));
}

TEST_F(ConfigGenericConnector, ReservedHeadersAreRefused) {
  EXPECT_THAT(Errors(With("X-Source: consentd", "Idempotency-Key: x")),
              ElementsAre(HasSubstr("t.yaml:25:19: header Idempotency-Key is set by consentd")));
}

// YAML keeps one of two equal keys without a word: in the free-form
// mappings (headers, body templates, event data, response rules) a repeat
// is an error naming the first, as everywhere else in the file.
TEST_F(ConfigGenericConnector, ARepeatedKeyInAFreeFormMappingIsAnErrorNamingTheFirst) {
  EXPECT_THAT(Errors(With("X-Source: consentd,", "X-Source: consentd, x-source: again,")),
              ElementsAre(AllOf(HasSubstr("t.yaml:25:"),
                                HasSubstr("duplicate header 'x-source' (first at line 25, column "
                                          "19)"))));
  EXPECT_THAT(
      Errors(With("          fixed: 3\n", "          fixed: 3\n          fixed: 4\n")),
      ElementsAre("t.yaml:31:11: duplicate body key 'fixed' (first at line 30, column 11)"));
  EXPECT_THAT(Errors(With("data: {topic: /thema,", "data: {topic: /thema, topic: /other,")),
              ElementsAre(AllOf(HasSubstr("t.yaml:60:"),
                                HasSubstr("duplicate event data field 'topic' (first at line 60, "
                                          "column 16)"))));
  EXPECT_THAT(
      Errors(With("{status: 409, pointer", "{status: 409, status: 410, pointer")),
      ElementsAre(AllOf(HasSubstr("t.yaml:47:"),
                        HasSubstr("duplicate key 'status' (first at line 47, column 12)"))));
}

TEST_F(ConfigGenericConnector, BatchBodyMustHoldItems) {
  EXPECT_THAT(Errors(With("body: {items: '{items}', n: '{count}'}", "body: {n: '{count}'}")),
              ElementsAre("t.yaml:34:9: write.consent.batch: the batch body must hold \"{items}\" "
                          "(the list of the per-record bodies)"));
}

TEST_F(ConfigGenericConnector, UnknownEventDataFieldIsRefusedWithASuggestion) {
  EXPECT_THAT(Errors(With("data: {topic: /thema", "data: {topik: /thema")),
              ElementsAre(HasSubstr("t.yaml:60:16: unknown event data field 'topik' (did you "
                                    "mean 'topic'?)")));
}

TEST_F(ConfigGenericConnector, ReadNeedsPollItemsToMapWith) {
  std::string yaml = std::string(kHead) + kFull;
  const auto from = yaml.find("    poll:\n");
  const auto to = yaml.find("    read:");
  yaml.erase(from, to - from);
  EXPECT_THAT(Errors(yaml), ElementsAre("t.yaml:49:5: read maps what it gets with poll.item: "
                                        "declare poll (with item) as well"));
}

TEST_F(ConfigGenericConnector, PollIntervalWithoutPollIsAnErrorAndPollingIsOffOtherwise) {
  std::string yaml = std::string(kHead) + kFull;
  yaml.erase(yaml.find("    poll:\n"), yaml.find("    check:") - yaml.find("    poll:\n"));
  Result<Config> r = Load(yaml);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->connectors.at("crm").poll_interval.count(), 0);
  EXPECT_THAT(Errors(yaml + "    poll_interval: 30s\n"),
              ElementsAre(HasSubstr("t.yaml:51:5: connector 'crm' has no 'poll:' declaration")));
}

TEST_F(ConfigGenericConnector, KeysOfAnotherKindAreRefused) {
  EXPECT_THAT(Errors(With("    batch_size: 50\n", "    token_file: crm_token\n")),
              ElementsAre("t.yaml:20:5: 'token_file' is a hubspot key; a generic connector takes "
                          "webhook_secret_files, auth, write, responses, poll, read, check, "
                          "list_topics"));
}

TEST_F(ConfigGenericConnector, GetWithABodyIsRefused) {
  EXPECT_THAT(Errors(With("method: PATCH", "method: GET")),
              ElementsAre("t.yaml:40:9: write.block: a GET request takes no body; use POST, PUT "
                          "or PATCH"));
}

TEST_F(ConfigGenericConnector, BatchSizeAboveTheMaximumIsRefused) {
  EXPECT_THAT(Errors(With("batch_size: 50", "batch_size: 1001")),
              ElementsAre(HasSubstr("t.yaml:20:17: ")));
}

// A Standard Webhooks secret that is not "whsec_" + base64 (or base64) is an
// error at its key, not a 400 to every webhook once running.
TEST_F(ConfigGenericConnector, AWebhookSecretThatIsNotBase64IsAnErrorAtItsFile) {
  creds_.Write("whsec_new", "my-plain-secret");
  const std::vector<std::string> errors = Errors(std::string(kHead) + kFull);
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_THAT(errors[0], ::testing::StartsWith("t.yaml:17:28: secret file "));
  EXPECT_THAT(errors[0], ::testing::HasSubstr("does not hold a Standard Webhooks secret"));
  EXPECT_THAT(errors[0], ::testing::Not(::testing::HasSubstr("my-plain-secret")));
}

}  // namespace
}  // namespace consentd::config
