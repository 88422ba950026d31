// A program's configuration schema, declared once: every TOML key with its
// type, doc line, checks and (optionally) the command-line flag that
// overrides it, bound to the field of the program's config struct that holds
// it. From that one table the schema
//   * parses a TOML file (Read + Apply), refusing unknown sections and keys,
//     wrong types and integers the field cannot hold, each error naming the
//     file and the key;
//   * checks a finished config (Check: ranges, allowed values), after the
//     command line has overridden the file, naming the key (and its flag);
//   * prints the commented reference (PrintReference: `key = default # doc`,
//     the defaults read from a default-constructed config);
//   * renders a finished config's own values as a TOML file that parses back
//     into the same bound fields (RenderValues; hook keys are the program's).
// Cross-key rules stay with the program's own Validate function.
//
// Assumes: keys are "section.name" (one level); sections appear in the
// reference in the order their first key is declared. An array of tables
// ([[section.name]], type kTableList) holds rows of scalar and list values
// only; the program reads it from ConfigValues in a hook.
// Thread-safety: a schema is immutable after it is built; Read, Apply,
// Check, PrintReference and RenderValues may be called from any thread.
#ifndef FEDLEARN_COMMON_CONFIG_CONFIG_SCHEMA_H_
#define FEDLEARN_COMMON_CONFIG_CONFIG_SCHEMA_H_

#include <algorithm>
#include <cstdint>
#include <deque>
#include <functional>
#include <limits>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/util/status_macros.h"

namespace fedlearn {

enum class ConfigType {
  kBool,
  kInt,
  kDouble,
  kString,
  kStringList,
  kIntList,
  kTableList,  // [[section.name]]: rows of ConfigRow
};

// A scalar or list value; the alternative matches the key's ConfigType.
using ConfigScalar =
    std::variant<bool, int64_t, double, std::string, std::vector<std::string>,
                 std::vector<int64_t>>;
// One table of an array of tables: the values of the keys it sets.
using ConfigRow = std::map<std::string, ConfigScalar>;
using ConfigValue =
    std::variant<bool, int64_t, double, std::string, std::vector<std::string>,
                 std::vector<int64_t>, std::vector<ConfigRow>>;

// An interval a number must lie in (doubles must also be finite).
struct ConfigRange {
  double low = -std::numeric_limits<double>::infinity();
  double high = std::numeric_limits<double>::infinity();
  bool low_open = false;
  bool high_open = false;
};

// One key: what it is, how it is documented and checked.
struct ConfigKeySpec {
  std::string key;  // "section.name"
  ConfigType type = ConfigType::kString;
  std::string doc;  // printed after the value; '\n' continues the comment
  // kInt: the values the bound field can hold (narrowing is an error).
  int64_t min_int = std::numeric_limits<int64_t>::min();
  int64_t max_int = std::numeric_limits<int64_t>::max();
  std::optional<ConfigRange> range;     // kInt, kDouble
  std::vector<std::string> one_of;      // kString: the allowed values
  std::string flag;                     // e.g. "--threads"; "" = none
  std::vector<ConfigKeySpec> row_keys;  // kTableList: keys of each row
  bool commented = false;               // reference shows it commented out

  // Builders, for chaining after ConfigSchema::Field and friends.
  ConfigKeySpec& AtLeast(double low);
  ConfigKeySpec& Above(double low);
  ConfigKeySpec& Within(double low, double high, bool low_open = false,
                        bool high_open = false);
  ConfigKeySpec& OneOf(std::vector<std::string> values);
  ConfigKeySpec& Flag(std::string name);
  ConfigKeySpec& Commented();

  std::string section() const { return key.substr(0, key.find('.')); }
  std::string name() const { return key.substr(key.find('.') + 1); }
};

// The keys a file sets, type-checked, and where they came from.
struct ConfigValues {
  std::string origin;  // file name, for messages
  std::map<std::string, ConfigValue> values;

