// A small toolkit for reading YAML into typed structs with positioned,
// collected errors. config.cc uses it for the daemon's own sections,
// mapping/loader.cc for `mapping:`; later sections (connectors:, proof_log:,
// ...) reuse it the same way. It is its own library, consentd_config_toolkit
// (with diagnostics.h and suggest.h), so that a section's module can depend
// on it while consentd_config depends on that module.
//
// How to read a section:
//
//   struct PollConfig { std::chrono::milliseconds interval{60000}; std::string token_file; };
//
//   const Section<PollConfig>& PollSection() {
//     static const Section<PollConfig> s("poll", {
//         ValueField<PollConfig>("interval", Presence::kOptional, &PollConfig::interval,
//             [](const YAML::Node& n, ReadContext& c) {
//               return ReadDuration(n, c, std::chrono::seconds(1), std::chrono::hours(24));
//             }),
//         ValueField<PollConfig>("token_file", Presence::kRequired, &PollConfig::token_file,
//             ReadSecretFile),
//     });
//     return s;
//   }
//   // and in the parent's table:
//   SectionField<Config>("poll", Presence::kOptional, PollSection(), &Config::poll),
//
// Section::Read reports, each at its own position and all in one pass:
// unknown keys (with a "did you mean" suggestion, or the list of valid keys),
// an inline secret `x:` where `x_file` is expected, duplicate keys, a value
// that is not a mapping, and missing required keys (at the position of the
// section's key, e.g. `store:`, or 1:1 for the top level).
// Typed readers (ReadInteger, ReadDuration, ...) report a bad value at the
// value's position, naming the expected form, and return nullopt; the field
// then keeps its default. Nothing here throws.
//
// Lists and maps of named entries (e.g. `topics: [...]`, `connectors:
// {hubspot: {...}}`) are read with ReadList / ReadNamedMappings inside a
// custom field reader; declare them with Shape::kList / kNamedMappings and
// the entry's Section so that KeyPaths() lists their keys too
// ("topics[].name", "connectors.*.base_url"). A worked example with both
// is the Toy section in tests/config/config_toolkit_test.cc.
//
// Cross-references (a topic naming an unknown channel) are checked after
// reading: keep PositionOf(node) in your struct while reading, then call
// c.diag.Error(position, "...") / c.diag.Warning(...) from the check, with
// DidYouMean() for misspelt names. Warnings do not fail a load; they reach
// Config::warnings and check-config prints them.
//
// Secrets: never print a value read from a `_file` file, and never echo the
// value of an unknown key (it may be a secret typed inline).
//
// Thread-compatible: Sections are immutable after construction (use them
// from any thread); a ReadContext belongs to one load.
#pragma once

#include <yaml-cpp/yaml.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "config/diagnostics.h"

