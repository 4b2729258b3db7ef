// `rm` results, a `show`'s bindings table and `status`'s declarations not applied.
#include <string_view>

#include "base/wire.h"
#include "cli/render.h"
#include "cli/table.h"

namespace certinbox::cli {
namespace {

std::string PushedOf(const Json& binding) {
  const Json& version = FieldOf(binding, "pushed_version");
  if (version.is_null()) return "-";
  std::string text = "v" + TextOf(version);
  const Json& at = FieldOf(binding, "pushed_at");
  if (!at.is_null()) text += " " + DateOf(at);
  return text;
}

std::string LastPushOf(const Json& binding) {
  const Json& result = FieldOf(binding, "last_push_result");
  if (result.is_null()) return "-";
  std::string text = TextOf(result);
  const Json& message = FieldOf(binding, "last_push_message");
  if (message.is_string() && !message.get<std::string>().empty()) {
    text += ": " + OneLine(message.get<std::string>());
  }
  return text;
}

}  // namespace

std::string RenderDeleteResults(const Json& rm_reply) {
  const Json& results = ArrayOf(rm_reply, "results");
  if (results.empty()) return "nothing to delete\n";
  Table table({"ENTRY", "OUTCOME", "DETAIL"});
  for (const auto& result : results) {
    const std::string outcome = TextOf(FieldOf(result, "outcome"));
    std::string detail;
    if (outcome == "deleted") {
      detail = TextOf(FieldOf(result, "group")) + "/" + TextOf(FieldOf(result, "name")) + " (id " +
               TextOf(FieldOf(result, "id")) + ")";
    } else {
      const Json& error = FieldOf(result, base::reply::kError);
      detail = TextOf(FieldOf(error, base::reply::kCode)) + ": " +
               OneLine(TextOf(FieldOf(error, base::reply::kMessage)));
    }
    table.AddRow({TextOf(FieldOf(result, "entry")), outcome, detail});
  }
  return table.Render();
}

std::string RenderBindings(const Json& entry) {
  const Json& bindings = ArrayOf(entry, "bindings");
  if (bindings.empty()) return "";
  Table table({"RESOURCE", "PLUGIN", "SOURCE", "PUSHED", "LAST PUSH"});
  for (const auto& binding : bindings) {
    if (!binding.is_object()) {
      table.AddRow({TextOf(binding)});
      continue;
    }
    table.AddRow({TextOf(FieldOf(binding, "resource")), TextOf(FieldOf(binding, "plugin")),
                  TextOf(FieldOf(binding, "source")), PushedOf(binding), LastPushOf(binding)});
  }
  return table.Render();
}

std::string RenderBindingProblems(const Json& status) {
  const Json& problems = ArrayOf(status, "binding_problems");
  if (problems.empty()) return "";
  Table table({"DECLARED BINDING", "ENTRY", "STATE", "WHY"});
  for (const auto& problem : problems) {
    table.AddRow({TextOf(FieldOf(problem, "resource")), TextOf(FieldOf(problem, "entry")),
                  TextOf(FieldOf(problem, "state")), OneLine(TextOf(FieldOf(problem, "message")))});
  }
  return "[[binding]] declarations not applied:\n" + table.Render();
}

}  // namespace certinbox::cli
