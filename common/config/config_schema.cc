#include "common/config/config_schema.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <sstream>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/util/status_macros.h"
#include "toml++/toml.h"

namespace fedlearn {
namespace {

// Doc comments start at this column, as in the hand-written references.
constexpr size_t kDocColumn = 28;

const char* TypeName(ConfigType type) {
  switch (type) {
    case ConfigType::kBool:
      return "true or false";
    case ConfigType::kInt:
      return "an integer";
    case ConfigType::kDouble:
      return "a number";
    case ConfigType::kString:
      return "a string";
    case ConfigType::kStringList:
      return "an array of strings";
    case ConfigType::kIntList:
      return "an array of integers";
    case ConfigType::kTableList:
      return "an array of tables";
  }
  return "?";
}

// The shortest text that reads back as `x` ("0.05", not
// 0.05000000000000000277).
std::string ShortestDouble(double x) {
  char buf[40];
  if (x == std::trunc(x) && std::abs(x) < 1e15) {
    std::snprintf(buf, sizeof(buf), "%.0f", x);  // 120, not 1.2e+02
    return buf;
  }
  for (int precision = 1; precision <= 17; ++precision) {
    std::snprintf(buf, sizeof(buf), "%.*g", precision, x);
    if (std::strtod(buf, nullptr) == x) break;
  }
  std::string out = buf;
  // 1e-05 -> 1e-5: shorter, and what people write.
  if (size_t e = out.find("e-0"); e != std::string::npos) out.erase(e + 2, 1);
  if (size_t e = out.find("e+0"); e != std::string::npos) out.erase(e + 2, 1);
  return out;
}

std::string Quoted(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof(buf), "\\u%04x", c);
          out += buf;
        } else {
          out += c;
        }
    }
  }
  return out + "\"";
}

absl::Status WrongType(const std::string& origin, const std::string& key,
                       ConfigType type) {
  return absl::InvalidArgumentError(
      absl::StrCat(origin, ": '", key, "' has the wrong type (expected ",
                   TypeName(type), ")"));
}

absl::StatusOr<int64_t> IntInRange(const std::string& origin,
                                   const ConfigKeySpec& spec,
                                   const std::string& key, int64_t v) {
  if (v < spec.min_int && spec.min_int >= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(origin, ": '", key, "' must not be negative"));
  }
  // Narrowing must not silently wrap (rounds = 4294967297 is not 1).
  if (v < spec.min_int || v > spec.max_int) {
    return absl::InvalidArgumentError(
        absl::StrCat(origin, ": '", key, "' is out of range [", spec.min_int,
                     ", ", spec.max_int, "]"));
  }
  return v;
}

// A scalar or list node as `spec.type` (not kTableList).
absl::StatusOr<ConfigScalar> ReadScalar(const toml::node& node,
                                        const ConfigKeySpec& spec,
                                        const std::string& key,
                                        const std::string& origin) {
  switch (spec.type) {
    case ConfigType::kBool:
      if (auto v = node.value_exact<bool>()) return *v;
      break;
    case ConfigType::kInt:
      if (auto v = node.value_exact<int64_t>()) {
        return IntInRange(origin, spec, key, *v);
      }
      break;
    case ConfigType::kDouble:
      if (node.is_integer() || node.is_floating_point()) {
        return *node.value<double>();
      }
      break;
    case ConfigType::kString:
      if (auto v = node.value_exact<std::string>()) return *v;
      break;
    case ConfigType::kStringList:
    case ConfigType::kIntList: {
      const toml::array* array = node.as_array();
      if (array == nullptr) break;
      std::vector<std::string> strings;
      std::vector<int64_t> ints;
      for (const toml::node& element : *array) {
        if (spec.type == ConfigType::kStringList) {
          auto v = element.value_exact<std::string>();
          if (!v) return WrongType(origin, key, spec.type);
          strings.push_back(*v);
        } else {
          auto v = element.value_exact<int64_t>();
          if (!v) return WrongType(origin, key, spec.type);
          ints.push_back(*v);
        }
      }
      if (spec.type == ConfigType::kStringList) return strings;
      return ints;
    }
    case ConfigType::kTableList:
      break;
  }
  return WrongType(origin, key, spec.type);
}

