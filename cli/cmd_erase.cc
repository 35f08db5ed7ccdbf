// consentctl erase --email ADDRESS [--config FILE] [--url URL]
// [--token-file FILE]: asks the running consentd to erase that person
// everywhere (GDPR Art. 17) through the admin API (POST /api/v1/erasures):
// the same decision as an erasure arriving from a system (tombstones, the
// subject's evidence key destroyed, an erasure queued for every connected
// system in its configured mode). Prints the request id, the subject's
// pseudonym, the systems an erasure was queued for and the legal deadline.
// Exit 0 accepted; 3 no subject has that address; 1 any other failure.
#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "cli/admin_client.h"
#include "cli/command.h"
#include "config/config.h"

namespace consentd::cli {
namespace {

struct EraseArgs {
  AdminTarget target;
  std::string email;
};

int Fail(const std::string& message) {
  std::fprintf(stderr, "consentctl erase: %s\n", message.c_str());
  return 1;
}

std::string Utc(std::int64_t ms) {
  using namespace std::chrono;
  const sys_seconds t = floor<seconds>(sys_time<milliseconds>(milliseconds(ms)));
  const sys_days day = floor<days>(t);
  const year_month_day ymd{day};
  const hh_mm_ss hms{t - day};
  char buf[48];
  std::snprintf(buf, sizeof buf, "%04d-%02u-%02u %02ld:%02ld UTC", static_cast<int>(ymd.year()),
                static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()),
                static_cast<long>(hms.hours().count()), static_cast<long>(hms.minutes().count()));
  return buf;
}

int Erase(const EraseArgs& args) {
  Result<config::Config> config = config::LoadConfigFile(args.target.config_file);
  if (!config.ok()) {
    std::fprintf(stderr, "%s\n", config.status().message().c_str());
    return 1;
  }
  Result<net::HttpResponse> resp =
      CallAdminApi(args.target, *config, "POST", "/api/v1/erasures",
                   nlohmann::json{{"email", args.email}}.dump());
  if (!resp.ok()) return Fail(resp.status().message());
  if (AnswersNoSuchPerson(*resp)) {
    std::fprintf(stderr, "consentctl erase: %s\n", ProblemText(*resp).c_str());
    return 3;
  }
  if (resp->status != 202) {
    std::fprintf(stderr, "%s\n", ProblemText(*resp).c_str());
    return Fail("HTTP " + std::to_string(resp->status) + " from consentd");
  }
  try {
    const auto j = nlohmann::json::parse(resp->body);
    std::string targets;
    for (const auto& t : j.at("targets")) targets += " " + t.get<std::string>();
    std::printf("erasure accepted: %s\n", j.at("id").get<std::string>().c_str());
    std::printf("  subject:  %s (erased in consentd; evidence key destroyed)\n",
                j.at("subject").get<std::string>().c_str());
    std::printf("  queued:  %s\n", targets.empty() ? " (no system holds the person)" : targets.c_str());
    std::printf("  deadline: %s (one month, GDPR Art. 12(3))\n",
                Utc(j.at("deadline_ms").get<std::int64_t>()).c_str());
  } catch (const nlohmann::json::exception& e) {
    return Fail(std::string("unexpected answer: ") + e.what());
  }
  return 0;
}

}  // namespace

void RegisterErase(CLI::App& app, std::function<int()>& run) {
  auto* cmd = app.add_subcommand(
      "erase",
      "Erase a person everywhere (GDPR Art. 17) through the running consentd "
      "(POST /api/v1/erasures); exit 3 if no subject has the address");
  auto args = std::make_shared<EraseArgs>();
  cmd->add_option("--email", args->email, "the person's e-mail address")->required();
  args->target.AddOptions(*cmd);
  cmd->callback([args, &run] { run = [args] { return Erase(*args); }; });
}

}  // namespace consentd::cli
