// The loader's contract: typed values, and every error as FILE:LINE:COLUMN
// with the expected form named.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <sstream>
#include <string>
#include <vector>

#include "config/config.h"
#include "config/open_quotes.h"
#include "tests/config/temp_dir.h"

namespace consentd::config {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;
using testing::TempDir;

// Loads `yaml` as "t.yaml" with no credentials directory.
Result<Config> Load(const std::string& yaml) {
  return LoadConfigString(yaml, "t.yaml", LoadOptions{});
}

std::vector<std::string> ErrorLines(const Result<Config>& r) {
  std::vector<std::string> lines;
  if (r.ok()) return lines;
  std::istringstream in(r.status().message());
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

TEST(ConfigLoader, ConfigWithOnlyHttpAndStoreIsValid) {
  auto r = Load("http:\n  listen: 127.0.0.1:9000\nstore:\n  path: /var/lib/consentd/c.db\n");
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->http.address, "127.0.0.1");
  EXPECT_EQ(r->http.port, 9000);
  EXPECT_EQ(r->store.path, "/var/lib/consentd/c.db");
  EXPECT_EQ(r->http.body_limit_bytes, 1u << 20);
  EXPECT_EQ(r->http.max_connections, 1024u);
  EXPECT_EQ(r->http.read_timeout, std::chrono::seconds(10));
  EXPECT_EQ(r->http.idle_timeout, std::chrono::seconds(30));
  EXPECT_EQ(r->http.webhook_ack_deadline, std::chrono::seconds(4));
  EXPECT_EQ(r->log.level, "info");
  EXPECT_EQ(r->log.format, LogFormat::kText);
  EXPECT_EQ(r->admin.token_file, "");
  EXPECT_EQ(r->shutdown_deadline, std::chrono::seconds(10));
}

TEST(ConfigLoader, EveryKeyIsReadIntoItsField) {
  auto r = Load(
      "http:\n"
      "  listen: \"[::1]:0\"\n"
      "  body_limit: 64KiB\n"
      "  max_connections: 7\n"
      "  read_timeout: 1m30s\n"
      "  idle_timeout: 250ms\n"
      "  webhook_ack_deadline: 2s\n"
      "store:\n"
      "  path: /db\n"
      "log:\n"
      "  level: debug\n"
      "  format: json\n"
      "shutdown:\n"
      "  deadline: 0s\n");
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->http.address, "::1");
  EXPECT_EQ(r->http.port, 0);
  EXPECT_EQ(r->http.body_limit_bytes, 65536u);
  EXPECT_EQ(r->http.max_connections, 7u);
  EXPECT_EQ(r->http.read_timeout, std::chrono::seconds(90));
  EXPECT_EQ(r->http.idle_timeout, std::chrono::milliseconds(250));
  EXPECT_EQ(r->http.webhook_ack_deadline, std::chrono::seconds(2));
  EXPECT_EQ(r->log.level, "debug");
  EXPECT_EQ(r->log.format, LogFormat::kJson);
  EXPECT_EQ(r->shutdown_deadline, std::chrono::milliseconds(0));
}

// yaml-cpp reads one document; settings after a second '---' would be
// dropped without a word, so they are an error at that line.
TEST(ConfigLoader, ASecondYamlDocumentIsAnErrorAtItsStart) {
  const std::string what =
      ": a second YAML document starts here; the configuration is one document (remove the "
      "'---' line and what follows, or merge it into the first)";
  EXPECT_THAT(ErrorLines(Load("store:\n  path: db.sqlite\n---\nstore: 1\n")),
              ElementsAre("t.yaml:3:1" + what));
  EXPECT_THAT(ErrorLines(Load("# comment\nstore:\n  path: db.sqlite\n---\n")),
              ElementsAre("t.yaml:4:1" + what));
  // A leading '---' starts the one document.
  EXPECT_TRUE(Load("---\nstore:\n  path: db.sqlite\n").ok());
}

