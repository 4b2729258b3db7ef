#include "cli/failed.h"

#include <iostream>

#include "base/text.h"
#include "cli/exit_codes.h"
#include "cli/json_text.h"
#include "cli/table.h"

namespace certinbox::cli {
namespace {

constexpr const char* kFailedExitCodes =
    "Exit codes: 0 ok, 1 the daemon answered with an error (or a file could not be retried), 2 "
    "usage error, 3 unreachable.";

}  // namespace

CLI::App* AddFailed(CLI::App& app, FailedOptions& options) {
  CLI::App* failed =
      app.add_subcommand("failed", "List the files the inboxes refused (in failed/), with why");
  failed->add_option("--inbox", options.inbox, "Only this inbox")->type_name("NAME");
  failed->add_flag("--json", options.json,
                   "Print the daemon's reply: {inboxes: [{name, path, files: [{file, size, "
                   "reason, message, time}], more}]}");
  failed->footer(
      "Each refused file stays in its inbox's failed/ folder, untouched, beside FILE.error.json\n"
      "(the reason) and its sidecar FILE.toml if it had one. Up to 1000 files per inbox are\n"
      "listed, by name. Fix what the reason says (a password in the sidecar, the missing\n"
      "issuer, ...), then `certinbox retry`.\n\n"
      "Examples:\n"
      "  certinbox failed\n"
      "  certinbox failed --inbox drop --json | jq -r '.inboxes[].files[].reason'\n\n" +
      std::string(kFailedExitCodes));
  return failed;
}

CLI::App* AddRetry(CLI::App& app, RetryOptions& options) {
  CLI::App* retry =
      app.add_subcommand("retry", "Send refused files back into their inbox, to be taken again");
  retry
      ->add_option("--inbox", options.inbox,
                   "The inbox the files are in (needed when there are several)")
      ->type_name("NAME");
  auto* files =
      retry->add_option("files", options.files, "File names as `certinbox failed` lists them")
          ->type_name("FILE");
  retry->add_flag("--all", options.all, "Every file in failed/ (of --inbox, or of every inbox)")
      ->excludes(files);
  retry->add_flag("--json", options.json, "Print the daemon's reply: {retried, failures}");
  retry->footer(
      "Each file moves from failed/ back into the inbox (its sidecar first), and its\n"
      "FILE.error.json is removed; the inbox takes it as a new drop, at once. A file whose name\n"
      "is taken in the inbox is not moved. Changes need the admin role over tcp://.\n\n"
      "Examples:\n"
      "  certinbox retry web.pem\n"
      "  certinbox retry --inbox drop web.pem api.p12\n"
      "  certinbox retry --all\n\n" +
      std::string(kFailedExitCodes));
  return retry;
}

int RunFailed(const GlobalOptions& global, const FailedOptions& options) {
  auto session = Session::Open(global);
  if (!session) return session.error();
  Json args = Json::object();
  if (!options.inbox.empty()) args["inbox"] = options.inbox;
  auto reply = (*session)->Request("failed", args);
  if (!reply) return (*session)->Fail(reply.error());
  if (options.json) {
    std::cout << DumpJson(*reply, 2) << "\n";
    return kExitOk;
  }
  Table table({"INBOX", "FILE", "REASON", "TIME", "MESSAGE"});
  std::string notes;
  for (const auto& inbox : ArrayOf(*reply, "inboxes")) {
    for (const auto& file : ArrayOf(inbox, "files")) {
      table.AddRow({TextOf(FieldOf(inbox, "name")), TextOf(FieldOf(file, "file")),
                    TextOf(FieldOf(file, "reason")), TextOf(FieldOf(file, "time")),
                    OneLine(TextOf(FieldOf(file, "message")))});
    }
    if (FieldOf(inbox, "more") == true) {
      notes += base::Escape("inbox " + TextOf(FieldOf(inbox, "name")) +
                            ": more files than listed in " + TextOf(FieldOf(inbox, "path"))) +
               "\n";
    }
  }
  std::cout << (table.empty() ? std::string("no refused files\n") : table.Render()) << notes;
  return kExitOk;
}

int RunRetry(const GlobalOptions& global, const RetryOptions& options) {
  if (!options.all && options.files.empty()) {
    PrintError("retry: name the files (as `certinbox failed` lists them), or give --all");
    return kExitUsage;
  }
  for (const auto& name : options.files) {
    // JSON carries text: a name that is not UTF-8 cannot be named here (failed lists it with
    // U+FFFD in place of its bad bytes).
    for (size_t at = 0; at < name.size();) {
      const size_t len = base::Utf8SequenceLength(std::string_view(name).substr(at));
      if (len == 0) {
        PrintError("retry: '" + base::Escape(name) +
                   "' is not UTF-8 and cannot be named: rename it in failed/, or use --all");
        return kExitUsage;
      }
      at += len;
    }
  }
  auto session = Session::Open(global);
  if (!session) return session.error();
  Json args = Json::object();
  if (!options.inbox.empty()) args["inbox"] = options.inbox;
  if (options.all) {
    args["all"] = true;
  } else {
    args["files"] = options.files;
  }
  auto reply = (*session)->Request("retry", args);
  if (!reply) return (*session)->Fail(reply.error());
  const Json& failures = ArrayOf(*reply, "failures");
  if (options.json) {
    std::cout << DumpJson(*reply, 2) << "\n";
  } else {
    for (const auto& item : ArrayOf(*reply, "retried")) {
      std::cout << base::Escape("retried " + TextOf(FieldOf(item, "inbox")) + "/" +
                                TextOf(FieldOf(item, "file")))
                << "\n";
    }
    for (const auto& item : failures) {
      PrintError(TextOf(FieldOf(item, "inbox")) + "/" + TextOf(FieldOf(item, "file")) + ": " +
                 TextOf(FieldOf(item, "message")));
    }
    if (ArrayOf(*reply, "retried").empty() && failures.empty()) std::cout << "nothing to retry\n";
    if (FieldOf(*reply, "more") == true) {
      std::cout << "more files remain in failed/ (1000 per inbox at a time): run it again\n";
    }
  }
  return failures.empty() ? kExitOk : kExitDaemonError;
}

}  // namespace certinbox::cli
