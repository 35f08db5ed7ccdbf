// Loader, JSON Schema, reference docs and the examples stay in step: the
// loader's own tables are the list every other place must match exactly, no
// more and no less.
//
// The list: AcceptedKeyPaths() (the daemon's sections and the mapping's
// fixed keys, via mapping::MappingKeys()), plus the per-system sides under
// mapping.topics[].systems and mapping.blocks[].systems, whose keys depend
// on the kind of the system named there. The mapping loader reads each kind
// with its own table; those tables give "mapping.topics[].systems.<hubspot>.
// subscriptions" and so on. In the schema a side is an anyOf of one object
// per kind, each with "title": KIND.
//
// Examples: config/examples/consentd.yaml sets every key outside `mapping`
// and `connectors` (connectors need a mapping; hubspot-mailchimp.yaml shows
// them with one). One configuration cannot show every mapping key (one system per role, so
// at most two of the three connector kinds), so the mapping subtree is
// covered by the examples together: every key, sides counted under the kind
// of the system they name, is set in at least one file of config/examples/,
// and no file sets a key the loader does not accept.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <string>

#include "config/config.h"
#include "config/yaml_reader.h"
#include "mapping/loader_sections.h"  // the per-kind side tables
#include "mapping/spec.h"

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

// A key whose value's keys depend on the connector kind of the system named.
struct KindSide {
  std::string at;  // an accepted key path, e.g. "mapping.topics[].systems"
  mapping::ConnectorKind kind;
  const KeyTree* keys;
};

std::vector<KindSide> KindSides() {
  namespace in = mapping::internal;
  using mapping::ConnectorKind;
  return {
      {"mapping.topics[].systems", ConnectorKind::kHubSpot, &in::HubSpotTopicSection()},
      {"mapping.topics[].systems", ConnectorKind::kMailchimp, &in::MailchimpTopicSection()},
      {"mapping.topics[].systems", ConnectorKind::kGeneric, &in::GenericTopicSection()},
      {"mapping.blocks[].systems", ConnectorKind::kHubSpot, &in::HubSpotBlockSection()},
      {"mapping.blocks[].systems", ConnectorKind::kMailchimp, &in::MailchimpBlockSection()},
      {"mapping.blocks[].systems", ConnectorKind::kGeneric, &in::GenericBlockSection()},
  };
}

// Every key path the loader accepts; see the file comment.
std::set<std::string> LoaderKeys(bool required_only = false) {
  std::set<std::string> keys = AsSet(required_only ? RequiredKeyPaths() : AcceptedKeyPaths());
  for (const KindSide& side : KindSides()) {
    const std::string prefix =
        side.at + ".<" + std::string(mapping::ConnectorKindName(side.kind)) + ">.";
    for (const std::string& k : KeyPaths(*side.keys, required_only)) keys.insert(prefix + k);
  }
  return keys;
}

bool InMappingOrConnectors(const std::string& path) {
  for (const std::string section : {"mapping", "connectors"}) {
    if (path == section || path.starts_with(section + ".")) return true;
  }
  return false;
}

std::set<std::string> OutsideMappingAndConnectors(const std::set<std::string>& keys) {
  std::set<std::string> out;
  for (const std::string& k : keys) {
    if (!InMappingOrConnectors(k)) out.insert(k);
  }
  return out;
}

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
    const Json& entry = Resolve(s["additionalProperties"], root);
    if (entry.contains("anyOf")) {
      // A per-system side: one alternative per connector kind, by title.
      for (const Json& alternative : entry["anyOf"]) {
        const Json& a = Resolve(alternative, root);
        EXPECT_TRUE(a.contains("title")) << prefix << ": an anyOf alternative without a title";
        Walk(a, root, prefix + "<" + a.value("title", "?") + ">.", out);
      }
    } else {
      Walk(entry, root, prefix + "*.", out);
    }
  }
}

SchemaKeys LoadSchemaKeys() {
  const Json root = Json::parse(ReadText(kSource + "/config/consentd.schema.json"));
  EXPECT_EQ(root.value("$schema", ""), "https://json-schema.org/draft/2020-12/schema");
  SchemaKeys keys;
  Walk(root, root, "", keys);
  return keys;
}