// A quote left open at the end of the file: yaml-cpp loads the value with
// a trailing space (a new notice version nobody meant); consentd refuses it
// at the quote.
TEST(ConfigLoader, AQuoteLeftOpenAtTheEndOfTheFileIsAnErrorAtTheQuote) {
  EXPECT_THAT(ErrorLines(Load("store:\n  path: \"db.sqlite\n")),
              ::testing::Contains("t.yaml:2:9: the \" opened here is not closed on this line (a "
                                  "quoted value must end on the line it starts on)"));
  EXPECT_THAT(ErrorLines(Load("store:\n  path: 'db.sqlite\n")),
              ::testing::Contains(HasSubstr("t.yaml:2:9: the ' opened here is not closed")));
}

// Left open mid-file, yaml-cpp reports a syntax error where the quoted text
// happens to end; the quote is named first.
TEST(ConfigLoader, AQuoteLeftOpenMidFileIsNamedBeforeTheSyntaxErrorItCauses) {
  auto lines = ErrorLines(
      Load("store:\n  path: db.sqlite\nlog:\n  level: \"debug\n  format: text\n"
           "# a comment's \"quote\" and a block scalar's are not values:\n"
           "admin:\n  token_file: x\nhttp:\n  listen: \"127.0.0.1:1\"\n  read_timeout: 1s\n"));
  ASSERT_EQ(lines.size(), 2u) << ::testing::PrintToString(lines);
  EXPECT_THAT(lines[0], HasSubstr("t.yaml:4:10: this quote is not closed on its line; the "
                                  "syntax error at line "));
  EXPECT_THAT(lines[1], HasSubstr("YAML syntax error"));
}

// Quoted values that close on their line load as before, escapes included;
// a value spanning lines on purpose is refused too (it is rare in a
// configuration and indistinguishable from the typo).
TEST(ConfigLoader, QuotedValuesMustCloseOnTheirLine) {
  auto ok = Load(
      "store:\n  path: 'it''s \"a\" db'  # \"a comment\n"
      "log:\n  level: \"debu\\x67\"  # 'another\n  format: \"t\\\"xt\"\n");
  // The format's escaped quote makes it invalid, and the only error.
  EXPECT_THAT(ErrorLines(ok), ElementsAre(HasSubstr("t.yaml:5:11: ")));
  ok = Load("store:\n  path: 'it''s \"a\" db'  # \"a comment\nlog:\n  level: \"debu\\x67\"\n");
  ASSERT_TRUE(ok.ok()) << ok.status().message();
  EXPECT_THAT(ok->store.path, HasSubstr("it's \"a\" db"));
  EXPECT_EQ(ok->log.level, "debug");
  EXPECT_THAT(ErrorLines(Load("store:\n  path: \"db\n    .sqlite\"\n")),
              ::testing::Contains(HasSubstr("t.yaml:2:9: the \" opened here is not closed")));
}

// The check walks every node once: an alias into itself (yaml-cpp builds
// the loop) or aliases nested to a billion visits end it, not the process.
TEST(ConfigLoader, TheQuoteCheckWalksAliasedNodesOnce) {
  auto looped = Load("store:\n  path: db.sqlite\nx: &a [*a]\n");
  EXPECT_THAT(ErrorLines(looped), ::testing::Contains(HasSubstr("unknown key 'x'")));
  std::string laughs = "store:\n  path: db.sqlite\nl0: &l0 [\"lol\", \"lol\"]\n";
  for (int i = 1; i < 40; ++i) {
    const std::string prev = "*l" + std::to_string(i - 1);
    laughs += "l" + std::to_string(i) + ": &l" + std::to_string(i) + " [" + prev + ", " + prev +
              ", " + prev + "]\n";
  }
  EXPECT_FALSE(Load(laughs).ok());  // unknown keys; and it returns
}

