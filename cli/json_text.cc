#include "cli/json_text.h"

#include <ctime>
#include <vector>

#include "cli/table.h"

namespace certinbox::cli {

const Json& FieldOf(const Json& obj, std::string_view key) {
  static const Json kNull;
  if (!obj.is_object()) return kNull;
  auto it = obj.find(key);
  return it == obj.end() ? kNull : *it;
}

const Json& ArrayOf(const Json& obj, std::string_view key) {
  static const Json kEmpty = Json::array();
  const Json& value = FieldOf(obj, key);
  return value.is_array() ? value : kEmpty;
}

std::string TextOf(const Json& value) {
  if (value.is_null()) return "-";
  if (value.is_string()) {
    const auto& text = value.get_ref<const std::string&>();
    return text.empty() ? "-" : text;
  }
  if (value.is_array()) {
    std::vector<std::string> parts;
    for (const auto& item : value) parts.push_back(TextOf(item));
    return parts.empty() ? "-" : Join(parts, ", ");
  }
  return DumpJson(value);
}

std::string DateOf(const Json& value) {
  if (value.is_string()) {
    const auto& text = value.get_ref<const std::string&>();
    if (text.size() >= 10 && text[4] == '-' && text[7] == '-') return text.substr(0, 10);
    return text.empty() ? "-" : text;
  }
  if (value.is_number_integer()) {
    std::time_t seconds = value.get<int64_t>();
    std::tm tm{};
    if (!gmtime_r(&seconds, &tm)) return "-";
    char buffer[16];
    std::strftime(buffer, sizeof buffer, "%Y-%m-%d", &tm);
    return buffer;
  }
  return "-";
}

std::string YesNo(const Json& value) {
  if (!value.is_boolean()) return "-";
  return value.get<bool>() ? "yes" : "no";
}

std::string FindingsOf(const Json& findings) {
  if (!findings.is_array()) return TextOf(findings);
  std::vector<std::string> codes;
  for (const auto& finding : findings) {
    codes.push_back(finding.is_object() ? TextOf(FieldOf(finding, "code")) : TextOf(finding));
  }
  return codes.empty() ? "-" : Join(codes, ",");
}

std::string SourceOf(const Json& source) {
  if (source.is_object()) {
    const Json& inbox = FieldOf(source, "inbox");
    const Json& file = FieldOf(source, "file");
    if (inbox.is_string() && file.is_string()) {
      return inbox.get<std::string>() + "/" + file.get<std::string>();
    }
  }
  return TextOf(source);
}

std::string EntryNameOf(const Json& certificate) {
  std::string name = TextOf(FieldOf(certificate, "name"));
  const Json& group = FieldOf(certificate, "group");
  // GROUP/NAME always, "default/" too: "web" would be ambiguous as soon as prod/web exists.
  if (group.is_string() && !group.get<std::string>().empty()) {
    return group.get<std::string>() + "/" + name;
  }
  return name;
}

std::string LabelsOf(const Json& labels) {
  if (labels.is_object()) {
    std::vector<std::string> parts;
    for (const auto& [key, value] : labels.items()) {
      parts.push_back(value.is_string() ? key + "=" + value.get<std::string>()
                                        : key + "=" + DumpJson(value));
    }
    return parts.empty() ? "-" : Join(parts, ", ");
  }
  return TextOf(labels);
}

std::string OneLine(std::string_view text) {
  std::string out;
  for (char c : text) {
    if (c == '\r') continue;
    out += c == '\n' ? std::string("; ") : std::string(1, c);
  }
  return out;
}

std::string DumpJson(const Json& value, int indent) {
  return value.dump(indent, ' ', false, Json::error_handler_t::replace);
}

}  // namespace certinbox::cli