TEST(ConfigSchemaSync, KindSidesHangOffKeysTheLoaderAccepts) {
  const std::set<std::string> accepted = AsSet(AcceptedKeyPaths());
  for (const KindSide& side : KindSides()) EXPECT_TRUE(accepted.contains(side.at)) << side.at;
}

TEST(ConfigSchemaSync, SchemaHasExactlyTheKeysTheLoaderAccepts) {
  const SchemaKeys schema = LoadSchemaKeys();
  EXPECT_EQ(schema.all, LoaderKeys());
}

TEST(ConfigSchemaSync, SchemaRequiresExactlyWhatTheLoaderRequires) {
  EXPECT_EQ(LoadSchemaKeys().required, LoaderKeys(true));
}

// Names the loader knows from fixed lists, written out in the schema.
TEST(ConfigSchemaSync, SchemaChannelsAndKindsAreTheLoaders) {
  const Json root = Json::parse(ReadText(kSource + "/config/consentd.schema.json"));
  std::set<std::string> channels, kinds;
  for (std::string_view c : mapping::kChannelNames) channels.emplace(c);
  for (auto k : {mapping::ConnectorKind::kHubSpot, mapping::ConnectorKind::kMailchimp,
                 mapping::ConnectorKind::kGeneric}) {
    kinds.emplace(mapping::ConnectorKindName(k));
  }
  EXPECT_EQ(root["$defs"]["channel"]["enum"].get<std::set<std::string>>(), channels);
  EXPECT_EQ(root["properties"]["mapping"]["properties"]["systems"]["additionalProperties"]
                ["properties"]["kind"]["enum"]
                    .get<std::set<std::string>>(),
            kinds);
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
  EXPECT_EQ(DocumentedKeys(), LoaderKeys());
}

// The key paths a YAML file sets, named as the loader's tables name them:
// user-chosen names as "*", list items as "[]", a per-system side as
// "<KIND>" (the kind of that system under mapping.systems in the same
// file). A key the loader does not accept keeps its own name, so it shows
// up as a difference.
class ExampleKeys {
 public:
  explicit ExampleKeys(const std::set<std::string>& loader_keys) : known_(loader_keys) {
    for (const std::string& k : known_) {
      for (std::size_t dot = k.find('.'); dot != std::string::npos; dot = k.find('.', dot + 1)) {
        containers_.insert(k.substr(0, dot));
      }
    }
  }

  std::set<std::string> Of(const std::string& file) {
    const YAML::Node doc = YAML::LoadFile(file);
    kinds_.clear();
    // (A const yaml-cpp node throws when a missing key's node is queried.)
    const YAML::Node mapping = doc.IsMap() ? doc["mapping"] : YAML::Node();
    const YAML::Node systems =
        mapping.IsDefined() && mapping.IsMap() ? mapping["systems"] : YAML::Node();
    if (systems.IsDefined() && systems.IsMap()) {
      for (const auto& system : systems) {
        const YAML::Node kind = system.second.IsMap() ? system.second["kind"] : YAML::Node();
        if (kind.IsDefined() && kind.IsScalar()) {
          kinds_[system.first.Scalar()] = kind.Scalar();
        }
      }
    }
    std::set<std::string> out;
    Collect(doc, "", out);
    return out;
  }

 private:
  void Collect(const YAML::Node& n, const std::string& prefix, std::set<std::string>& out) {
    for (auto it = n.begin(); it != n.end(); ++it) {
      const std::string name = it->first.Scalar();
      const std::string fixed = prefix + name;
      if (known_.contains(fixed)) {
        out.insert(fixed);
        Descend(it->second, fixed, out);
      } else if (containers_.contains(prefix + "*")) {
        Descend(it->second, prefix + "*", out);
      } else if (kinds_.contains(name) && containers_.contains(prefix + "<" + kinds_[name] + ">")) {
        Descend(it->second, prefix + "<" + kinds_[name] + ">", out);
      } else {
        out.insert(fixed);
      }
    }
  }

  void Descend(const YAML::Node& value, const std::string& path, std::set<std::string>& out) {
    if (value.IsMap() && containers_.contains(path)) Collect(value, path + ".", out);
    if (value.IsSequence() && containers_.contains(path + "[]")) {
      for (const YAML::Node& item : value) {
        if (item.IsMap()) Collect(item, path + "[].", out);
      }
    }
  }

