// certinbox: the command-line client of certinboxd. This file only wires CLI11 to the
// subcommands in cli/commands.h; the help texts here are the user's documentation.
#include <CLI/CLI.hpp>
#include <charconv>
#include <iostream>
#include <string>

#include "cli/bindings.h"
#include "cli/commands.h"
#include "cli/duration.h"
#include "cli/exit_codes.h"
#include "cli/failed.h"
#include "cli/key_commands.h"
#include "cli/keygen.h"
#include "cli/plugin_commands.h"
#include "cli/versions.h"

namespace certinbox::cli {
namespace {

constexpr const char* kExitCodes =
    "Exit codes:\n"
    "  0  ok\n"
    "  1  the daemon answered with an error (not_found, ambiguous, ...)\n"
    "  2  usage error, or a config file that cannot be read\n"
    "  3  the daemon is unreachable (not running, wrong endpoint, no permission on its socket)\n";

constexpr const char* kShortExitCodes =
    "Global options (--control, --config, --curve-key, --server-key, --timeout) go before or\n"
    "after the command.\n"
    "Exit codes: 0 ok, 1 the daemon answered with an error, 2 usage error, 3 unreachable.";

CLI::Validator Duration() {
  return CLI::Validator(
      [](std::string& text) -> std::string {
        auto seconds = ParseDuration(text);
        return seconds ? std::string() : seconds.error().message;
      },
      "", "duration");
}

// An event sequence number: a whole number, 0 or more.
CLI::Validator SequenceNumber() {
  return CLI::Validator(
      [](std::string& text) -> std::string {
        int64_t seq = -1;
        auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), seq);
        if (ec != std::errc() || end != text.data() + text.size() || seq < 0) {
          return "'" + text + "' is not an event sequence number (a whole number, 0 or more)";
        }
        return {};
      },
      "", "seq");
}

void AddGlobalOptions(CLI::App& app, GlobalOptions& global) {
  app.add_option("--control", global.control,
                 "The daemon's control socket, e.g. ipc:///run/certinbox/control.sock")
      ->envname("CERTINBOX_CONTROL")
      ->type_name("ENDPOINT");
  app.add_option("-c,--config", global.config,
                 "Find the control socket in this certinboxd config "
                 "(default: /etc/certinbox/certinbox.toml)")
      ->envname("CERTINBOX_CONFIG")
      ->type_name("FILE");
  app.add_option("--curve-key", global.curve_key,
                 "For a tcp:// endpoint: this client's CURVE secret key (certinbox keygen)")
      ->envname("CERTINBOX_CURVE_KEY")
      ->type_name("FILE");
  app.add_option("--server-key", global.server_key,
                 "For a tcp:// endpoint: the daemon's CURVE public key (its "
                 "STATE_DIR/curve_server.pub; default: found through --config)")
      ->envname("CERTINBOX_SERVER_KEY")
      ->type_name("FILE");
  app.add_option("--timeout", global.timeout_ms, "How long to wait for the daemon's reply")
      ->type_name("MS")
      ->check(CLI::Range(1, 3'600'000).description(""))
      ->capture_default_str();
}

CLI::App* AddLs(CLI::App& app, LsOptions& options) {
  CLI::App* ls = app.add_subcommand("ls", "List the certificates in the inventory");
  ls->add_option("--status", options.status, "Only entries with this status")
      ->check(CLI::IsMember({"pre_activation", "valid", "expiring_soon", "expired"}))
      ->type_name("S");
  ls->add_option("--group", options.group, "Only entries of this group")->type_name("G");
  ls->add_option("--label", options.label, "Only entries with this label")->type_name("L");
  ls->add_option("--expiring-within", options.expiring_within,
                 "Only entries whose current version expires within this time")
      ->check(Duration())
      ->type_name("DURATION");
  ls->add_option("--sort", options.sort, "Order by expiry (soonest first) or name (default)")
      ->check(CLI::IsMember({"expiry", "name"}))
      ->type_name("KEY");
  ls->add_flag("--json", options.json,
               "Print {\"entries\": [...], \"unmatched_keys\": [...]}, the daemon's objects");
  ls->footer(
      "Columns: EXPIRES is the date (UTC) of not_after, DAYS the days left, KEY whether the\n"
      "private key is held, FINGERPRINT the first 16 hex digits of the SHA-256. Private keys\n"
      "still waiting for their certificate are listed after the table.\n"
      "DURATION: a whole number and a unit, s m h d or w (90s, 15m, 12h, 30d, 8w): 30 alone is\n"
      "refused (30d is thirty days), as in the config.\n\n"
      "Examples:\n"
      "  certinbox ls\n"
      "  certinbox ls --expiring-within 30d --sort expiry\n"
      "  certinbox ls --status expired --group web\n"
      "  certinbox ls --json | jq -r '.entries[] | .name + \" \" + .not_after'\n\n" +
      std::string(kShortExitCodes));
  return ls;
}