absl::StatusOr<std::vector<ConfigRow>> ReadRows(const toml::node& node,
                                                const ConfigKeySpec& spec,
                                                const std::string& origin) {
  const toml::array* array = node.as_array();
  if (array == nullptr) return WrongType(origin, spec.key, spec.type);
  std::vector<std::string> names;
  for (const ConfigKeySpec& k : spec.row_keys) names.push_back(k.key);
  std::vector<ConfigRow> rows;
  for (const toml::node& element : *array) {
    const toml::table* table = element.as_table();
    if (table == nullptr) {
      return absl::InvalidArgumentError(
          absl::StrCat(origin, ": each '", spec.key,
                       "' entry must be a table ([[", spec.key, "]])"));
    }
    ConfigRow row;
    for (const auto& [name, value] : *table) {
      const std::string key(name.str());
      const ConfigKeySpec* row_spec = nullptr;
      for (const ConfigKeySpec& k : spec.row_keys) {
        if (k.key == key) row_spec = &k;
      }
      if (row_spec == nullptr) {
        return absl::InvalidArgumentError(
            absl::StrCat(origin, ": unknown key '", key, "' in [[", spec.key,
                         "]] (", absl::StrJoin(names, ", "), ")"));
      }
      ASSIGN_OR_RETURN(
          ConfigScalar parsed,
          ReadScalar(value, *row_spec, spec.key + "." + key, origin));
      row.emplace(key, std::move(parsed));
    }
    rows.push_back(std::move(row));
  }
  return rows;
}

ConfigValue Widen(ConfigScalar scalar) {
  return std::visit([](auto&& v) { return ConfigValue(std::move(v)); },
                    std::move(scalar));
}

std::string RangeText(const ConfigRange& r) {
  const bool low = std::isfinite(r.low);
  const bool high = std::isfinite(r.high);
  if (low && high) {
    return absl::StrCat("in ", r.low_open ? "(" : "[", ShortestDouble(r.low),
                        ", ", ShortestDouble(r.high), r.high_open ? ")" : "]");
  }
  if (low)
    return absl::StrCat(r.low_open ? "> " : ">= ", ShortestDouble(r.low));
  return absl::StrCat(r.high_open ? "< " : "<= ", ShortestDouble(r.high));
}

bool InRange(const ConfigRange& r, double x) {
  if (!(r.low_open ? x > r.low : x >= r.low)) return false;
  return r.high_open ? x < r.high : x <= r.high;
}

std::string KeyName(const ConfigKeySpec& spec) {
  return spec.flag.empty() ? spec.key
                           : absl::StrCat(spec.key, " (", spec.flag, ")");
}

}  // namespace

ConfigKeySpec& ConfigKeySpec::AtLeast(double low) {
  return Within(low, std::numeric_limits<double>::infinity());
}

ConfigKeySpec& ConfigKeySpec::Above(double low) {
  return Within(low, std::numeric_limits<double>::infinity(), true);
}

ConfigKeySpec& ConfigKeySpec::Within(double low, double high, bool low_open,
                                     bool high_open) {
  range = ConfigRange{low, high, low_open, high_open};
  return *this;
}

ConfigKeySpec& ConfigKeySpec::OneOf(std::vector<std::string> values) {
  one_of = std::move(values);
  return *this;
}

ConfigKeySpec& ConfigKeySpec::Flag(std::string name) {
  flag = std::move(name);
  return *this;
}

ConfigKeySpec& ConfigKeySpec::Commented() {
  commented = true;
  return *this;
}

absl::StatusOr<ConfigValues> ReadConfigToml(
    const std::vector<const ConfigKeySpec*>& keys, std::string_view toml_text,
    const std::string& origin) {
  toml::table root;
  try {
    root = toml::parse(toml_text, origin);
  } catch (const toml::parse_error& e) {
    std::ostringstream where;
    where << e.source().begin;
    return absl::InvalidArgumentError(absl::StrCat(
        origin, ": ", std::string(e.description()), " at ", where.str()));
  }
  std::map<std::string, const ConfigKeySpec*> by_key;
  for (const ConfigKeySpec* spec : keys) by_key[spec->key] = spec;
  ConfigValues out;
  out.origin = std::string(origin);
  for (const auto& [section, node] : root) {
    const toml::table* table = node.as_table();
    if (table == nullptr) {
      return absl::InvalidArgumentError(
          absl::StrCat(origin, ": top-level key '", std::string(section.str()),
                       "' must be a [section]"));
    }
    for (const auto& [name, value] : *table) {
      const std::string key = absl::StrCat(std::string(section.str()), ".",
                                           std::string(name.str()));
      auto it = by_key.find(key);
      if (it == by_key.end()) {
        return absl::InvalidArgumentError(
            absl::StrCat(origin, ": unknown key '", key, "'"));
      }
      if (it->second->type == ConfigType::kTableList) {
        ASSIGN_OR_RETURN(std::vector<ConfigRow> rows,
                         ReadRows(value, *it->second, origin));
        out.values.emplace(key, std::move(rows));
        continue;
      }
      ASSIGN_OR_RETURN(ConfigScalar scalar,
                       ReadScalar(value, *it->second, key, origin));
      out.values.emplace(key, Widen(std::move(scalar)));
    }
  }
  return out;
}