  std::set<std::string> known_;
  std::set<std::string> containers_;  // paths with keys below them
  std::map<std::string, std::string> kinds_;
};

std::vector<std::string> ExampleFiles() {
  std::vector<std::string> files;
  for (const auto& e : std::filesystem::directory_iterator(kSource + "/config/examples")) {
    if (e.path().extension() == ".yaml") files.push_back(e.path().string());
  }
  std::sort(files.begin(), files.end());
  return files;
}

TEST(ConfigSchemaSync, FullExampleSetsEveryKeyOutsideTheMappingAndConnectors) {
  ExampleKeys example(LoaderKeys());
  EXPECT_EQ(OutsideMappingAndConnectors(example.Of(kSource + "/config/examples/consentd.yaml")),
            OutsideMappingAndConnectors(LoaderKeys()));
}

TEST(ConfigSchemaSync, ExamplesTogetherSetEveryKeyAndNothingElse) {
  ExampleKeys example(LoaderKeys());
  std::set<std::string> keys;
  for (const std::string& file : ExampleFiles()) keys.merge(example.Of(file));
  // Accepted but not used yet (linking by phone): the loader warns where it
  // is set, and the examples load without warnings.
  std::set<std::string> expected = LoaderKeys();
  EXPECT_EQ(expected.erase("mapping.identity.default_country_code"), 1u);
  EXPECT_EQ(keys, expected);
}

TEST(ConfigSchemaSync, ExampleKeysNameSidesByTheKindOfTheirSystem) {
  ExampleKeys example(LoaderKeys());
  const std::set<std::string> keys =
      example.Of(kSource + "/config/examples/hubspot-mailchimp.yaml");
  EXPECT_TRUE(keys.contains("mapping.topics[].systems.<hubspot>.subscriptions"));
  EXPECT_TRUE(keys.contains("mapping.blocks[].systems.<mailchimp>.status"));
  EXPECT_TRUE(keys.contains("mapping.erasure.*.mode"));
  EXPECT_FALSE(keys.contains("mapping.topics[].systems.<generic>.topic"));
}

// Validates with an independent JSON Schema implementation: Debian's
// python3 with python3-jsonschema and python3-yaml (scripts/install-deps
// installs them; a missing one fails the test rather than skipping it).
// The Debian interpreter is named explicitly: a python3 earlier on PATH
// (pyenv, venv) may lack the Debian modules.
constexpr char kPython[] = "/usr/bin/python3";
TEST(ConfigSchemaSync, ExampleAndDemoConfigsValidateAgainstTheSchema) {
  ASSERT_EQ(
      std::system((std::string(kPython) + " -c 'import jsonschema, yaml' >/dev/null 2>&1").c_str()),
      0)
      << kPython << " lacks jsonschema or yaml: run scripts/install-deps";
  const std::string script =
      "import json, sys, yaml, jsonschema\n"
      "s = json.load(open(sys.argv[1]))\n"
      "jsonschema.Draft202012Validator.check_schema(s)\n"
      "for f in sys.argv[2:]:\n"
      "    jsonschema.Draft202012Validator(s).validate(yaml.safe_load(open(f)))\n";
  std::string command = std::string(kPython) + " -c '" + script + "' '" + kSource +
                        "/config/consentd.schema.json' '" + kSource + "/config/demo/consentd.yaml'";
  for (const std::string& file : ExampleFiles()) command += " '" + file + "'";
  EXPECT_EQ(std::system(command.c_str()), 0);
}

