// bind, unbind and rm: one control request each (docs/protocol.md).
#include "cli/bindings.h"

#include <CLI/CLI.hpp>
#include <iostream>

#include "cli/exit_codes.h"
#include "cli/render.h"

namespace certinbox::cli {
namespace {

constexpr const char* kBindFooter =
    "Global options (--control, --config, --timeout) go before or after the command.\n"
    "Exit codes: 0 ok, 1 the daemon answered with an error, 2 usage error, 3 unreachable.";

void AddEntry(CLI::App* command, std::string& entry) {
  command
      ->add_option("entry", entry,
                   "The entry's name, group/name (a name used in several groups) or id")
      ->required()
      ->type_name("NAME|ID");
}

}  // namespace

CLI::App* AddBind(CLI::App& app, BindOptions& options) {
  CLI::App* bind = app.add_subcommand(
      "bind", "Bind an entry to a resource (a load balancer, a host: whatever serves it)");
  AddEntry(bind, options.entry);
  bind->add_option("resource", options.resource,
                   "A free-form name of what serves the certificate, e.g. lb-prod:443")
      ->required()
      ->type_name("RESOURCE");
  bind->add_option("--plugin", options.plugin,
                   "The plugin that pushes the certificate to the resource")
      ->type_name("P");
  bind->add_flag("--json", options.json, "Print the daemon's reply as JSON");
  bind->footer(
      "A resource serves one certificate: binding a resource that another entry holds is\n"
      "refused (error resource_bound, naming the holder). An entry may serve several resources.\n"
      "Binding again with the same plugin changes nothing; with another --plugin (or none) the\n"
      "binding's plugin is replaced. A bound entry cannot be deleted; renewals stay bound.\n"
      "Bindings declared in the config ([[binding]]) are changed there, not here (error "
      "declared).\n"
      "Each change is a cert.bound event.\n\n"
      "Examples:\n"
      "  certinbox bind web lb-prod:443\n"
      "  certinbox bind prod/api lb-prod:8443 --plugin deploy\n\n" +
      std::string(kBindFooter));
  return bind;
}

CLI::App* AddUnbind(CLI::App& app, UnbindOptions& options) {
  CLI::App* unbind = app.add_subcommand("unbind", "Remove an entry's binding to a resource");
  AddEntry(unbind, options.entry);
  unbind->add_option("resource", options.resource, "The resource it is bound to")
      ->required()
      ->type_name("RESOURCE");
  unbind->add_flag("--json", options.json, "Print the daemon's reply as JSON");
  unbind->footer(
      "Each removal is a cert.unbound event. The entry must be bound to that resource (else\n"
      "not_found); a binding declared in the config is removed by deleting its [[binding]]\n"
      "and reloading (error declared).\n\n"
      "Examples:\n"
      "  certinbox unbind web lb-prod:443\n\n" +
      std::string(kBindFooter));
  return unbind;
}

CLI::App* AddRm(CLI::App& app, RmOptions& options) {
  CLI::App* rm = app.add_subcommand("rm", "Delete entries: their versions and their private keys");
  rm->add_option("entry", options.entries, "Names, group/names or ids of the entries to delete")
      ->required()
      ->type_name("NAME|ID");
  rm->add_flag("--json", options.json,
               "Print {\"results\": [...], \"deleted\": N, \"not_deleted\": N}");
  rm->footer(
      "Each entry is reported on its own line: deleted, refused or failed.\n"
      "Refused: the entry is bound (unbind it first; the message names every resource), or it is\n"
      "a CA that other entries chain to (delete them too, in the same command, or first).\n"
      "Failed: no such entry, or a name used in several groups. The others are still deleted.\n"
      "Each deletion is a cert.deleted event. There is no undo: the private key is gone (an\n"
      "entry made by csr create goes with its CSR and key, certificate or not).\n\n"
      "Examples:\n"
      "  certinbox rm old-web\n"
      "  certinbox rm staging/api 17 legacy.example.test\n\n"
      "Exit codes: 0 every entry deleted, 1 any entry not deleted (or another daemon error),\n"
      "2 usage error, 3 unreachable.");
  return rm;
}

int RunBind(const GlobalOptions& global, const BindOptions& options) {
  auto session = Session::Open(global);
  if (!session) return session.error();
  Json args = {{"entry", options.entry}, {"resource", options.resource}};
  if (!options.plugin.empty()) args["plugin"] = options.plugin;
  auto reply = (*session)->Request("bind", std::move(args));
  if (!reply) return (*session)->Fail(reply.error());
  if (options.json) {
    std::cout << DumpJson(*reply, 2) << "\n";
    return kExitOk;
  }
  const Json& binding = FieldOf(*reply, "binding");
  std::string text =
      TextOf(FieldOf(binding, "entry")) + " to " + TextOf(FieldOf(binding, "resource"));
  const Json& plugin = FieldOf(binding, "plugin");
  if (plugin.is_string()) text += " (plugin " + plugin.get<std::string>() + ")";
  std::cout << (FieldOf(*reply, "changed") == true ? "bound " + text
                                                   : "already bound: " + text + ", nothing changed")
            << "\n";
  return kExitOk;
}

int RunUnbind(const GlobalOptions& global, const UnbindOptions& options) {
  auto session = Session::Open(global);
  if (!session) return session.error();
  auto reply =
      (*session)->Request("unbind", {{"entry", options.entry}, {"resource", options.resource}});
  if (!reply) return (*session)->Fail(reply.error());
  if (options.json) {
    std::cout << DumpJson(*reply, 2) << "\n";
  } else {
    const Json& unbound = FieldOf(*reply, "unbound");
    std::cout << "unbound " << TextOf(FieldOf(unbound, "entry")) << " from "
              << TextOf(FieldOf(unbound, "resource")) << "\n";
  }
  return kExitOk;
}

int RunRm(const GlobalOptions& global, const RmOptions& options) {
  auto session = Session::Open(global);
  if (!session) return session.error();
  auto reply = (*session)->Request("rm", {{"entries", options.entries}});
  if (!reply) return (*session)->Fail(reply.error());
  std::cout << (options.json ? DumpJson(*reply, 2) + "\n" : RenderDeleteResults(*reply));
  const Json& not_deleted = FieldOf(*reply, "not_deleted");
  const Json& results = FieldOf(*reply, "results");
  if (!not_deleted.is_number() || !results.is_array()) {
    PrintError("the daemon's rm reply has no results");
    return kExitDaemonError;
  }
  if (not_deleted.get<int64_t>() > 0) {
    PrintError(TextOf(not_deleted) + " of " + std::to_string(results.size()) +
               " entries were not deleted");
    return kExitDaemonError;
  }
  return kExitOk;
}

}  // namespace certinbox::cli