// A UTF-8 byte-order mark, which yaml-cpp skips without counting, and an
// anchor or a tag before the quote do not move what is checked.
TEST(ConfigLoader, TheQuoteCheckSeesPastAByteOrderMarkAnchorsAndTags) {
  const std::string bom = "\xEF\xBB\xBF";
  EXPECT_TRUE(Load(bom + "store:\n  path: db.sqlite\nlog: {'level': \"info\"}\n").ok());
  EXPECT_THAT(ErrorLines(Load(bom + "store:\n  path: \"db.sqlite\n")),
              ::testing::Contains(HasSubstr("t.yaml:2:9: the \" opened here is not closed")));
  EXPECT_THAT(ErrorLines(Load("store:\n  path: &p \"db.sqlite\n")),
              ::testing::Contains(HasSubstr("t.yaml:2:12: the \" opened here is not closed")));
  EXPECT_THAT(ErrorLines(Load("store:\n  path: !!str 'db.sqlite\n")),
              ::testing::Contains(HasSubstr("t.yaml:2:15: the ' opened here is not closed")));
  EXPECT_TRUE(Load("store:\n  path: &p !!str \"db.sqlite\"\n").ok());
}

TEST(ConfigQuoteScan, SkipsCommentsBlockScalarsAndClosedQuotes) {
  const std::string text =
      "a: \"x\" # \"open in a comment\n"
      "b: |\n"
      "  she said \"hello\n"
      "  - 'still text\n"
      "c: [\"p\", 'q''s']\n"
      "d: it's plain\n"
      "e: \"open\n"
      "f: 1\n";
  EXPECT_EQ(QuoteLeftOpenBefore(text, {7, 1}), std::nullopt);  // the scan stops before line 7
  auto at = QuoteLeftOpenBefore(text, {8, 1});
  ASSERT_TRUE(at.has_value());
  EXPECT_EQ(at->line, 7);
  EXPECT_EQ(at->column, 4);
}

TEST(ConfigLoader, UnknownKeyIsReportedAtItsPositionWithSuggestion) {
  auto r = Load("store:\n  path: /db\nhttp:\n  listn: 127.0.0.1:8470\n");
  EXPECT_THAT(ErrorLines(r),
              ElementsAre("t.yaml:4:3: unknown key 'listn' in 'http' (did you mean 'listen'?)"));
}

// yaml-cpp counts a column's bytes; the report counts characters, as
// editors do, so a key after umlauts in a flow mapping is where it is seen
// (column 30, not 33), and sorts with the character-counted errors.
TEST(ConfigLoader, ColumnsAfterMultiByteCharactersAreCountedInCharacters) {
  auto r = Load("store:\n  path: /db\nlog: {level: info, x: \"\u00dc\u00dc\u00dc\", y: 1}\n");
  EXPECT_THAT(ErrorLines(r), ::testing::Contains(HasSubstr("t.yaml:3:30: unknown key 'y'")));
  EXPECT_THAT(ErrorLines(r), ::testing::Contains(HasSubstr("t.yaml:3:20: unknown key 'x'")));
  // A byte-order mark, which yaml-cpp does not count, is not a column.
  const std::string bom = "\xEF\xBB\xBF";
  EXPECT_THAT(ErrorLines(Load(bom + "store:\n  path: /db\nlog: {\u00e4: 1, b: 2}\n")),
              ::testing::Contains(HasSubstr("t.yaml:3:13: unknown key 'b'")));
  EXPECT_THAT(ErrorLines(Load(bom + "log: {\u00e4: 1, b: 2}\nstore:\n  path: /db\n")),
              ::testing::Contains(HasSubstr("t.yaml:1:13: unknown key 'b'")));
}