CLI::App* AddShow(CLI::App& app, ShowOptions& options) {
  CLI::App* show = app.add_subcommand("show", "Show one entry: its current certificate and more");
  show->add_option("entry", options.entry,
                   "The entry's name, group/name (a name used in several groups) or id")
      ->required()
      ->type_name("NAME|ID");
  auto* versions = show->add_flag("--versions", options.versions, "Also list every version");
  auto* json = show->add_flag("--json", options.json, "Print the entry object as JSON");
  show->add_flag("--pem", options.pem,
                 "Print only the current certificate as PEM (for a pending CSR: the request)")
      ->excludes(versions)
      ->excludes(json);
  show->footer(
      "Examples:\n"
      "  certinbox show web\n"
      "  certinbox show prod/web --versions\n"
      "  certinbox show 42 --json\n"
      "  certinbox show web --pem > web.pem\n\n" +
      std::string(kShortExitCodes));
  return show;
}

CLI::App* AddEvents(CLI::App& app, EventsOptions& options) {
  CLI::App* events = app.add_subcommand("events", "Print the daemon's events, oldest first");
  auto* since =
      events->add_option("--since", options.since, "Only events after this sequence number")
          ->check(SequenceNumber())
          ->type_name("SEQ");
  events
      ->add_option("--cursor", options.cursor,
                   "Resume where the named cursor stands and acknowledge what was printed, so\n"
                   "the next run goes on from there; the daemon keeps events a cursor has not\n"
                   "acknowledged past its event_retention")
      ->excludes(since)
      ->type_name("NAME");
  events->add_flag("-f,--follow", options.follow,
                   "Keep printing new events until interrupted (Ctrl-C)");
  events
      ->add_option("--type", options.type,
                   "Only events whose type starts with this, e.g. cert. or import.rejected")
      ->type_name("PREFIX");
  events->add_flag("--json", options.json, "Print one JSON object a line (JSON Lines)");
  events->footer(
      "Each line: SEQ TIME TYPE NAME-or-SOURCE detail. While following, events the bus\n"
      "dropped are fetched again from the daemon, so none is skipped. Events older than the\n"
      "daemon's event_retention may be gone: a warning on stderr says which.\n\n"
      "Examples:\n"
      "  certinbox events --since 120\n"
      "  certinbox events --follow --type cert.\n"
      "  certinbox events --type import.rejected --json | jq .message\n"
      "  certinbox events --cursor nightly-report --json >> events.jsonl\n\n" +
      std::string(kShortExitCodes));
  return events;
}

CLI::App* AddStatus(CLI::App& app, StatusOptions& options) {
  CLI::App* status = app.add_subcommand(
      "status", "Show the daemon's health: pid, uptime, last event, counts, inbox backlogs");
  status->add_flag("--json", options.json, "Print the daemon's status reply as JSON");
  status->footer(
      "Examples:\n"
      "  certinbox status\n"
      "  certinbox --config ./certinbox.toml status --json\n\n" +
      std::string(kShortExitCodes));
  return status;
}

CLI::App* AddCursors(CLI::App& app, CursorsOptions& options) {
  CLI::App* cursors = app.add_subcommand(
      "cursors", "List the named event cursors (how far each subscriber has acknowledged)");
  cursors
      ->add_option("--delete", options.remove,
                   "Forget this cursor: the events it still held back become subject to the\n"
                   "daemon's event_retention again")
      ->type_name("NAME");
  cursors->add_flag("--json", options.json, "Print {\"cursors\": [...]} as JSON");
  cursors->footer(
      "A cursor is created by the first acknowledgement ('certinbox events --cursor NAME', or a\n"
      "plugin's ack). The daemon never prunes an event a cursor has not acknowledged, so a\n"
      "cursor nobody uses any more keeps the outbox growing: delete it.\n"
      "Columns: SEQ the last event acknowledged, BEHIND how many events were published since.\n\n"
      "Examples:\n"
      "  certinbox cursors\n"
      "  certinbox cursors --delete old-report\n\n" +
      std::string(kShortExitCodes));
  return cursors;
}

std::string FailureMessage(const CLI::App* app, const CLI::Error& e) {
  std::string command = "certinbox";
  for (const CLI::App* sub : app->get_subcommands()) command += " " + sub->get_name();
  std::string message = e.what();
  if (app->get_subcommands().empty() && !app->remaining().empty()) {
    std::vector<std::string> names;
    for (const CLI::App* sub : app->get_subcommands([](const CLI::App*) { return true; })) {
      names.push_back(sub->get_name());
    }
    std::string known;
    for (size_t i = 0; i < names.size(); ++i) {
      known += (i == 0 ? "" : i + 1 == names.size() ? " or " : ", ") + names[i];
    }
    message = "'" + app->remaining().front() + "' is not a command: use " + known;
  }
  return "certinbox: " + message + "\nRun '" + command + " --help' for usage.\n";
}

