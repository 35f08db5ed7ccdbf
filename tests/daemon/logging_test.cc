// Log shapes (text, JSON, journal prefixes) and e-mail masking.
#include "daemon/logging.h"

#include <gtest/gtest.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include <nlohmann/json.hpp>
#include <sstream>

#include "core/redact.h"

namespace consentd::daemon {
namespace {

std::string LogOne(config::LogFormat format, bool journal, spdlog::level::level_enum level,
                   const std::string& message) {
  std::ostringstream out;
  auto sink = std::make_shared<spdlog::sinks::ostream_sink_st>(out);
  spdlog::logger logger("t", sink);
  logger.set_formatter(MakeLogFormatter(format, journal));
  logger.set_level(spdlog::level::trace);
  logger.log(level, message);
  return out.str();
}

TEST(Redact, MasksEmailKeepingFirstLetterAndDomain) {
  EXPECT_EQ(MaskEmail("jane.doe@example.com"), "j***@example.com");
  EXPECT_EQ(MaskEmail("x@y.de"), "x***@y.de");
  EXPECT_EQ(MaskEmail("no-at-sign"), "***");
  EXPECT_EQ(MaskEmail("@example.com"), "***");
}

TEST(Redact, MasksEveryAddressInText) {
  EXPECT_EQ(MaskEmailsInText("from jane@example.com to bob.smith+news@mail.example.org."),
            "from j***@example.com to b***@mail.example.org.");
  EXPECT_EQ(MaskEmailsInText("already j***@example.com"), "already j***@example.com");
  EXPECT_EQ(MaskEmailsInText("user@localhost and @handle"), "user@localhost and @handle");
}

TEST(Redact, AnApostropheOrOtherAtextInTheLocalPartIsMaskedToo) {
  EXPECT_EQ(MaskEmailsInText("to o'brien@example.com"), "to o***@example.com");
  EXPECT_EQ(MaskEmailsInText("to a!b#c{d}@example.com"), "to a***@example.com");
}

// Text kept for good: no address, masked or not, and no subscriber hash.
TEST(Redact, IdentifiersInTextKeptForGoodAreRemovedWhole) {
  EXPECT_EQ(RedactIdentifiersInText("HubSpot answered 400 for i***@example.com and o'b@x.org."),
            "HubSpot answered 400 for <address> and <address>.");
  EXPECT_EQ(RedactIdentifiersInText("mailchimp DELETE /lists/L1/members/"
                                    "449b53c3dd6752be7ec521753f7bbf7f/actions/delete-permanent"),
            "mailchimp DELETE /lists/L1/members/<hash>/actions/delete-permanent");
  EXPECT_EQ(RedactIdentifiersInText("449B53C3DD6752BE7EC521753F7BBF7F"), "<hash>");
  // Other words and numbers stay: 31 or 33 hex digits, a 64-digit digest.
  const std::string d31(31, 'a'), d33(33, 'b'), d64(64, 'c');
  EXPECT_EQ(RedactIdentifiersInText(d31 + " " + d33 + " " + d64 + " superseded by #12"),
            d31 + " " + d33 + " " + d64 + " superseded by #12");
  EXPECT_EQ(RedactIdentifiersInText(""), "");
}

TEST(Logging, TextLineHasTimeLevelAndMaskedMessage) {
  auto line =
      LogOne(config::LogFormat::kText, false, spdlog::level::info, "subscribed jane@example.com");
  EXPECT_NE(line.find(" info  subscribed j***@example.com\n"), std::string::npos) << line;
  EXPECT_EQ(line.find("jane@"), std::string::npos);
  EXPECT_EQ(line.back(), '\n');
  EXPECT_EQ(line[4], '-');  // starts with an ISO 8601 date
}

TEST(Logging, JsonLineParsesAndIsMasked) {
  auto line = LogOne(config::LogFormat::kJson, false, spdlog::level::warn,
                     "bad \"quote\" from jane@example.com");
  auto j = nlohmann::json::parse(line);
  EXPECT_EQ(j["level"], "warn");
  EXPECT_EQ(j["message"], "bad \"quote\" from j***@example.com");
  EXPECT_TRUE(j["time"].is_string());
}

TEST(Logging, JournalLinesCarrySyslogPrefixWithoutOwnTimestamp) {
  EXPECT_EQ(LogOne(config::LogFormat::kText, true, spdlog::level::err, "disk full"),
            "<3>error disk full\n");
  EXPECT_EQ(LogOne(config::LogFormat::kText, true, spdlog::level::info, "a"), "<6>info  a\n");
  EXPECT_EQ(LogOne(config::LogFormat::kText, true, spdlog::level::debug, "a"), "<7>debug a\n");
  auto json = LogOne(config::LogFormat::kJson, true, spdlog::level::warn, "w");
  EXPECT_EQ(json.substr(0, 3), "<4>");
  EXPECT_EQ(nlohmann::json::parse(json.substr(3))["message"], "w");
}

TEST(Logging, MultiLineMessageStaysOneTextLine) {
  auto line = LogOne(config::LogFormat::kText, false, spdlog::level::info, "a\nb");
  EXPECT_EQ(line.find('\n'), line.size() - 1);
}

TEST(Logging, UnknownLevelIsRejected) {
  config::LogConfig c;
  c.level = "loud";
  EXPECT_EQ(ConfigureLogging(c).code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace consentd::daemon