// Positions quoted inside a message, and those reported after the load
// (a reload's "needs a restart" lines), count characters too.
TEST(ConfigLoader, PositionsQuotedAndReportedLaterAreCountedInCharacters) {
  auto r =
      Load("store:\n  path: /db\nlog: {x: \"\u00dc\u00dc\u00dc\", level: info, level: warn}\n");
  EXPECT_THAT(ErrorLines(r), ::testing::Contains(HasSubstr(
                                 "duplicate key 'level' in 'log' (first at line 3, column 17)")));
  Config c;
  c.source_path = "f.yaml";
  c.source_text = "a: \"\u00dc\u00dc\", b\n";
  EXPECT_EQ(c.Where({1, 10}), "f.yaml:1:8");  // the ',' is byte 10, character 8
  EXPECT_EQ(c.Where({0, 0}), "f.yaml");
  c.source_text = "\xEF\xBB\xBF" + c.source_text;  // a byte-order mark is no column
  EXPECT_EQ(c.Where({1, 10}), "f.yaml:1:8");
}

TEST(ConfigLoader, UnknownTopLevelKeyIsSuggestedToo) {
  auto r = Load("store:\n  path: /db\nlogs:\n  level: info\n");
  EXPECT_THAT(ErrorLines(r), ElementsAre("t.yaml:3:1: unknown key 'logs' (did you mean 'log'?)"));
}

TEST(ConfigLoader, UnknownKeyWithoutCloseMatchListsTheValidKeys) {
  auto r = Load("store:\n  path: /db\n  flavour: x\n");
  EXPECT_THAT(ErrorLines(r),
              ElementsAre("t.yaml:3:3: unknown key 'flavour' in 'store'; valid keys: path"));
}

TEST(ConfigLoader, MisspeltRequiredKeyIsReportedOnceAsUnknown) {
  auto r = Load("store:\n  pth: /db\n");
  EXPECT_THAT(ErrorLines(r),
              ElementsAre("t.yaml:2:3: unknown key 'pth' in 'store' (did you mean 'path'?)"));
}

TEST(ConfigLoader, WrongTypeNamesTheExpectedForm) {
  auto r = Load("store:\n  path: /db\nhttp:\n  max_connections: [1, 2]\n");
  EXPECT_THAT(ErrorLines(r),
              ElementsAre("t.yaml:4:20: expected an integer from 1 to 100000, got a list"));
}

TEST(ConfigLoader, SectionThatIsNotAMappingIsAnError) {
  auto r = Load("store: /db\n");
  EXPECT_THAT(ErrorLines(r),
              ElementsAre("t.yaml:1:8: expected a mapping in 'store' (keys: path), got \"/db\""));
}

TEST(ConfigLoader, OutOfRangeIntegerNamesTheRange) {
  auto r = Load("store:\n  path: /db\nhttp:\n  max_connections: 0\n");
  EXPECT_THAT(ErrorLines(r),
              ElementsAre("t.yaml:4:20: 0 is out of range: expected an integer from 1 to 100000"));
}

TEST(ConfigLoader, OutOfRangePortIsReportedAtTheValue) {
  auto r = Load("store:\n  path: /db\nhttp:\n  listen: 127.0.0.1:65536\n");
  EXPECT_THAT(ErrorLines(r), ElementsAre("t.yaml:4:11: port 65536 is out of range: expected 0 "
                                         "to 65535 (0 picks a free port)"));
}

TEST(ConfigLoader, ListenWithoutPortNamesTheForm) {
  auto r = Load("store:\n  path: /db\nhttp:\n  listen: 127.0.0.1\n");
  EXPECT_THAT(ErrorLines(r),
              ElementsAre("t.yaml:4:11: expected \"ADDRESS:PORT\", e.g. \"127.0.0.1:8470\" or "
                          "\"[::1]:8470\", got \"127.0.0.1\""));
}

TEST(ConfigLoader, IPv6ListenNeedsBrackets) {
  auto r = Load("store:\n  path: /db\nhttp:\n  listen: \"::1:8470\"\n");
  EXPECT_THAT(ErrorLines(r), ElementsAre(HasSubstr("t.yaml:4:11: an IPv6 address needs brackets")));
}