  bool Has(const std::string& key) const { return values.count(key) > 0; }
  // The value of `key` if the file sets it (T must match the key's type).
  template <typename T>
  const T* Find(const std::string& key) const {
    auto it = values.find(key);
    return it == values.end() ? nullptr : std::get_if<T>(&it->second);
  }
};

// Parses TOML text against `keys`: InvalidArgument naming `origin` and the
// key for a syntax error (with its line), a top-level key outside a section,
// an unknown section or key, a wrong type or an integer outside
// [min_int, max_int]. Range and one_of checks are not applied here.
absl::StatusOr<ConfigValues> ReadConfigToml(
    const std::vector<const ConfigKeySpec*>& keys, std::string_view toml_text,
    const std::string& origin);
// Parses one command-line value as `spec.type`; lists come as items.
absl::StatusOr<ConfigValue> ParseConfigFlag(
    const ConfigKeySpec& spec, const std::vector<std::string>& items);
// InvalidArgument naming the key (and flag) if `value` breaks spec's range
// or one_of.
absl::Status CheckConfigValue(const ConfigKeySpec& spec,
                              const ConfigValue& value);
// `value` as a TOML literal ("text", 1.0, [1, 2]).
std::string FormatConfigValue(const ConfigValue& value);
// A section header or `key = value` line with its doc comment aligned.
std::string FormatReferenceLine(const std::string& lhs, const std::string& doc,
                                bool commented);

template <typename Config>
class ConfigSchema {
 public:
  using Getter = std::function<ConfigValue(const Config&)>;
  using Setter = std::function<absl::Status(const ConfigValue&, Config&)>;

  // `header` opens the printed reference (comment lines without '#').
  explicit ConfigSchema(std::string header) : header_(std::move(header)) {}

  // A doc comment for [section] (printed on its header line) and, if
  // `example` is set, a commented-out example printed instead of its keys
  // (a section with no defaults, e.g. one read by a hook).
  void Section(const std::string& name, std::string doc,
               std::string example = "") {
    section_docs_[name] = {std::move(doc), std::move(example)};
  }

  // A key stored as is in the field `ref(config)` returns. `ref` is a
  // generic lambda `[](auto& c) -> auto& { return c.some.field; }`.
  template <typename Ref>
  ConfigKeySpec& Field(std::string key, std::string doc, Ref ref) {
    using T = std::decay_t<decltype(ref(std::declval<Config&>()))>;
    Entry& e = Add(std::move(key), TypeOf<T>(), std::move(doc));
    if constexpr (std::is_integral_v<T> && !std::is_same_v<T, bool>) {
      e.spec.min_int = static_cast<int64_t>(std::numeric_limits<T>::min());
      e.spec.max_int =
          std::numeric_limits<T>::max() > std::numeric_limits<int64_t>::max()
              ? std::numeric_limits<int64_t>::max()
              : static_cast<int64_t>(std::numeric_limits<T>::max());
    }
    e.get = [ref](const Config& c) { return ToValue(ref(c)); };
    e.set = [ref](const ConfigValue& v, Config& c) {
      FromValue(v, &ref(c));
      return absl::OkStatus();
    };
    return e.spec;
  }

  // A key held in another form: `get` renders the field as a V (bool,
  // int64_t, double, std::string), `set` stores one (and may refuse it).
  template <typename V>
  ConfigKeySpec& Mapped(std::string key, std::string doc,
                        std::function<V(const Config&)> get,
                        std::function<absl::Status(V, Config&)> set) {
    Entry& e = Add(std::move(key), TypeOf<V>(), std::move(doc));
    e.get = [get](const Config& c) { return ConfigValue(get(c)); };
    e.set = [set](const ConfigValue& v, Config& c) {
      return set(std::get<V>(v), c);
    };
    return e.spec;
  }

  // A string key naming one of `names` (an enum field): a file naming
  // anything else is refused when it is applied (the field cannot hold it).
  template <typename E, typename Ref>
  ConfigKeySpec& Enum(std::string key, std::string doc,
                      std::vector<std::pair<std::string, E>> names, Ref ref) {
    std::vector<std::string> allowed;
    for (const auto& [name, unused] : names) allowed.push_back(name);
    ConfigKeySpec& spec = Mapped<std::string>(
        std::move(key), std::move(doc),
        [names, ref](const Config& c) {
          for (const auto& [name, value] : names) {
            if (value == ref(c)) return name;
          }
          return std::string("?");
        },
        [names, ref](std::string text, Config& c) {
          for (const auto& [name, value] : names) {
            if (name == text) ref(c) = value;
          }
          return absl::OkStatus();  // Apply checked one_of already
        });
    entries_.back().check_on_apply = true;
    return spec.OneOf(std::move(allowed));
  }

