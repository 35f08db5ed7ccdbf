#include "daemon/logging.h"

#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <nlohmann/json.hpp>
#include <string>

#include "core/redact.h"

namespace consentd::daemon {

namespace {

constexpr const char* kLoggerName = "consentd";

std::string Iso8601(spdlog::log_clock::time_point t) {
  const auto since = t.time_since_epoch();
  const auto secs = std::chrono::duration_cast<std::chrono::seconds>(since);
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(since - secs).count();
  const std::time_t tt = static_cast<std::time_t>(secs.count());
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[96];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(ms));
  return buf;
}

// syslog(3) priorities, as sd-daemon(3) prefixes expect them.
int SyslogPriority(spdlog::level::level_enum l) {
  switch (l) {
    case spdlog::level::trace:
    case spdlog::level::debug:
      return 7;
    case spdlog::level::info:
      return 6;
    case spdlog::level::warn:
      return 4;
    case spdlog::level::err:
      return 3;
    case spdlog::level::critical:
      return 2;
    default:
      return 6;
  }
}

std::string_view LevelName(spdlog::level::level_enum l) {
  switch (l) {
    case spdlog::level::trace:
      return "trace";
    case spdlog::level::debug:
      return "debug";
    case spdlog::level::info:
      return "info";
    case spdlog::level::warn:
      return "warn";
    case spdlog::level::err:
      return "error";
    case spdlog::level::critical:
      return "critical";
    default:
      return "off";
  }
}

class ConsentdFormatter final : public spdlog::formatter {
 public:
  ConsentdFormatter(config::LogFormat format, bool journal) : format_(format), journal_(journal) {}

  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override {
    std::string line;
    if (journal_) line = "<" + std::to_string(SyslogPriority(msg.level)) + ">";
    const std::string text =
        MaskEmailsInText(std::string_view(msg.payload.data(), msg.payload.size()));
    if (format_ == config::LogFormat::kJson) {
      nlohmann::json j = {
          {"time", Iso8601(msg.time)}, {"level", LevelName(msg.level)}, {"message", text}};
      line += j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    } else {
      if (!journal_) {
        line += Iso8601(msg.time);
        line.push_back(' ');
      }
      std::string_view level = LevelName(msg.level);
      line += level;
      line.append(level.size() < 5 ? 6 - level.size() : 1, ' ');
      // One record, one line: the journal and line-based tools rely on it.
      for (char c : text) line.push_back(c == '\n' ? ' ' : c);
    }
    line.push_back('\n');
    dest.append(line.data(), line.data() + line.size());
  }

  std::unique_ptr<spdlog::formatter> clone() const override {
    return std::make_unique<ConsentdFormatter>(format_, journal_);
  }

 private:
  config::LogFormat format_;
  bool journal_;
};

}  // namespace

std::unique_ptr<spdlog::formatter> MakeLogFormatter(config::LogFormat format, bool journal) {
  return std::make_unique<ConsentdFormatter>(format, journal);
}

bool StderrIsJournal() {
  const char* env = std::getenv("JOURNAL_STREAM");
  if (!env || !*env) return false;
  struct stat st {};
  if (fstat(2, &st) != 0) return false;
  const std::string expected = std::to_string(static_cast<unsigned long long>(st.st_dev)) + ":" +
                               std::to_string(static_cast<unsigned long long>(st.st_ino));
  return expected == env;
}

Status ConfigureLogging(const config::LogConfig& log) {
  const auto level = spdlog::level::from_str(log.level);
  if (level == spdlog::level::off && log.level != "off") {
    return InvalidArgument("unknown log level '" + log.level + "'");
  }
  auto logger = spdlog::get(kLoggerName);
  if (!logger) {
    logger = std::make_shared<spdlog::logger>(kLoggerName,
                                              std::make_shared<spdlog::sinks::stderr_sink_mt>());
    spdlog::set_default_logger(logger);
  }
  logger->set_formatter(MakeLogFormatter(log.format, StderrIsJournal()));
  logger->set_level(level);
  // Every line reaches the journal (or a test's pipe) at once; the daemon
  // logs little, and a crash must not eat its last words.
  logger->flush_on(spdlog::level::trace);
  return Status::Ok();
}

}  // namespace consentd::daemon