TEST(ConfigLoader, ListenTakesIpAddressesNotHostNames) {
  auto r = Load("store:\n  path: /db\nhttp:\n  listen: localhost:8470\n");
  EXPECT_THAT(ErrorLines(r),
              ElementsAre(HasSubstr("t.yaml:4:11: \"localhost\" is not an IPv4 address (host names "
                                    "are not resolved)")));
}

TEST(ConfigLoader, BadDurationNamesTheForm) {
  auto r = Load("store:\n  path: /db\nhttp:\n  read_timeout: 10 seconds\n");
  EXPECT_THAT(ErrorLines(r),
              ElementsAre("t.yaml:4:17: expected a duration such as \"10s\" or \"500ms\" (whole "
                          "numbers; units ms, s, m, h; sums like \"1m30s\"), got \"10 seconds\""));
}

TEST(ConfigLoader, DurationWithoutUnitIsRejected) {
  auto r = Load("store:\n  path: /db\nshutdown:\n  deadline: 10\n");
  EXPECT_THAT(ErrorLines(r), ElementsAre(HasSubstr("t.yaml:4:13: expected a duration")));
}

TEST(ConfigLoader, DurationOutOfRangeNamesTheRange) {
  auto r = Load("store:\n  path: /db\nshutdown:\n  deadline: 2h\n");
  EXPECT_THAT(ErrorLines(r), ElementsAre("t.yaml:4:13: duration \"2h\" is out of range: "
                                         "expected from 0s to 10m"));
}

TEST(ConfigLoader, BodyLimitUnitTypoIsSuggested) {
  auto r = Load("store:\n  path: /db\nhttp:\n  body_limit: 1Mib\n");
  EXPECT_THAT(ErrorLines(r), ElementsAre(HasSubstr("t.yaml:4:15: expected a size in bytes")));
  EXPECT_THAT(r.status().message(), HasSubstr("(did you mean 'MiB'?)"));
}

TEST(ConfigLoader, LogLevelTypoIsSuggested) {
  auto r = Load("store:\n  path: /db\nlog:\n  level: warning\n");
  EXPECT_THAT(ErrorLines(r), ElementsAre("t.yaml:4:10: expected one of trace, debug, info, warn, "
                                         "error, critical, off, got \"warning\" (did you mean "
                                         "'warn'?)"));
}

TEST(ConfigLoader, YamlSyntaxErrorHasLineAndColumn) {
  auto r = Load("store:\n  path: /db\nlog: a: b\n");
  EXPECT_THAT(ErrorLines(r), ElementsAre("t.yaml:3:7: YAML syntax error: illegal map value"));
}

TEST(ConfigLoader, MissingStorePathIsReportedAtTheStoreKey) {
  auto r = Load("http:\n  listen: 127.0.0.1:8470\nstore:\n  # path forgotten\n");
  EXPECT_THAT(ErrorLines(r), ElementsAre("t.yaml:3:1: missing required key 'store.path'"));
}

TEST(ConfigLoader, MissingStoreSectionIsReportedAtTheTopOfTheFile) {
  auto r = Load("http:\n  listen: 127.0.0.1:8470\n");
  EXPECT_THAT(ErrorLines(r), ElementsAre("t.yaml:1:1: missing required key 'store'"));
}

TEST(ConfigLoader, EmptyFileIsAnError) {
  EXPECT_THAT(ErrorLines(Load("# nothing\n")),
              ElementsAre(HasSubstr("t.yaml:1:1: the configuration is empty")));
}

TEST(ConfigLoader, TopLevelMustBeAMapping) {
  EXPECT_THAT(ErrorLines(Load("- store\n")),
              ElementsAre(HasSubstr("t.yaml:1:1: expected a mapping")));
}

