// rollback and meta: one control request each (docs/protocol.md).
#include "cli/versions.h"

#include <iostream>

#include "base/wire.h"
#include "cli/exit_codes.h"

namespace certinbox::cli {
namespace {

constexpr const char* kExitCodesLine =
    "Exit codes: 0 ok, 1 the daemon refused (the reason is printed), 2 usage error,\n"
    "3 the daemon is unreachable.";

}  // namespace

CLI::App* AddRollback(CLI::App& app, RollbackOptions& options) {
  CLI::App* rollback = app.add_subcommand(
      "rollback",
      "Make an earlier (or any other kept, unexpired) version of an entry current again");
  rollback
      ->add_option("entry", options.entry,
                   "The entry's name, group/name (a name used in several groups) or id")
      ->required()
      ->type_name("NAME|ID");
  rollback->add_option("--to", options.to, "The version to make current (see show --versions)")
      ->required()
      ->check(CLI::PositiveNumber.description(""))
      ->type_name("VERSION");
  rollback->add_flag("--json", options.json,
                     "Print the daemon's reply: {certificate, previous, seq}");
  rollback->footer(
      "The version becomes the entry's current certificate; bindings stay, so the plugins\n"
      "that serve it follow. The daemon announces it as cert.renewed with \"rollback\": true.\n"
      "Refused (exit code 1) for a version the entry does not have (not_found), the version\n"
      "that is already current (already_current) and a version that has expired\n"
      "(version_expired), and for a CSR entry whose certificate has not arrived yet\n"
      "(not_activated). Any other version may be made current, earlier or later.\n\n"
      "Examples:\n"
      "  certinbox show web --versions\n"
      "  certinbox rollback web --to 3\n"
      "  certinbox rollback prod/web --to 1 --json\n\n" +
      std::string(kExitCodesLine));
  return rollback;
}

CLI::App* AddMeta(CLI::App& app, MetaOptions& options) {
  CLI::App* meta = app.add_subcommand(
      "meta", "Change an entry's description, labels or metadata, or a version's metadata");
  meta->add_option("entry", options.entry,
                   "The entry's name, group/name (a name used in several groups) or id")
      ->required()
      ->type_name("NAME|ID");
  meta->add_option("--description", options.description, "The new description (\"\" clears it)")
      ->type_name("TEXT");
  meta->add_option("--add-label", options.add_labels, "Add a label (repeatable)")
      ->type_name("LABEL")
      ->allow_extra_args(false);
  meta->add_option("--remove-label", options.remove_labels, "Remove a label (repeatable)")
      ->type_name("LABEL")
      ->allow_extra_args(false);
  meta->add_option("--set", options.set, "Set a metadata key to a text value (repeatable)")
      ->type_name("KEY=VALUE")
      ->allow_extra_args(false);
  meta->add_option("--unset", options.unset, "Remove a metadata key (repeatable)")
      ->type_name("KEY")
      ->allow_extra_args(false);
  meta->add_option("--version", options.version,
                   "--set and --unset change this version's metadata instead of the entry's")
      ->check(CLI::PositiveNumber.description(""))
      ->type_name("N");
  meta->add_flag("--json", options.json, "Print the daemon's reply: {changed, certificate, seq}");
  meta->footer(
      "One cert.updated event reports everything a call changed (\"changed\": description,\n"
      "labels, metadata, version_metadata); a call that changes nothing publishes nothing and\n"
      "says so. Labels and keys cannot be empty. A key given to both --unset and --set is set.\n"
      "The entry's metadata starts as its first sidecar's [metadata]; a renewal's sidecar\n"
      "[metadata] is that version's metadata.\n\n"
      "Examples:\n"
      "  certinbox meta web --description \"public site, renewed by certbot\"\n"
      "  certinbox meta web --add-label prod --remove-label staging\n"
      "  certinbox meta web --set owner=team-web --unset ticket\n"
      "  certinbox meta web --version 3 --set change=CHG-1234\n\n" +
      std::string(kExitCodesLine));
  return meta;
}

int RunRollback(const GlobalOptions& global, const RollbackOptions& options) {
  auto session = Session::Open(global);
  if (!session) return session.error();
  auto reply = (*session)->Request("rollback", {{"entry", options.entry}, {"to", options.to}});
  if (!reply) return (*session)->Fail(reply.error());
  if (options.json) {
    std::cout << DumpJson(*reply, 2) << "\n";
    return kExitOk;
  }
  const Json& certificate = FieldOf(*reply, base::field::kCertificate);
  const Json& previous = FieldOf(*reply, base::field::kPrevious);
  std::cout << EntryNameOf(certificate) << ": version " << TextOf(FieldOf(certificate, "version"))
            << " is current again (fingerprint "
            << TextOf(FieldOf(certificate, base::field::kFingerprintSha256)) << ", expires "
            << TextOf(FieldOf(certificate, base::field::kNotAfter)) << "); it replaced version "
            << TextOf(FieldOf(previous, "version")) << "\n";
  return kExitOk;
}

int RunMeta(const GlobalOptions& global, const MetaOptions& options) {
  Json args = {{"entry", options.entry}};
  if (options.description) args["description"] = *options.description;
  if (!options.add_labels.empty()) args["add_labels"] = options.add_labels;
  if (!options.remove_labels.empty()) args["remove_labels"] = options.remove_labels;
  if (!options.unset.empty()) args["unset"] = options.unset;
  if (!options.set.empty()) {
    Json set = Json::object();
    for (const std::string& pair : options.set) {
      size_t eq = pair.find('=');
      if (eq == std::string::npos || eq == 0) {
        PrintError("--set " + pair + ": give KEY=VALUE, e.g. --set owner=team-web");
        return kExitUsage;
      }
      set[pair.substr(0, eq)] = pair.substr(eq + 1);
    }
    args["set"] = std::move(set);
  }
  if (options.version) args["version"] = *options.version;
  if (args.size() == 1 || (args.size() == 2 && options.version)) {
    PrintError(
        "nothing to change: give --description, --add-label, --remove-label, --set or "
        "--unset");
    return kExitUsage;
  }

  auto session = Session::Open(global);
  if (!session) return session.error();
  auto reply = (*session)->Request("meta", std::move(args));
  if (!reply) return (*session)->Fail(reply.error());
  if (options.json) {
    std::cout << DumpJson(*reply, 2) << "\n";
    return kExitOk;
  }
  const Json& changed = FieldOf(*reply, base::field::kChanged);
  if (!changed.is_array() || changed.empty()) {
    std::cout << options.entry << ": nothing changed (no event published)\n";
  } else {
    std::cout << EntryNameOf(FieldOf(*reply, base::field::kCertificate)) << ": changed "
              << TextOf(changed) << "\n";
  }
  return kExitOk;
}

}  // namespace certinbox::cli
