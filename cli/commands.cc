// ls (page by page), show and status, printed for people or as JSON.
#include "cli/commands.h"

#include <charconv>
#include <cstdlib>
#include <cstring>
#include <iostream>

#include "base/wire.h"
#include "cli/duration.h"
#include "cli/exit_codes.h"
#include "cli/render.h"
#include "plugins/sdk/limits.h"

namespace certinbox::cli {
namespace {

// A string field of the daemon's reply, "" when it is missing or not a string.
std::string StringField(const Json& obj, std::string_view key) {
  const Json& value = FieldOf(obj, key);
  return value.is_string() ? value.get<std::string>() : "";
}

}  // namespace

int RunLs(const GlobalOptions& global, const LsOptions& options) {
  Json args = Json::object();
  if (!options.status.empty()) args["status"] = options.status;
  if (!options.group.empty()) args["group"] = options.group;
  if (!options.label.empty()) args["label"] = options.label;
  if (!options.sort.empty()) args["sort"] = options.sort;
  if (!options.expiring_within.empty()) {
    auto seconds = ParseDuration(options.expiring_within);
    if (!seconds) {
      PrintError("--expiring-within: " + seconds.error().message);
      return kExitUsage;
    }
    args["expiring_within"] = *seconds;
  }

  // Not an option (it would be one more line of --help for no user's need): tests and
  // benchmarks set the entries per request through the environment.
  if (const char* page_size = std::getenv("CERTINBOX_LS_PAGE_SIZE")) {
    int64_t limit = 0;
    auto [end, ec] = std::from_chars(page_size, page_size + std::strlen(page_size), limit);
    if (ec != std::errc() || *end != '\0' || limit < 1 || limit > sdk::kMaxLsRowsPerReply) {
      PrintError("CERTINBOX_LS_PAGE_SIZE: a whole number from 1 to " +
                 std::to_string(sdk::kMaxLsRowsPerReply));
      return kExitUsage;
    }
    args[base::reply::kLimit] = limit;
  }

  auto session = Session::Open(global);
  if (!session) return session.error();
  // Page by page, each printed before the next is asked for: neither side ever holds the whole
  // inventory. An entry added or deleted meanwhile does not make a page repeat or skip another.
  const bool filtered = !options.status.empty() || !options.group.empty() ||
                        !options.label.empty() || !options.expiring_within.empty();
  InventoryPrinter printer(options.json, filtered);
  std::string after;
  while (true) {
    Json page_args = args;
    if (!after.empty()) page_args[base::reply::kAfter] = after;
    auto reply = (*session)->Request("ls", std::move(page_args));
    if (!reply) {
      std::cout.flush();  // what was printed stays printed; the error says why it stops there
      return (*session)->Fail(reply.error());
    }
    std::cout << printer.Page(*reply);
    const Json& next = FieldOf(*reply, base::reply::kNext);
    if (!next.is_string()) break;
    if (next.get<std::string>() == after) {
      PrintError("the daemon's ls reply names the same page again as the next one");
      return kExitDaemonError;
    }
    after = next.get<std::string>();
  }
  std::cout << printer.Finish();
  return kExitOk;
}

int RunShow(const GlobalOptions& global, const ShowOptions& options) {
  auto session = Session::Open(global);
  if (!session) return session.error();
  auto reply = (*session)->Request("show", {{"entry", options.entry}});
  if (!reply) return (*session)->Fail(reply.error());
  const Json& entry = FieldOf(*reply, "entry");
  if (!entry.is_object()) {
    PrintError("the daemon's show reply has no entry object");
    return kExitDaemonError;
  }

  if (options.pem) {
    std::string pem = StringField(entry, "pem");
    const Json& id = FieldOf(entry, "id");
    if (pem.empty() && StringField(entry, "status") == "pre_activation" && id.is_number_integer()) {
      // A CSR made by `csr create` still waiting for its certificate: its PEM is the request's,
      // which the daemon sends with csr.show. The id names this very entry.
      auto csr = (*session)->Request("csr.show", {{"entry", std::to_string(id.get<int64_t>())}});
      if (!csr) return (*session)->Fail(csr.error());
      pem = StringField(*csr, "csr_pem");
    }
    if (pem.empty()) {
      PrintError("the daemon's reply holds no PEM for this entry");
      return kExitDaemonError;
    }
    std::cout << pem << (pem.ends_with('\n') ? "" : "\n");
  } else if (options.json) {
    std::cout << DumpJson(entry, 2) << "\n";
  } else {
    std::cout << RenderEntry(entry, options.versions);
  }
  return kExitOk;
}

int RunStatus(const GlobalOptions& global, const StatusOptions& options) {
  auto session = Session::Open(global);
  if (!session) return session.error();
  auto reply = (*session)->Request("status");
  if (!reply) return (*session)->Fail(reply.error());
  std::cout << (options.json ? DumpJson(*reply, 2) + "\n" : RenderStatus(*reply));
  return kExitOk;
}

}  // namespace certinbox::cli