TEST(ConfigLoader, DuplicateKeyIsAnError) {
  auto r = Load("store:\n  path: /a\n  path: /b\n");
  EXPECT_THAT(ErrorLines(r), ElementsAre("t.yaml:3:3: duplicate key 'path' in 'store' (first at "
                                         "line 2, column 3)"));
}

TEST(ConfigLoader, InlineSecretIsRejectedWithoutEchoingIt) {
  auto r = Load("store:\n  path: /db\nadmin:\n  token: hunter2-very-secret\n");
  EXPECT_THAT(ErrorLines(r),
              ElementsAre(HasSubstr("t.yaml:4:3: 'token' in 'admin' must not hold a secret "
                                    "inline: write the secret to a file and set 'token_file'")));
  EXPECT_THAT(r.status().message(), Not(HasSubstr("hunter2")));
}

TEST(ConfigLoader, UnknownKeyValueIsNeverEchoed) {
  auto r = Load("store:\n  path: /db\nadmin:\n  api_key: hunter2-very-secret\n");
  EXPECT_FALSE(r.ok());
  EXPECT_THAT(r.status().message(), Not(HasSubstr("hunter2")));
}

TEST(ConfigLoader, AllErrorsAreReportedInOnePassSortedByPosition) {
  auto r = Load(
      "log:\n"
      "  format: yaml\n"  // 2:11
      "http:\n"
      "  listen: 1.2.3.4:99999\n"  // 4:11
      "  idle_timeout: soon\n"     // 5:17
      "  bogus: 1\n"               // 6:3
      "store:\n");                 // 7:1 missing path
  const auto lines = ErrorLines(r);
  ASSERT_EQ(lines.size(), 5u) << r.status().message();
  EXPECT_THAT(lines[0], HasSubstr("t.yaml:2:11: expected one of text, json"));
  EXPECT_THAT(lines[1], HasSubstr("t.yaml:4:11: port 99999"));
  EXPECT_THAT(lines[2], HasSubstr("t.yaml:5:17: expected a duration"));
  EXPECT_THAT(lines[3], HasSubstr("t.yaml:6:3: unknown key 'bogus' in 'http'"));
  EXPECT_EQ(lines[4], "t.yaml:7:1: missing required key 'store.path'");
}

TEST(ConfigLoader, RelativeStorePathResolvesAgainstTheConfigFileDirectory) {
  TempDir dir;
  const std::string file = dir.Write("etc/c.yaml", "store:\n  path: data/x.db\n");
  auto r = LoadConfigFile(file, LoadOptions{});
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->store.path, dir.path() + "/etc/data/x.db");
  EXPECT_EQ(r->base_dir, dir.path() + "/etc");
  EXPECT_EQ(r->source_path, file);
}

TEST(ConfigLoader, AbsoluteStorePathIsKept) {
  TempDir dir;
  auto r = LoadConfigFile(dir.Write("c.yaml", "store:\n  path: /srv/x.db\n"), LoadOptions{});
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->store.path, "/srv/x.db");
}

// The daemon refuses an admin token under 16 characters; --check-config and
// a reload's local check say so too, at the key's value.
TEST(ConfigLoader, AShortAdminTokenIsAnErrorAtItsKey) {
  TempDir dir;
  dir.Write("short_token", "s3cret\n");
  dir.Write("long_token", "0123456789abcdef\n");
  const std::string base = "store:\n  path: db.sqlite\nadmin:\n  token_file: ";
  auto r = LoadConfigString(base + "short_token\n", dir.path() + "/t.yaml", LoadOptions{});
  EXPECT_THAT(ErrorLines(r),
              ElementsAre(dir.path() + "/t.yaml:4:15: the admin token in " + dir.path() +
                          "/short_token has 6 characters; use at least 16 (e.g. openssl rand "
                          "-hex 32 > FILE)"));
  EXPECT_TRUE(LoadConfigString(base + "long_token\n", dir.path() + "/t.yaml", LoadOptions{}).ok());
}

