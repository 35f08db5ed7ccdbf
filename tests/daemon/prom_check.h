// A small checker for the Prometheus text exposition format 0.0.4, used by
// the metrics tests and by the tests that scrape the real daemon. It
// parses the text and reports every rule it breaks; the parsed samples let
// tests look values up.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

namespace consentd::testing {

struct PromSample {
  std::string name;
  std::map<std::string, std::string> labels;  // unescaped values
  double value = 0;
};

struct PromExposition {
  std::vector<PromSample> samples;
  std::map<std::string, std::string> types;  // family → counter|gauge|histogram|...
  std::map<std::string, std::string> help;   // family → unescaped help
  std::vector<std::string> errors;           // empty: well-formed

  // The value of the sample with exactly these labels (all of them).
  std::optional<double> Value(const std::string& name,
                              const std::map<std::string, std::string>& labels = {}) const;
};

PromExposition ParseExposition(const std::string& text);

}  // namespace consentd::testing
