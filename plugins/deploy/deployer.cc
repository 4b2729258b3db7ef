#include "plugins/deploy/deployer.h"

#include <algorithm>
#include <iostream>
#include <set>

#include "base/error_codes.h"
#include "base/wire.h"
#include "plugins/deploy/files.h"
#include "plugins/sdk/command.h"

namespace certinbox::deploy {
namespace {

using Clock = std::chrono::steady_clock;
using nlohmann::json;

const std::set<std::string> kPushEvents = {base::topic::kCertBound, base::topic::kCertImported,
                                           base::topic::kCertRenewed, base::topic::kCertActivated,
                                           base::topic::kCertUpdated};
constexpr const char* kFiles[] = {"cert.pem", "chain.pem", "fullchain.pem", "privkey.pem"};

std::chrono::milliseconds Backoff(const DeployOptions& options, int failures) {
  auto delay = options.retry;
  for (int i = 1; i < failures && delay < options.max_retry; ++i) delay *= 2;
  return std::min(delay, options.max_retry);
}

std::string Seconds(std::chrono::milliseconds d) {
  if (d.count() % 1000 != 0) return std::to_string(d.count()) + " ms";
  return std::to_string(d.count() / 1000) + " s";
}

// One line per push on stderr: the supervisor puts it in the daemon's log as "plugin NAME: …".
void Log(const std::string& line) { std::cerr << line << std::endl; }

// The resource's reload command, after its files were written; its outcome into `report`.
void RunReload(const ResolvedResource& where, const std::string& resource,
               sdk::PushReport& report) {
  sdk::Command command;
  if (const auto* text = std::get_if<std::string>(&*where.reload)) {
    command.program = *text;
  } else {
    command.program = std::get<std::vector<std::string>>(*where.reload);
  }
  command.timeout = where.timeout;
  command.env = {{"CERTINBOX_RESOURCE", resource},
                 {"CERTINBOX_DEPLOY_DIR", where.folder},
                 {"CERTINBOX_CERT_VERSION", std::to_string(report.version)}};
  sdk::CommandResult result = sdk::RunCommand(command);
  report.ok = result.ok();
  report.exit_status = result.exit_status;
  report.output = result.output;
  report.message = report.ok ? "wrote version " + std::to_string(report.version) + " to " +
                                   where.folder + "; reload: " + result.message
                             : "wrote version " + std::to_string(report.version) + " to " +
                                   where.folder + " but the reload command (" +
                                   Describe(*where.reload) + ") failed: " + result.message;
}

}  // namespace

Deployer::Deployer(sdk::Plugin& plugin, DeployOptions options)
    : plugin_(plugin), options_(std::move(options)) {}

void Deployer::HandleEvent(const json& event) {
  const std::string type = event.value(base::field::kType, "");
  if (type == base::topic::kCertUnbound) {
    Unbound(event);
    return;
  }
  if (!kPushEvents.contains(type)) return;
  std::optional<int64_t> entry;
  if (auto it = event.find(base::field::kCertificate); it != event.end() && it->is_object()) {
    if (auto id = it->find("id"); id != it->end() && id->is_number_integer()) {
      entry = id->get<int64_t>();
    }
  }
  Reconcile(entry);
}

void Deployer::Tick() {
  auto now = Clock::now();
  bool due = reconcile_due_ && now >= reconcile_at_;
  for (const auto& [resource, retry] : retries_) due = due || now >= retry.next;
  if (due) Reconcile(std::nullopt);
}

void Deployer::Reconcile(std::optional<int64_t> changed_entry) {
  auto bindings = plugin_.Bindings();
  if (!bindings) {
    // The daemon is busy or restarting: try again after the backoff (the tick does).
    ++reconcile_failures_;
    reconcile_due_ = true;
    reconcile_at_ = Clock::now() + std::min(Backoff(options_, reconcile_failures_),
                                            std::chrono::milliseconds(30'000));
    Log("cannot list the resources bound to this plugin: " + bindings.error().code + ": " +
        bindings.error().message);
    return;
  }
  reconcile_due_ = false;
  reconcile_failures_ = 0;
  std::set<std::string> bound;
  const auto now = Clock::now();
  for (const auto& binding : *bindings) {
    bound.insert(binding.resource);
    // Version 0 is a CSR's entry still waiting for its certificate: nothing to deploy yet.
    if (binding.version <= 0 || binding.pushed_version == binding.version) {
      retries_.erase(binding.resource);
      continue;
    }
    auto retry = retries_.find(binding.resource);
    if (retry != retries_.end() && retry->second.version == binding.version &&
        now < retry->second.next && changed_entry != binding.id) {
      continue;
    }
    Push(binding);
  }
  std::erase_if(retries_, [&](const auto& item) { return !bound.contains(item.first); });
}

bool Deployer::Push(const sdk::BoundResource& binding) {
  const ResolvedResource where = Resolve(options_, binding.resource);
  sdk::PushReport report;
  report.resource = binding.resource;
  report.version = binding.version;
  const std::string what = binding.entry + " version ";

  auto written = [&]() -> base::Result<void> {
    if (!binding.has_private_key) {
      return base::Fail(base::code::kDeployFailed,
                        binding.entry + " version " + std::to_string(binding.version) +
                            " has no private key in certinbox: nothing written to " + where.folder);
    }
    auto material = plugin_.FetchMaterial(binding.resource, /*with_key=*/true);
    if (!material) {
      return base::Fail(base::code::kDeployFailed,
                        "cannot fetch the certificate and key: " + material.error().code + ": " +
                            material.error().message);
    }
    report.version = material->version;
    if (material->key_pem.empty()) {
      return base::Fail(base::code::kDeployFailed,
                        binding.entry + " version " + std::to_string(material->version) +
                            " has no private key in certinbox: nothing written to " + where.folder);
    }
    if (auto ok = EnsureFolder(where.folder); !ok) return ok;
    // The key first: the certificate files never name a key the folder does not hold yet for
    // longer than the few writes between them.
    if (auto ok = WriteDeployedFile(where.folder, "privkey.pem", material->key_pem, 0600); !ok) {
      return ok;
    }
    if (auto ok = WriteDeployedFile(where.folder, "cert.pem", material->cert_pem, 0644); !ok) {
      return ok;
    }
    if (auto ok = WriteDeployedFile(where.folder, "chain.pem", material->chain_pem, 0644); !ok) {
      return ok;
    }
    return WriteDeployedFile(where.folder, "fullchain.pem", material->fullchain_pem, 0644);
  }();

  if (!written) {
    report.ok = false;
    report.message = written.error().message;
  } else if (!where.reload) {
    report.ok = true;
    report.message = "wrote version " + std::to_string(report.version) + " to " + where.folder +
                     " (no reload command)";
  } else {
    RunReload(where, binding.resource, report);
  }

  auto reported = plugin_.ReportPush(report);
  bool ok = report.ok && reported.has_value();
  std::string line = binding.resource + ": " + what + std::to_string(report.version) + ": " +
                     (report.ok ? "pushed: " : "push failed: ") + report.message;
  if (!reported) {
    line += " (the report was not recorded: " + reported.error().code + ": " +
            reported.error().message + ")";
  }
  if (ok) {
    retries_.erase(binding.resource);
  } else {
    line += "; retry in " + Seconds(ScheduleRetry(binding.resource, binding.version));
  }
  Log(line);
  return ok;
}

std::chrono::milliseconds Deployer::ScheduleRetry(const std::string& resource, int64_t version) {
  Retry& retry = retries_[resource];
  if (retry.version != version) retry = Retry{version, 0, {}};
  ++retry.failures;
  auto delay = Backoff(options_, retry.failures);
  retry.next = Clock::now() + delay;
  return delay;
}

void Deployer::Unbound(const json& event) {
  auto plugin = event.find("plugin");
  if (plugin == event.end() || !plugin->is_string() ||
      plugin->get<std::string>() != plugin_.env().name) {
    return;
  }
  const std::string resource = event.value("resource", "");
  if (resource.empty()) return;
  retries_.erase(resource);
  const ResolvedResource where = Resolve(options_, resource);
  if (!options_.remove_on_unbind) {
    Log(resource + ": unbound: files left in " + where.folder);
    return;
  }
  // A replayed cert.unbound of a resource bound to this plugin again since keeps its files.
  auto bindings = plugin_.Bindings();
  if (!bindings) {
    Log(resource + ": unbound: files left in " + where.folder +
        " (cannot check whether it is bound again: " + bindings.error().message + ")");
    return;
  }
  for (const auto& binding : *bindings) {
    if (binding.resource == resource) {
      Log(resource + ": unbound, then bound again: files kept in " + where.folder);
      return;
    }
  }
  std::string problems;
  for (const char* file : kFiles) {
    if (auto removed = RemoveFile(where.folder, file); !removed)
      problems += "; " + removed.error().message;
  }
  Log(resource + ": unbound: removed the files in " + where.folder + problems);
  if (!problems.empty()) plugin_.ReportProblem("error", resource + ": " + problems.substr(2));
}

}  // namespace certinbox::deploy