// The export delivery's secret signs every delivery (Standard Webhooks): one
// that is not such a secret is an error at load, not at every delivery.
TEST(ConfigLoader, AnExportDeliverySecretThatIsNotAStandardWebhooksSecretIsAnError) {
  TempDir dir;
  dir.Write("bad_secret", "hunter2-not-base64!\n");
  dir.Write("good_secret", "whsec_c2VjcmV0\n");
  const std::string base =
      "store:\n  path: db.sqlite\nprivacy:\n  export_delivery:\n"
      "    url: https://exports.example/in\n    secret_file: ";
  auto bad = LoadConfigString(base + "bad_secret\n", dir.path() + "/t.yaml", LoadOptions{});
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(bad.status().message(), HasSubstr("t.yaml:6:18: secret file "));
  EXPECT_THAT(bad.status().message(), HasSubstr("does not hold a Standard Webhooks secret"));
  auto good = LoadConfigString(base + "good_secret\n", dir.path() + "/t.yaml", LoadOptions{});
  EXPECT_TRUE(good.ok()) << good.status().ToString();
}

// The export delivery's URL is checked as the connectors' are: a host, a
// port in range, no spaces; kept as written otherwise (a trailing '/').
TEST(ConfigLoader, AnExportDeliveryUrlWithoutAHostOrWithABadPortIsAnErrorAtTheValue) {
  TempDir dir;
  dir.Write("secret", "whsec_c2VjcmV0\n");
  auto load = [&](const std::string& url) {
    return LoadConfigString(
        "store:\n  path: db.sqlite\nprivacy:\n  export_delivery:\n"
        "    url: \"" +
            url + "\"\n    secret_file: secret\n",
        dir.path() + "/t.yaml", LoadOptions{});
  };
  for (const std::string url : {"https:///hooks/export", "https://?x=1", "http://exa mple.com/x",
                                "https://host:99999/x", "https://:443/x"}) {
    auto r = load(url);
    ASSERT_FALSE(r.ok()) << url;
    EXPECT_THAT(r.status().message(), HasSubstr("t.yaml:5:10: expected an http:// or https:// URL"))
        << url;
  }
  auto kept = load("https://journeys.example.com/hooks/export/?step=2");
  ASSERT_TRUE(kept.ok()) << kept.status().ToString();
  EXPECT_EQ(kept->privacy.export_delivery.url, "https://journeys.example.com/hooks/export/?step=2");
}

TEST(ConfigLoader, MissingFileIsAnErrorNamingTheFile) {
  auto r = LoadConfigFile("/nonexistent/consentd.yaml", LoadOptions{});
  EXPECT_THAT(ErrorLines(r), ElementsAre("/nonexistent/consentd.yaml: cannot open: No such file "
                                         "or directory"));
}

TEST(ConfigLoader, FullExampleConfigLoadsWithItsCredential) {
  TempDir creds;
  const std::string token = creds.Write("admin_token", "0123456789abcdef0123");
  creds.Write("export_delivery_secret", "whsec_c2VjcmV0");
  auto r = LoadConfigFile(CONSENTD_SOURCE_DIR "/config/examples/consentd.yaml",
                          LoadOptions{creds.path()});
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->store.path, "/var/lib/consentd/consentd.db");
  EXPECT_EQ(r->admin.token_file, token);
  // The generated keys live beside the database, not among the read-only
  // credentials, and load before the first start has made their directory.
  EXPECT_EQ(r->proof_log.signing_key_file, "/var/lib/consentd/proof_signing.key");
  EXPECT_EQ(r->sync.identity_key_file, "/var/lib/consentd/identity.key");
}