namespace consentd::config {

// 1-based position of a node or mark; {0,0} for a null mark.
Position PositionOf(const YAML::Mark& mark);
Position PositionOf(const YAML::Node& node);

// Everything a reader needs besides the node itself.
struct ReadContext {
  Diagnostics& diag;
  std::string base_dir;         // absolute directory of the config file
  std::string credentials_dir;  // $CREDENTIALS_DIRECTORY, or empty
  // The directory of store.path, resolved (empty if not set): a generated
  // key may go there before it exists (ReadGeneratedKeyFile).
  std::string store_dir{};
  // Position of the key whose value is being read; errors about a null
  // value go here (yaml-cpp marks a null value at the following token).
  // Maintained by Section::Read.
  Position key_at{1, 1};
};

// Where to report a problem with `n`: its own position, or key_at when it
// is null or absent.
Position ValuePosition(const YAML::Node& n, const ReadContext& c);

// ---- Typed readers. Each reports its own error and returns nullopt. ----

// Any scalar (not null, not a mapping or list). `what` names the expected
// form in the error, e.g. "a file path".
std::optional<std::string> ReadString(const YAML::Node& n, ReadContext& c,
                                      std::string_view what = "a string");
// `true` or `false`.
std::optional<bool> ReadBool(const YAML::Node& n, ReadContext& c);
// A decimal integer in [min, max].
std::optional<std::int64_t> ReadInteger(const YAML::Node& n, ReadContext& c, std::int64_t min,
                                        std::int64_t max);
// "500ms", "10s", "5m", "1h", or sums like "1m30s"; in [min, max].
std::optional<std::chrono::milliseconds> ReadDuration(const YAML::Node& n, ReadContext& c,
                                                      std::chrono::milliseconds min,
                                                      std::chrono::milliseconds max);
// Bytes as an integer, or with a unit: B, KiB, MiB, GiB (1024) or kB, MB,
// GB (1000), e.g. "1MiB", "512 KiB"; in [min, max].
std::optional<std::uint64_t> ReadByteSize(const YAML::Node& n, ReadContext& c, std::uint64_t min,
                                          std::uint64_t max);
// One of `choices` (exact, case-sensitive), with a suggestion otherwise.
std::optional<std::string> ReadChoice(const YAML::Node& n, ReadContext& c,
                                      std::span<const std::string_view> choices);

struct ListenAddress {
  std::string address;  // IP literal, without brackets
  std::uint16_t port = 0;
};
// "ADDRESS:PORT": IPv4 "127.0.0.1:8470" or IPv6 "[::1]:8470"; port 0..65535
// (0 lets the system pick a free port).
std::optional<ListenAddress> ReadListenAddress(const YAML::Node& n, ReadContext& c);

// A file path; a relative one resolves against the config file's directory.
// The file need not exist (e.g. a database created on first start).
std::optional<std::string> ReadPath(const YAML::Node& n, ReadContext& c);
// The same, for a file consentd reads or creates there: something there
// that is not a regular file (a directory) is an error at the value.
std::optional<std::string> ReadFilePath(const YAML::Node& n, ReadContext& c);
// A file consentd creates when it first writes to it (the erasure ledger):
// ReadFilePath, and a warning when neither the file nor its directory
// exists (unless it is the database's directory, c.store_dir, see
// ReadGeneratedKeyFile).
std::optional<std::string> ReadFileToCreate(const YAML::Node& n, ReadContext& c);

// A `*_file` secret: resolved with ResolveSecretPath (see config.h) and
// checked to be a readable regular file. Returns the resolved path; the
// file's content is never read here, nor printed anywhere.
std::optional<std::string> ReadSecretFile(const YAML::Node& n, ReadContext& c);

// A URL as an error message may show it: user information, query and
// fragment (where an API key typed inline would be) are replaced by "…".
std::string UrlForMessages(std::string_view url);

// A `*_file` key file that consentd generates (mode 0600) on first start:
// resolved like ReadSecretFile, but a missing file is accepted when its
// directory exists (that is where it will be created), or is the
// database's directory (c.store_dir), which systemd's StateDirectory=
// creates only at the first start and whose absence the store reports when
// it opens. `what` names it in messages, e.g. "signing key file".
std::optional<std::string> ReadGeneratedKeyFile(const YAML::Node& n, ReadContext& c,
                                                std::string_view what);

// Keys seen so far in a free-form mapping (body templates, headers, ...),
// by the spelling the key is compared in: the first occurrence of `key`
// is recorded and true returned; a repeat is an error at `at` naming the
// first, and false (YAML would keep one of the two silently).
bool FirstOccurrence(std::map<std::string, Position>& seen, const std::string& key, Position at,
                     ReadContext& c, std::string_view what = "key");

// Resolves a `*_file` value: an absolute path as given; a path with a '/'
// against `base_dir`; a bare name against `credentials_dir` when set, else
// against `base_dir`.
std::string ResolveSecretFile(const std::string& value, const std::string& base_dir,
                              const std::string& credentials_dir);

// Calls `each(item)` for every item of a list; null counts as empty.
void ReadList(const YAML::Node& n, ReadContext& c,
              const std::function<void(const YAML::Node& item)>& each);
// Calls `each(name, name_node, value)` for every entry of a mapping whose
// keys are names chosen by the user (e.g. connector names). Reports
// non-scalar and duplicate names.
void ReadNamedMappings(const YAML::Node& n, ReadContext& c,
                       const std::function<void(const std::string& name, const YAML::Node& key,
                                                const YAML::Node& value)>& each);

// ---- Sections: a table of fields per YAML mapping. ----

enum class Presence { kOptional, kRequired };
// What a key holds, for KeyPaths(): a value, one mapping, a list of
// mappings, or a mapping of user-named mappings.
enum class Shape { kValue, kMapping, kList, kNamedMappings };

class KeyTree;
struct KeyInfo {
  std::string_view key;
  Presence presence;
  Shape shape;
  const KeyTree* sub;  // the entries' keys, for the non-value shapes
};

// Type-erased view of a Section, for listing keys (schema/doc checks).
class KeyTree {
 public:
  virtual ~KeyTree() = default;
  virtual std::vector<KeyInfo> Keys() const = 0;
};

// Every key path under `tree`, depth first in table order: "http",
// "http.listen", "topics", "topics[].name", "connectors.*.base_url".
// With required_only, only keys that must be present where their parent is.
std::vector<std::string> KeyPaths(const KeyTree& tree, bool required_only = false);

template <typename T>
struct Field {
  std::string_view key;
  Presence presence;
  std::function<void(const YAML::Node& value, ReadContext& c, T& out)> read;
  Shape shape = Shape::kValue;
  const KeyTree* sub = nullptr;
};

namespace internal {
struct FieldRef {
  std::string_view key;
  Presence presence;
};
// Checks that `node` is a mapping (null: empty), reports unknown, duplicate,
// inline-secret and missing keys, and calls `read(index, value)` for each
// known key present. `where` is the section's dotted path ("" for the root).
void ReadMapping(const YAML::Node& node, ReadContext& c, std::string_view where,
                 std::span<const FieldRef> fields,
                 const std::function<void(std::size_t index, const YAML::Node& value)>& read);
}  // namespace internal

template <typename T>
class Section final : public KeyTree {
 public:
  // `path` is the section's dotted path in messages ("" for the root).
  Section(std::string path, std::vector<Field<T>> fields)
      : path_(std::move(path)), fields_(std::move(fields)) {
    for (const Field<T>& f : fields_) refs_.push_back({f.key, f.presence});
  }

