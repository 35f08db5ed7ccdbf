// Helpers shared by the proof-log tests: reading the copied reference data
// in tests/data/ and small conversions.
#pragma once

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <stdexcept>
#include <string>

#include "core/proof/bytes.h"
#include "core/proof/hash.h"

namespace consentd::proof::testing {

inline nlohmann::json LoadJson(const std::string& relative) {
  std::ifstream in(std::string(CONSENTD_SOURCE_DIR) + "/tests/data/" + relative);
  if (!in) throw std::runtime_error("missing test data " + relative);
  std::stringstream ss;
  ss << in.rdbuf();
  return nlohmann::json::parse(ss.str());
}

inline Hash HexHash(const std::string& hex) { return HashFromBytes(*HexDecode(hex)); }

}  // namespace consentd::proof::testing