// systemd creates the database's directory (StateDirectory=) only when the
// service first starts: keys generated there pass check-config before.
// Another missing directory is still an error.
TEST(ConfigLoader, KeysBesideADatabaseWhoseDirectoryIsNotMadeYetAreAccepted) {
  TempDir dir;
  const std::string state = dir.path() + "/state-not-made-yet";
  auto r = LoadConfigString("store:\n  path: " + state +
                                "/c.db\nproof_log:\n  signing_key_file: " + state +
                                "/log.key\nsync:\n  identity_key_file: " + state + "/id.key\n",
                            dir.path() + "/c.yaml", LoadOptions{});
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->proof_log.signing_key_file, state + "/log.key");
  EXPECT_EQ(r->sync.identity_key_file, state + "/id.key");
  auto other = LoadConfigString("store:\n  path: " + state +
                                    "/c.db\nproof_log:\n  signing_key_file: " + dir.path() +
                                    "/elsewhere/log.key\n",
                                dir.path() + "/c.yaml", LoadOptions{});
  ASSERT_EQ(ErrorLines(other).size(), 1u) << other.status().message();
  EXPECT_THAT(ErrorLines(other)[0], HasSubstr("create the directory"));
}

TEST(ConfigLoader, DemoConfigLoadsWithStoreInRepositoryVar) {
  auto r = LoadConfigFile(CONSENTD_SOURCE_DIR "/config/demo/consentd.yaml", LoadOptions{});
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->http.address, "127.0.0.1");
  EXPECT_EQ(r->http.port, 8470);
  EXPECT_EQ(r->log.format, LogFormat::kText);
  EXPECT_EQ(std::filesystem::path(r->store.path),
            (std::filesystem::path(CONSENTD_SOURCE_DIR) / "var/consentd.db").lexically_normal());
}

TEST(ConfigLoader, ProofLogDefaultsPutTheSigningKeyBesideTheDatabase) {
  auto r = Load("store:\n  path: /var/lib/consentd/c.db\n");
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->proof_log.signing_key_file, "/var/lib/consentd/proof_signing.key");
  EXPECT_EQ(r->proof_log.origin, "consentd/proof-log");
  EXPECT_EQ(r->proof_log.checkpoint_every_entries, 1000u);
  EXPECT_EQ(r->proof_log.checkpoint_interval, std::chrono::seconds(60));
}

TEST(ConfigLoader, MissingSigningKeyFileIsAcceptedWhenItsDirectoryExists) {
  TempDir dir;
  dir.Write("keys/.keep", "");
  auto r = LoadConfigString(
      "store:\n  path: c.db\nproof_log:\n  signing_key_file: keys/log.key\n"
      "  origin: example.org/consent\n  checkpoint_every_entries: 5\n"
      "  checkpoint_interval: 2s\n",
      dir.path() + "/c.yaml", LoadOptions{});
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->proof_log.signing_key_file, dir.path() + "/keys/log.key");
  EXPECT_EQ(r->proof_log.origin, "example.org/consent");
  EXPECT_EQ(r->proof_log.checkpoint_every_entries, 5u);
  EXPECT_EQ(r->proof_log.checkpoint_interval, std::chrono::seconds(2));
}

TEST(ConfigLoader, SigningKeyFileInAMissingDirectoryIsAnErrorAtItsValue) {
  TempDir dir;
  auto r = LoadConfigString("store:\n  path: c.db\nproof_log:\n  signing_key_file: nope/log.key\n",
                            dir.path() + "/c.yaml", LoadOptions{});
  ASSERT_EQ(ErrorLines(r).size(), 1u) << r.status().message();
  EXPECT_THAT(ErrorLines(r)[0], HasSubstr("c.yaml:4:21: signing key file 'nope/log.key'"));
  EXPECT_THAT(ErrorLines(r)[0], HasSubstr("create the directory"));
}

TEST(ConfigLoader, ProofLogOriginWithSpaceOrPlusIsAnError) {
  auto r = Load("store:\n  path: /db\nproof_log:\n  origin: \"a+b\"\n");
  EXPECT_THAT(ErrorLines(r), ElementsAre(HasSubstr("t.yaml:4:11: expected a log origin")));
}

}  // namespace
}  // namespace consentd::config
