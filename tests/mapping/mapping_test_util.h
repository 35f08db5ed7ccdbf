// Shared helpers for the mapping tests: the worked example and a small
// valid mapping to mutate line by line.
#pragma once

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "mapping/loader.h"
#include "mapping/spec.h"

namespace consentd::mapping::testing {

inline const std::string kExamplePath =
    std::string(CONSENTD_SOURCE_DIR) + "/config/examples/hubspot-mailchimp.yaml";

inline MappingSpec LoadExample() {
  auto spec = LoadMappingFromConfigFile(kExamplePath);
  EXPECT_TRUE(spec.ok()) << spec.status().message();
  return spec.ok() ? *spec : MappingSpec{};
}

// A small valid mapping; line i of the vector is line i+1 of the file.
inline std::vector<std::string> BaseLines() {
  return {
      "mapping:",                                         // 1
      "  systems:",                                       // 2
      "    hubspot: {kind: hubspot, role: crm}",          // 3
      "    mailchimp: {kind: mailchimp, role: journey}",  // 4
      "  channels:",                                      // 5
      "    email: {hubspot: EMAIL, mailchimp: email}",    // 6
      "  topics:",                                        // 7
      "    - name: newsletter",                           // 8
      "      channels: [email]",                          // 9
      "      systems:",                                   // 10
      "        hubspot: {subscriptions: {email: 1}}",     // 11
      "        mailchimp: {interest: abc}",               // 12
      "  erasure:",                                       // 13
      "    hubspot: {mode: delete}",                      // 14
      "    mailchimp: {mode: delete}",                    // 15
  };
}

inline std::string Join(const std::vector<std::string>& lines) {
  std::string text;
  for (const auto& l : lines) text += l + "\n";
  return text;
}

}  // namespace consentd::mapping::testing