  // A key the schema type-checks and documents but the program reads itself
  // from ConfigValues (a hook; e.g. an array of tables).
  ConfigKeySpec& Hook(std::string key, ConfigType type, std::string doc) {
    return Add(std::move(key), type, std::move(doc)).spec;
  }

  // Type-checks a TOML file against the keys (see ReadConfigToml).
  absl::StatusOr<ConfigValues> Read(std::string_view toml_text,
                                    const std::string& origin) const {
    return ReadConfigToml(Specs(), toml_text, origin);
  }

  // Stores every key `values` sets into `config` (hooks excepted). Only an
  // Enum key's one_of is checked here; Check() does the rest.
  absl::Status Apply(const ConfigValues& values, Config* config) const {
    for (const Entry& e : entries_) {
      auto it = values.values.find(e.spec.key);
      if (it == values.values.end() || !e.set) continue;
      absl::Status s = e.check_on_apply ? CheckConfigValue(e.spec, it->second)
                                        : absl::OkStatus();
      if (s.ok()) s = e.set(it->second, *config);
      if (!s.ok()) return Prefixed(values.origin, s);
    }
    return absl::OkStatus();
  }

  // Read, then Apply onto `config`.
  absl::Status Parse(std::string_view toml_text, const std::string& origin,
                     Config* config) const {
    absl::StatusOr<ConfigValues> values = Read(toml_text, origin);
    if (!values.ok()) return values.status();
    return Apply(*values, config);
  }

  // Sets `key` from command-line text (lists as items), checked for type.
  absl::Status SetFromFlag(const ConfigKeySpec& spec,
                           const std::vector<std::string>& items,
                           Config* config) const {
    for (const Entry& e : entries_) {
      if (&e.spec != &spec || !e.set) continue;
      absl::StatusOr<ConfigValue> value = ParseConfigFlag(spec, items);
      if (!value.ok()) return value.status();
      RETURN_IF_ERROR(CheckConfigValue(spec, *value));
      return e.set(*value, *config);
    }
    return absl::InvalidArgumentError("no such key: " + spec.key);
  }

  // The range and one_of checks of every key, on a finished config.
  absl::Status Check(const Config& config) const {
    for (const Entry& e : entries_) {
      if (!e.get) continue;
      RETURN_IF_ERROR(CheckConfigValue(e.spec, e.get(config)));
    }
    return absl::OkStatus();
  }

  // The value of every bound key in `config`, by key.
  std::map<std::string, ConfigValue> Values(const Config& config) const {
    std::map<std::string, ConfigValue> out;
    for (const Entry& e : entries_) {
      if (e.get) out.emplace(e.spec.key, e.get(config));
    }
    return out;
  }

  // The commented TOML reference, values taken from `defaults`.
  std::string PrintReference(const Config& defaults) const;

  // Leaves `spec` (a key of this schema) out of RenderValues for a config in
  // which `present` is false: an optional field that is unset, whose getter
  // can only show a stand-in value.
  void RenderOnlyIf(const ConfigKeySpec& spec,
                    std::function<bool(const Config&)> present) {
    for (Entry& e : entries_) {
      if (&e.spec == &spec) e.present = std::move(present);
    }
  }

  // `config`'s values as TOML that Parse reads back into the same bound
  // fields: every bound key (hooks and RenderOnlyIf omissions aside), live
  // (never commented out), grouped by section in declaration order, each
  // with its doc comment. `header` opens the text as comment lines.
  std::string RenderValues(const Config& config,
                           const std::string& header) const;

  std::vector<const ConfigKeySpec*> Specs() const {
    std::vector<const ConfigKeySpec*> out;
    for (const Entry& e : entries_) out.push_back(&e.spec);
    return out;
  }

 private:
  struct Entry {
    ConfigKeySpec spec;
    Getter get;                   // null for hooks
    Setter set;                   // null for hooks
    bool check_on_apply = false;  // Enum keys
    // RenderOnlyIf's predicate; null = always rendered.
    std::function<bool(const Config&)> present;
  };
  struct SectionDoc {
    std::string doc;
    std::string example;
  };

  Entry& Add(std::string key, ConfigType type, std::string doc) {
    Entry& e = entries_.emplace_back();
    e.spec.key = std::move(key);
    e.spec.type = type;
    e.spec.doc = std::move(doc);
    return e;
  }