  // Reads every known key of `node` into `out`; see the file comment for
  // what is reported. Keys absent from `node` keep `out`'s defaults.
  void Read(const YAML::Node& node, ReadContext& c, T& out) const {
    internal::ReadMapping(node, c, path_, refs_, [&](std::size_t i, const YAML::Node& value) {
      fields_[i].read(value, c, out);
    });
  }

  std::vector<KeyInfo> Keys() const override {
    std::vector<KeyInfo> keys;
    for (const Field<T>& f : fields_) keys.push_back({f.key, f.presence, f.shape, f.sub});
    return keys;
  }

 private:
  std::string path_;
  std::vector<Field<T>> fields_;
  std::vector<internal::FieldRef> refs_;
};

// A field read by `reader` (returns std::optional<V>) into `out.*member`.
template <typename T, typename V, typename Reader>
Field<T> ValueField(std::string_view key, Presence presence, V T::*member, Reader reader) {
  return Field<T>{key, presence, [member, reader](const YAML::Node& n, ReadContext& c, T& out) {
                    if (auto v = reader(n, c)) out.*member = static_cast<V>(*v);
                  }};
}

// A nested mapping read by `section` into `out.*member`.
template <typename T, typename S>
Field<T> SectionField(std::string_view key, Presence presence, const Section<S>& section,
                      S T::*member) {
  return Field<T>{key, presence,
                  [&section, member](const YAML::Node& n, ReadContext& c, T& out) {
                    section.Read(n, c, out.*member);
                  },
                  Shape::kMapping, &section};
}

}  // namespace consentd::config