TEST(ConfigSchemaSync, SchemaRejectsWhatTheLoaderRejects) {
  ASSERT_EQ(
      std::system((std::string(kPython) + " -c 'import jsonschema, yaml' >/dev/null 2>&1").c_str()),
      0)
      << kPython << " lacks jsonschema or yaml: run scripts/install-deps";
  const std::string script =
      "import json, sys, yaml, jsonschema\n"
      "s = json.load(open(sys.argv[1]))\n"
      "bad = [{\"http\": {\"listn\": \"127.0.0.1:1\"}, \"store\": {\"path\": \"a\"}},\n"
      "       {\"http\": {}},\n"
      "       {\"store\": {\"path\": \"a\"}, \"http\": {\"read_timeout\": \"10\"}},\n"
      "       {\"store\": {\"path\": \"a\"}, \"log\": {\"format\": \"yaml\"}},\n"
      "       {\"store\": {\"path\": \"a\"}, \"admin\": {\"token\": \"x\"}}]\n"
      "import copy\n"
      "good = {\"store\": {\"path\": \"a\"}, \"mapping\": {\n"
      "  \"systems\": {\"h\": {\"kind\": \"hubspot\", \"role\": \"crm\"},\n"
      "              \"m\": {\"kind\": \"mailchimp\", \"role\": \"journey\"}},\n"
      "  \"channels\": {\"email\": {\"h\": \"EMAIL\"}},\n"
      "  \"topics\": [{\"name\": \"news\", \"channels\": [\"email\"],\n"
      "              \"systems\": {\"h\": {\"subscriptions\": {\"email\": 1}}}}],\n"
      "  \"blocks\": [{\"name\": \"b\", \"scope\": \"all\", \"systems\": {\"m\": {\"status\": "
      "\"unsubscribed\"}}}],\n"
      "  \"erasure\": {\"h\": {\"mode\": \"restrict\", \"retention\": \"10y\"}}},\n"
      "  \"connectors\": {\"h\": {\"kind\": \"hubspot\", \"base_url\": "
      "\"https://api.hubapi.com\",\n"
      "                          \"token_file\": \"t\"},\n"
      "                   \"m\": {\"kind\": \"mailchimp\", \"base_url\": \"http://127.0.0.1:1\",\n"
      "                          \"api_key_file\": \"k\", \"list_id\": \"abc\"}},\n"
      "  \"sync\": {\"max_attempts\": 3}}\n"
      "def bad_mapping(edit):\n"
      "    b = copy.deepcopy(good)\n"
      "    edit(b[\"mapping\"])\n"
      "    return b\n"
      "bad += [bad_mapping(lambda m: m.update(extra=1)),\n"
      "        bad_mapping(lambda m: m.pop(\"topics\")),\n"
      "        bad_mapping(lambda m: m[\"systems\"][\"h\"].update(kind=\"hubspott\")),\n"
      "        bad_mapping(lambda m: m[\"channels\"].update(fax={})),\n"
      "        bad_mapping(lambda m: "
      "m[\"topics\"][0][\"systems\"][\"h\"].update(subscription={})),\n"
      "        bad_mapping(lambda m: "
      "m[\"blocks\"][0][\"systems\"][\"m\"].update(status=\"archived\")),\n"
      "        bad_mapping(lambda m: m[\"erasure\"][\"h\"].update(retention=\"10 years\"))]\n"
      "def bad_config(edit):\n"
      "    b = copy.deepcopy(good)\n"
      "    edit(b)\n"
      "    return b\n"
      "bad += [bad_config(lambda c: c[\"connectors\"][\"h\"].update(kind=\"generic\")),\n"
      "        bad_config(lambda c: c[\"connectors\"][\"h\"].pop(\"token_file\")),\n"
      "        bad_config(lambda c: c[\"connectors\"][\"m\"].update(token_file=\"t\")),\n"
      "        bad_config(lambda c: c[\"connectors\"][\"m\"].pop(\"list_id\")),\n"
      "        bad_config(lambda c: c[\"connectors\"][\"h\"].update(base_url=\"ftp://x\")),\n"
      "        bad_config(lambda c: c[\"connectors\"][\"h\"].update(rate_limit={\"rps\": 1})),\n"
      "        bad_config(lambda c: c[\"connectors\"].update(H=c[\"connectors\"][\"h\"])),\n"
      "        bad_config(lambda c: c[\"sync\"].update(max_attempts=0)),\n"
      "        bad_config(lambda c: c[\"sync\"].update(retry_cap=\"5 minutes\"))]\n"
      "v = jsonschema.Draft202012Validator(s)\n"
      "sys.exit(0 if v.is_valid(good) and all(not v.is_valid(b) for b in bad) else 1)\n";
  const std::string command =
      std::string(kPython) + " -c '" + script + "' '" + kSource + "/config/consentd.schema.json'";
  EXPECT_EQ(std::system(command.c_str()), 0);
}

}  // namespace
}  // namespace consentd::config