  template <typename T>
  static constexpr ConfigType TypeOf() {
    if constexpr (std::is_same_v<T, bool>) {
      return ConfigType::kBool;
    } else if constexpr (std::is_integral_v<T>) {
      return ConfigType::kInt;
    } else if constexpr (std::is_floating_point_v<T>) {
      return ConfigType::kDouble;
    } else if constexpr (std::is_same_v<T, std::string>) {
      return ConfigType::kString;
    } else if constexpr (std::is_same_v<T, std::vector<std::string>>) {
      return ConfigType::kStringList;
    } else {
      static_assert(std::is_same_v<T, std::vector<int64_t>>,
                    "unsupported config field type");
      return ConfigType::kIntList;
    }
  }

  template <typename T>
  static ConfigValue ToValue(const T& field) {
    if constexpr (std::is_same_v<T, bool>) {
      return field;
    } else if constexpr (std::is_integral_v<T>) {
      return static_cast<int64_t>(field);
    } else if constexpr (std::is_floating_point_v<T>) {
      return static_cast<double>(field);
    } else {
      return field;
    }
  }

  // REQUIRES: v holds TypeOf<T>()'s alternative, in T's range (Read and
  // ParseConfigFlag check both).
  template <typename T>
  static void FromValue(const ConfigValue& v, T* field) {
    if constexpr (std::is_same_v<T, bool>) {
      *field = std::get<bool>(v);
    } else if constexpr (std::is_integral_v<T>) {
      *field = static_cast<T>(std::get<int64_t>(v));
    } else if constexpr (std::is_floating_point_v<T>) {
      *field = static_cast<T>(std::get<double>(v));
    } else {
      *field = std::get<T>(v);
    }
  }

  static absl::Status Prefixed(const std::string& origin,
                               const absl::Status& s) {
    return absl::Status(s.code(), origin + ": " + std::string(s.message()));
  }

  std::string header_;
  std::map<std::string, SectionDoc> section_docs_;
  std::deque<Entry> entries_;  // stable addresses: specs are handed out
};

// `text` as '#' comment lines.
std::string FormatCommentLines(const std::string& text);

template <typename Config>
std::string ConfigSchema<Config>::RenderValues(
    const Config& config, const std::string& header) const {
  std::vector<std::string> sections;  // in the order first declared
  for (const Entry& e : entries_) {
    if (std::find(sections.begin(), sections.end(), e.spec.section()) ==
        sections.end()) {
      sections.push_back(e.spec.section());
    }
  }
  std::string out = FormatCommentLines(header);
  for (const std::string& section : sections) {
    std::string lines;
    for (const Entry& e : entries_) {
      if (e.spec.section() != section || !e.get) continue;
      if (e.present && !e.present(config)) continue;
      lines += FormatReferenceLine(
          e.spec.name() + " = " + FormatConfigValue(e.get(config)), e.spec.doc,
          false);
    }
    if (!lines.empty()) out += "\n[" + section + "]\n" + lines;
  }
  return out;
}

template <typename Config>
std::string ConfigSchema<Config>::PrintReference(const Config& defaults) const {
  std::string out = FormatCommentLines(header_);
  std::string section;
  for (const Entry& e : entries_) {
    if (e.spec.section() != section) {
      section = e.spec.section();
      auto doc = section_docs_.find(section);
      const bool has = doc != section_docs_.end();
      if (has && !doc->second.example.empty()) {
        out += "\n" + doc->second.example;
        continue;
      }
      out += "\n" + FormatReferenceLine("[" + section + "]",
                                        has ? doc->second.doc : "", false);
    }
    auto section_doc = section_docs_.find(section);
    if (section_doc != section_docs_.end() &&
        !section_doc->second.example.empty()) {
      continue;
    }
    if (!e.get) continue;  // a hook key outside an example section
    const std::string flag = e.spec.flag.empty() ? "" : "[" + e.spec.flag + "]";
    const std::string doc = e.spec.doc.empty() || flag.empty()
                                ? e.spec.doc + flag
                                : e.spec.doc + " " + flag;
    out += FormatReferenceLine(
        e.spec.name() + " = " + FormatConfigValue(e.get(defaults)), doc,
        e.spec.commented);
  }
  return out;
}

}  // namespace fedlearn

#endif  // FEDLEARN_COMMON_CONFIG_CONFIG_SCHEMA_H_
