#include "plugins/deploy/options.h"

#include "base/error_codes.h"
#include "plugins/sdk/command.h"

namespace certinbox::deploy {
namespace {

using nlohmann::json;

std::string Where(const std::string& prefix, const std::string& key) {
  return prefix.empty() ? "option \"" + key + "\"" : "option " + prefix + "\"" + key + "\"";
}

base::Result<std::optional<ReloadCommand>> ReadReload(const json& value, const std::string& where) {
  if (value.is_string()) {
    std::string text = value.get<std::string>();
    if (text.find_first_not_of(" \t") == std::string::npos) return std::nullopt;
    return ReloadCommand(text);
  }
  if (value.is_array() && !value.empty()) {
    std::vector<std::string> argv;
    for (const auto& item : value) {
      if (!item.is_string()) break;
      argv.push_back(item.get<std::string>());
    }
    if (argv.size() == value.size() && !argv[0].empty()) return ReloadCommand(argv);
  }
  return base::Fail(base::code::kBadOption,
                    where +
                        " must be a command line (run with /bin/sh -c), \"\" for none, or a "
                        "non-empty array of strings (argv)");
}

base::Result<std::chrono::milliseconds> ReadDuration(const json& value, const std::string& where,
                                                     bool allow_zero) {
  std::optional<std::chrono::milliseconds> parsed;
  // Whole seconds; TOML integers arrive signed.
  if (value.is_number_integer() && value.get<int64_t>() >= 0 &&
      value.get<int64_t>() < (int64_t{1} << 40)) {
    parsed = std::chrono::milliseconds(value.get<int64_t>() * 1000);
  } else if (value.is_string()) {
    parsed = sdk::ParseDurationMs(value.get<std::string>());
  }
  if (!parsed || (!allow_zero && parsed->count() == 0)) {
    return base::Fail(base::code::kBadOption,
                      where + " must be a duration such as \"500ms\", \"30s\", \"5m\"" +
                          (allow_zero ? "" : " (more than 0)"));
  }
  return *parsed;
}

base::Result<std::string> ReadDir(const json& value, const std::string& where) {
  if (!value.is_string() || value.get<std::string>().empty()) {
    return base::Fail(base::code::kBadOption, where + " must be a non-empty folder path");
  }
  return value.get<std::string>();
}

}  // namespace

base::Result<DeployOptions> ParseOptions(const json& options, const std::string& default_dir) {
  DeployOptions out;
  out.dir = default_dir.empty() ? "." : default_dir;
  if (options.is_null()) return out;
  if (!options.is_object())
    return base::Fail(base::code::kBadOption, "the options must be a table (JSON object)");
  for (const auto& [key, value] : options.items()) {
    std::string where = Where("", key);
    if (key == "dir") {
      auto dir = ReadDir(value, where);
      if (!dir) return std::unexpected(dir.error());
      out.dir = *dir;
    } else if (key == "reload") {
      auto reload = ReadReload(value, where);
      if (!reload) return std::unexpected(reload.error());
      out.reload = *reload;
    } else if (key == "timeout" || key == "retry") {
      auto duration = ReadDuration(value, where, false);
      if (!duration) return std::unexpected(duration.error());
      (key == "timeout" ? out.timeout : out.retry) = *duration;
    } else if (key == "remove_on_unbind") {
      if (!value.is_boolean())
        return base::Fail(base::code::kBadOption, where + " must be true or false");
      out.remove_on_unbind = value.get<bool>();
    } else if (key == "resources") {
      if (!value.is_object()) {
        return base::Fail(base::code::kBadOption, where + " must be a table of resource names");
      }
      for (const auto& [resource, table] : value.items()) {
        std::string prefix = "resources.\"" + resource + "\".";
        if (!table.is_object()) {
          return base::Fail(
              base::code::kBadOption,
              "option resources.\"" + resource + "\" must be a table (dir, reload, timeout)");
        }
        ResourceOptions& r = out.resources[resource];
        for (const auto& [rkey, rvalue] : table.items()) {
          std::string rwhere = Where(prefix, rkey);
          if (rkey == "dir") {
            auto dir = ReadDir(rvalue, rwhere);
            if (!dir) return std::unexpected(dir.error());
            r.dir = *dir;
          } else if (rkey == "reload") {
            auto reload = ReadReload(rvalue, rwhere);
            if (!reload) return std::unexpected(reload.error());
            r.reload = *reload;
          } else if (rkey == "timeout") {
            auto duration = ReadDuration(rvalue, rwhere, false);
            if (!duration) return std::unexpected(duration.error());
            r.timeout = *duration;
          } else {
            return base::Fail(base::code::kUnknownOption,
                              "unknown " + rwhere + " (a resource has dir, reload, timeout)");
          }
        }
      }
    } else {
      return base::Fail(base::code::kUnknownOption,
                        "unknown " + where +
                            " (certinbox-deploy knows dir, reload, timeout, remove_on_unbind, "
                            "resources)");
    }
  }
  out.max_retry = std::max(out.retry, std::chrono::milliseconds(600'000));
  return out;
}

ResolvedResource Resolve(const DeployOptions& options, const std::string& resource) {
  ResolvedResource out{options.dir + "/" + FolderName(resource), options.reload, options.timeout};
  auto it = options.resources.find(resource);
  if (it == options.resources.end()) return out;
  if (it->second.dir) out.folder = *it->second.dir;
  if (it->second.reload) out.reload = *it->second.reload;
  if (it->second.timeout) out.timeout = *it->second.timeout;
  return out;
}

std::string FolderName(const std::string& resource) {
  std::string out;
  bool dots_only = true;
  for (char c : resource) {
    bool plain = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                 c == '.' || c == '_' || c == '-';
    out += plain ? c : '_';
    dots_only = dots_only && c == '.';
  }
  if (dots_only) out = std::string(std::max<size_t>(resource.size(), 1), '_');
  return out;
}

std::string Describe(const ReloadCommand& command) {
  if (const auto* text = std::get_if<std::string>(&command)) return *text;
  std::string out;
  for (const auto& arg : std::get<std::vector<std::string>>(command)) {
    if (!out.empty()) out += ' ';
    out += arg;
  }
  return out;
}

}  // namespace certinbox::deploy
