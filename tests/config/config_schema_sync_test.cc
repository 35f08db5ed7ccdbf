// Loader, JSON Schema, reference docs and the full example stay in step:
// the loader's own tables (AcceptedKeyPaths) are the list every other place
// must match exactly, no more and no less.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <string>

#include "config/config.h"

namespace consentd::config {
namespace {

using Json = nlohmann::json;

const std::string kSource = CONSENTD_SOURCE_DIR;

std::string ReadText(const std::string& path) {
  std::ifstream in(path);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

std::set<std::string> AsSet(const std::vector<std::string>& v) { return {v.begin(), v.end()}; }

struct SchemaKeys {
  std::set<std::string> all;
  std::set<std::string> required;
  std::vector<std::string> open_objects;  // objects that allow unlisted keys
};

const Json& Resolve(const Json& schema, const Json& root) {
  if (!schema.contains("$ref")) return schema;
  const std::string ref = schema["$ref"];
  const std::string prefix = "#/$defs/";
  EXPECT_EQ(ref.rfind(prefix, 0), 0u) << ref;
  return root["$defs"][ref.substr(prefix.size())];
}

void Walk(const Json& schema, const Json& root, const std::string& prefix, SchemaKeys& out) {
  const Json& s = Resolve(schema, root);
  if (s.contains("properties")) {
    if (!(s.contains("additionalProperties") && s["additionalProperties"] == false)) {
      out.open_objects.push_back(prefix.empty() ? "(root)" : prefix);
    }
    std::set<std::string> required;
    if (s.contains("required")) {
      for (const auto& r : s["required"]) required.insert(r.get<std::string>());
    }
    for (const auto& [name, sub] : s["properties"].items()) {
      out.all.insert(prefix + name);
      if (required.count(name)) out.required.insert(prefix + name);
      Walk(sub, root, prefix + name + ".", out);
    }
  } else if (s.contains("items")) {
    std::string base = prefix.substr(0, prefix.size() - 1);
    Walk(s["items"], root, base + "[].", out);
  } else if (s.contains("additionalProperties") && s["additionalProperties"].is_object()) {
    Walk(s["additionalProperties"], root, prefix + "*.", out);
  }
}

SchemaKeys LoadSchemaKeys() {
  const Json root = Json::parse(ReadText(kSource + "/config/consentd.schema.json"));
  EXPECT_EQ(root.value("$schema", ""), "https://json-schema.org/draft/2020-12/schema");
  SchemaKeys keys;
  Walk(root, root, "", keys);
  return keys;
}

TEST(ConfigSchemaSync, SchemaHasExactlyTheKeysTheLoaderAccepts) {
  const SchemaKeys schema = LoadSchemaKeys();
  EXPECT_EQ(schema.all, AsSet(AcceptedKeyPaths()));
}

TEST(ConfigSchemaSync, SchemaRequiresExactlyWhatTheLoaderRequires) {
  EXPECT_EQ(LoadSchemaKeys().required, AsSet(RequiredKeyPaths()));
}

TEST(ConfigSchemaSync, SchemaRejectsUnknownKeysLikeTheLoader) {
  EXPECT_THAT(LoadSchemaKeys().open_objects, ::testing::IsEmpty());
}

// Keys in the first column of the tables under "## Reference", as `key`.
std::set<std::string> DocumentedKeys() {
  std::istringstream in(ReadText(kSource + "/docs/configuration.md"));
  std::set<std::string> keys;
  bool in_reference = false;
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("## ", 0) == 0) in_reference = line == "## Reference";
    if (!in_reference || line.rfind("| `", 0) != 0) continue;
    const auto end = line.find('`', 3);
    if (end != std::string::npos) keys.insert(line.substr(3, end - 3));
  }
  return keys;
}

TEST(ConfigSchemaSync, DocsReferenceHasExactlyTheKeysTheLoaderAccepts) {
  EXPECT_EQ(DocumentedKeys(), AsSet(AcceptedKeyPaths()));
}

void CollectYamlKeys(const YAML::Node& n, const std::string& prefix, std::set<std::string>& out) {
  if (!n.IsMap()) return;
  for (auto it = n.begin(); it != n.end(); ++it) {
    const std::string path = prefix + it->first.Scalar();
    out.insert(path);
    CollectYamlKeys(it->second, path + ".", out);
  }
}

TEST(ConfigSchemaSync, FullExampleSetsEveryKey) {
  std::set<std::string> keys;
  CollectYamlKeys(YAML::LoadFile(kSource + "/config/examples/consentd.yaml"), "", keys);
  EXPECT_EQ(keys, AsSet(AcceptedKeyPaths()));
}

// Validates with an independent JSON Schema implementation: Debian's
// python3 with python3-jsonschema and python3-yaml (scripts/install-deps
// installs them; a missing one fails the test rather than skipping it).
// The Debian interpreter is named explicitly: a python3 earlier on PATH
// (pyenv, venv) may lack the Debian modules.
constexpr char kPython[] = "/usr/bin/python3";
TEST(ConfigSchemaSync, ExampleAndDemoConfigsValidateAgainstTheSchema) {
  ASSERT_EQ(std::system((std::string(kPython) + " -c 'import jsonschema, yaml' >/dev/null 2>&1").c_str()), 0)
      << kPython << " lacks jsonschema or yaml: run scripts/install-deps";
  const std::string script =
      "import json, sys, yaml, jsonschema\n"
      "s = json.load(open(sys.argv[1]))\n"
      "jsonschema.Draft202012Validator.check_schema(s)\n"
      "for f in sys.argv[2:]:\n"
      "    jsonschema.Draft202012Validator(s).validate(yaml.safe_load(open(f)))\n";
  const std::string command =
      std::string(kPython) + " -c '" + script + "' '" + kSource + "/config/consentd.schema.json' '" + kSource +
      "/config/examples/consentd.yaml' '" + kSource + "/config/demo/consentd.yaml'";
  EXPECT_EQ(std::system(command.c_str()), 0);
}

TEST(ConfigSchemaSync, SchemaRejectsWhatTheLoaderRejects) {
  ASSERT_EQ(std::system((std::string(kPython) + " -c 'import jsonschema, yaml' >/dev/null 2>&1").c_str()), 0)
      << kPython << " lacks jsonschema or yaml: run scripts/install-deps";
  const std::string script =
      "import json, sys, yaml, jsonschema\n"
      "s = json.load(open(sys.argv[1]))\n"
      "bad = [{\"http\": {\"listn\": \"127.0.0.1:1\"}, \"store\": {\"path\": \"a\"}},\n"
      "       {\"http\": {}},\n"
      "       {\"store\": {\"path\": \"a\"}, \"http\": {\"read_timeout\": \"10\"}},\n"
      "       {\"store\": {\"path\": \"a\"}, \"log\": {\"format\": \"yaml\"}},\n"
      "       {\"store\": {\"path\": \"a\"}, \"admin\": {\"token\": \"x\"}}]\n"
      "v = jsonschema.Draft202012Validator(s)\n"
      "sys.exit(0 if all(not v.is_valid(b) for b in bad) else 1)\n";
  const std::string command =
      std::string(kPython) + " -c '" + script + "' '" + kSource + "/config/consentd.schema.json'";
  EXPECT_EQ(std::system(command.c_str()), 0);
}

}  // namespace
}  // namespace consentd::config