absl::StatusOr<ConfigValue> ParseConfigFlag(
    const ConfigKeySpec& spec, const std::vector<std::string>& items) {
  const std::string text = items.empty() ? "" : items.front();
  auto bad = [&](const std::string& what) {
    return absl::InvalidArgumentError(
        absl::StrCat(spec.flag.empty() ? spec.key : spec.flag, ": '", what,
                     "' is not ", TypeName(spec.type)));
  };
  switch (spec.type) {
    case ConfigType::kBool:
      if (text.empty() || text == "true") return true;
      if (text == "false") return false;
      return bad(text);
    case ConfigType::kInt: {
      int64_t v = 0;
      if (!absl::SimpleAtoi(text, &v)) return bad(text);
      ASSIGN_OR_RETURN(int64_t checked,
                       IntInRange(spec.flag.empty() ? spec.key : spec.flag,
                                  spec, spec.key, v));
      return checked;
    }
    case ConfigType::kDouble: {
      double v = 0;
      if (!absl::SimpleAtod(text, &v)) return bad(text);
      return v;
    }
    case ConfigType::kString:
      return text;
    case ConfigType::kStringList:
      return items;
    case ConfigType::kIntList: {
      std::vector<int64_t> out;
      for (const std::string& item : items) {
        int64_t v = 0;
        if (!absl::SimpleAtoi(item, &v)) return bad(item);
        out.push_back(v);
      }
      return out;
    }
    case ConfigType::kTableList:
      break;
  }
  return absl::InvalidArgumentError(
      absl::StrCat(spec.key, " cannot be set from the command line"));
}

absl::Status CheckConfigValue(const ConfigKeySpec& spec,
                              const ConfigValue& value) {
  if (!spec.one_of.empty()) {
    const std::string* s = std::get_if<std::string>(&value);
    if (s != nullptr && std::find(spec.one_of.begin(), spec.one_of.end(), *s) ==
                            spec.one_of.end()) {
      std::vector<std::string> quoted;
      for (const std::string& v : spec.one_of) quoted.push_back(Quoted(v));
      return absl::InvalidArgumentError(
          absl::StrCat(KeyName(spec), " must be ", absl::StrJoin(quoted, ", "),
                       "; got ", Quoted(*s)));
    }
  }
  std::vector<double> numbers;
  if (const double* d = std::get_if<double>(&value)) {
    if (!std::isfinite(*d)) {
      return absl::InvalidArgumentError(absl::StrCat(
          KeyName(spec), " must be a finite number, got ", ShortestDouble(*d)));
    }
    numbers.push_back(*d);
  } else if (const int64_t* i = std::get_if<int64_t>(&value)) {
    numbers.push_back(static_cast<double>(*i));
  } else if (const auto* list = std::get_if<std::vector<int64_t>>(&value)) {
    numbers.assign(list->begin(), list->end());
  }
  if (!spec.range.has_value()) return absl::OkStatus();
  for (double x : numbers) {
    if (!InRange(*spec.range, x)) {
      return absl::InvalidArgumentError(absl::StrCat(
          KeyName(spec),
          std::holds_alternative<std::vector<int64_t>>(value)
              ? " must hold values "
              : " must be ",
          RangeText(*spec.range), ", got ", FormatConfigValue(value)));
    }
  }
  return absl::OkStatus();
}

std::string FormatConfigValue(const ConfigValue& value) {
  struct Formatter {
    std::string operator()(bool v) const { return v ? "true" : "false"; }
    std::string operator()(int64_t v) const { return absl::StrCat(v); }
    std::string operator()(double v) const {
      std::string s = ShortestDouble(v);
      if (s.find_first_of(".en") == std::string::npos) s += ".0";
      return s;
    }
    std::string operator()(const std::string& v) const { return Quoted(v); }
    std::string operator()(const std::vector<std::string>& v) const {
      std::vector<std::string> quoted;
      for (const std::string& s : v) quoted.push_back(Quoted(s));
      return "[" + absl::StrJoin(quoted, ", ") + "]";
    }
    std::string operator()(const std::vector<int64_t>& v) const {
      return "[" + absl::StrJoin(v, ", ") + "]";
    }
    std::string operator()(const std::vector<ConfigRow>& v) const {
      return absl::StrCat("<", v.size(), " tables>");
    }
  };
  return std::visit(Formatter{}, value);
}

std::string FormatCommentLines(const std::string& text) {
  std::string out;
  for (size_t start = 0; start < text.size();) {
    size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    const std::string line = text.substr(start, end - start);
    out += line.empty() ? "#\n" : "# " + line + "\n";
    start = end + 1;
  }
  return out;
}

std::string FormatReferenceLine(const std::string& lhs, const std::string& doc,
                                bool commented) {
  std::string line = (commented ? "# " : "") + lhs;
  if (doc.empty()) return line + "\n";
  std::string out;
  size_t start = 0;
  while (start <= doc.size()) {
    size_t end = doc.find('\n', start);
    if (end == std::string::npos) end = doc.size();
    const size_t column = std::max(kDocColumn, line.size() + 2);
    line.resize(column, ' ');
    out += line + "# " + doc.substr(start, end - start) + "\n";
    line.clear();
    start = end + 1;
  }
  return out;
}

}  // namespace fedlearn