// The end of `certinbox --help`, before the exit codes.
constexpr std::string_view kFooter =
    "Run 'certinbox COMMAND --help' for a command's options and examples.\n\n"
    "Examples:\n"
    "  certinbox ls --expiring-within 30d\n"
    "  certinbox show web --versions\n"
    "  certinbox bind web lb-prod:443 --plugin deploy\n"
    "  certinbox events --follow --type cert.\n"
    "  certinbox rollback web --to 2\n"
    "  certinbox csr create web --cn www.example.com > web.csr\n"
    "  certinbox export web --out ./web --key\n"
    "  eval \"$(certinbox plugin env deploy)\"; certinbox-deploy\n"
    "  certinbox --control ipc:///srv/certinbox/state/control.sock status\n\n"
    "Control socket: --control if given; else, from the config, [bus] control or\n"
    "ipc://STATE_DIR/control.sock for its [daemon] state_dir; with no config,\n"
    "ipc:///var/lib/certinbox/control.sock. A tcp:// endpoint takes CURVE clients only:\n"
    "--curve-key FILE (certinbox keygen) and --server-key FILE.\n\n";

int Main(int argc, char** argv) {
  CLI::App app(
      "certinbox: the command-line client of certinboxd, the TLS certificate inventory.\n"
      "It talks only to the daemon's control socket.",
      "certinbox");
  app.set_version_flag("--version", std::string("certinbox ") + CERTINBOX_VERSION);
  app.failure_message(FailureMessage);
  app.require_subcommand(1);
  app.fallthrough();  // global options may also follow the subcommand

  GlobalOptions global;
  LsOptions ls_options;
  ShowOptions show_options;
  EventsOptions events_options;
  StatusOptions status_options;
  CursorsOptions cursors_options;
  RollbackOptions rollback_options;
  MetaOptions meta_options;
  BindOptions bind_options;
  UnbindOptions unbind_options;
  RmOptions rm_options;
  AddGlobalOptions(app, global);
  CLI::App* ls = AddLs(app, ls_options);
  CLI::App* show = AddShow(app, show_options);
  CLI::App* events = AddEvents(app, events_options);
  CLI::App* status = AddStatus(app, status_options);
  CLI::App* cursors = AddCursors(app, cursors_options);
  CLI::App* rollback = AddRollback(app, rollback_options);
  CLI::App* meta = AddMeta(app, meta_options);
  CsrCommand csr_command;
  ExportOptions export_options;
  CLI::App* csr = AddCsr(app, csr_command);
  CLI::App* exp = AddExport(app, export_options);
  CLI::App* bind = AddBind(app, bind_options);
  CLI::App* unbind = AddUnbind(app, unbind_options);
  CLI::App* rm = AddRm(app, rm_options);
  PluginCommand plugin_command;
  CLI::App* plugin = AddPlugin(app, plugin_command);
  KeygenOptions keygen_options;
  CLI::App* keygen = AddKeygen(app, keygen_options);
  FailedOptions failed_options;
  CLI::App* failed = AddFailed(app, failed_options);
  RetryOptions retry_options;
  CLI::App* retry = AddRetry(app, retry_options);
  app.footer(std::string(kFooter) + std::string(kExitCodes));

  if (argc <= 1) {
    std::cout << app.help();
    return kExitUsage;
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int code = app.exit(e);
    return code == 0 ? kExitOk : kExitUsage;
  }

  if (*ls) return RunLs(global, ls_options);
  if (*show) return RunShow(global, show_options);
  if (*events) return RunEvents(global, events_options);
  if (*status) return RunStatus(global, status_options);
  if (*failed) return RunFailed(global, failed_options);
  if (*retry) return RunRetry(global, retry_options);
  if (*cursors) return RunCursors(global, cursors_options);
  if (*rollback) return RunRollback(global, rollback_options);
  if (*meta) return RunMeta(global, meta_options);
  if (*csr) return RunCsr(global, csr_command);
  if (*exp) return RunExport(global, export_options);
  if (*bind) return RunBind(global, bind_options);
  if (*unbind) return RunUnbind(global, unbind_options);
  if (*rm) return RunRm(global, rm_options);
  if (*plugin) return RunPlugin(global, plugin_command);
  if (*keygen) return RunKeygen(keygen_options);
  return kExitUsage;  // unreachable: require_subcommand(1)
}

}  // namespace
}  // namespace certinbox::cli

int main(int argc, char** argv) { return certinbox::cli::Main(argc, argv); }
