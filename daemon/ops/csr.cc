#include "daemon/ops/csr.h"

#include <spdlog/spdlog.h>

#include <exception>

#include "base/error_codes.h"
#include "base/uv_work.h"
#include "pipeline/csr.h"
#include "storage/metadata.h"

namespace certinbox::daemon::ops {
namespace {

using nlohmann::json;

base::Result<pipeline::CsrSpec> SpecOf(const Request& request) {
  auto key = request.String("key");
  auto cn = request.String("cn");
  auto sans = request.Strings("sans");
  auto cn_san = request.Bool("cn_san");
  auto organization = request.String("organization");
  auto organizational_unit = request.String("organizational_unit");
  auto locality = request.String("locality");
  auto state = request.String("state");
  auto country = request.String("country");
  auto email = request.String("email");
  if (auto bad = base::FirstError(key, cn, sans, cn_san, organization, organizational_unit,
                                  locality, state, country, email)) {
    return std::unexpected(*bad);
  }
  return pipeline::CsrSpec{
      .key_type = key->value_or("rsa-2048"),
      .common_name = cn->value_or(""),
      .sans = sans->value_or(std::vector<std::string>{}),
      .cn_as_san = cn_san->value_or(true),
      .organization = organization->value_or(""),
      .organizational_unit = organizational_unit->value_or(""),
      .locality = locality->value_or(""),
      .state = state->value_or(""),
      .country = country->value_or(""),
      .email = email->value_or(""),
  };
}

// The entry a csr.create request asks for, its names checked.
base::Result<storage::NewCsr> EntryOf(const Request& request, const std::string& name,
                                      const std::string& key_type) {
  auto group = request.String("group");
  auto description = request.String("description");
  auto labels = request.Strings("labels");
  if (auto bad = base::FirstError(group, description, labels)) return std::unexpected(*bad);
  storage::NewCsr entry;
  entry.name = name;
  entry.group = group->value_or("default");
  if (entry.group.empty()) entry.group = "default";
  entry.description = description->value_or("");
  entry.labels = labels->value_or(std::vector<std::string>{});
  if (entry.description.size() > storage::kMaxDescriptionBytes ||
      entry.labels.size() > storage::kMaxLabels) {
    return BadRequest("a description is at most " + std::to_string(storage::kMaxDescriptionBytes) +
                      " bytes and an entry has at most " + std::to_string(storage::kMaxLabels) +
                      " labels");
  }
  entry.key_type = key_type;
  if (auto ok = storage::CheckEntryNames(entry.name, entry.group, entry.labels); !ok) {
    return std::unexpected(ok.error());
  }
  return entry;
}

}  // namespace

void CsrOps::Register(OpRegistry& registry) {
  registry.AddAsync("csr.create", [this](const Request& request, ControlServer::Reply reply) {
    Create(request, std::move(reply));
  });
  registry.Add("csr.show", [this](const Request& request) { return Show(request); });
}

void CsrOps::Create(const Request& request, ControlServer::Reply reply) {
  if (stopping_) {
    return reply(ControlServer::ErrorReply(base::code::kStopping,
                                           "the daemon is stopping: no CSR is made now"));
  }
  auto name = request.RequiredString("name");
  if (!name) return reply(ErrorReply(name.error()));
  auto spec = SpecOf(request);
  if (!spec) return reply(ErrorReply(spec.error()));
  auto checked = pipeline::CheckCsrSpec(*spec);
  if (!checked) return reply(ErrorReply(checked.error()));
  auto entry = EntryOf(request, *name, checked->spec.key_type);
  if (!entry) return reply(ErrorReply(entry.error()));
  // A taken name is refused before seconds of key generation; CreateCsr checks again.
  if (auto found = inventory_.Show(entry->group + "/" + entry->name, clock_.Now())) {
    if (found->value("name", "") == entry->name && found->value("group", "") == entry->group) {
      return reply(ControlServer::ErrorReply(
          base::code::kNameTaken, "the group " + entry->group + " already has an entry named \"" +
                                      entry->name + "\": choose another name or --group"));
    }
  }

  const uint64_t id = next_id_++;
  auto stored = [this, id, entry = std::move(*entry)](
                    base::Result<pipeline::GeneratedCsr> generated) mutable {
    auto pending = pending_.find(id);
    if (pending == pending_.end()) return;  // answered `stopping` by Stop
    ControlServer::Reply reply = std::move(pending->second.reply);
    pending_.erase(pending);
    try {
      Store(entry, generated, reply);
    } catch (const std::exception& e) {
      spdlog::error("csr.create: {}", e.what());
      reply(ControlServer::ErrorReply(base::code::kInternalError, e.what()));
    }
  };
  uv_work_t* work = nullptr;
  int rc = base::RunOnPool<pipeline::GeneratedCsr>(
      loop_, [spec = std::move(*checked)] { return pipeline::GenerateCsr(spec); },
      std::move(stored), base::code::kCsrKeygenFailed, &work);
  if (rc != 0) {
    reply(ControlServer::ErrorReply(base::code::kInternalError,
                                    std::string("uv_queue_work: ") + uv_strerror(rc)));
    return;
  }
  pending_[id] = Pending{.reply = std::move(reply), .work = work};
}

void CsrOps::Stop() {
  stopping_ = true;
  for (auto& [id, pending] : pending_) {
    uv_cancel(reinterpret_cast<uv_req_t*>(pending.work));  // fails for one already running
    pending.reply(ControlServer::ErrorReply(base::code::kStopping,
                                            "the daemon is stopping: nothing was stored"));
  }
  pending_.clear();
}

void CsrOps::Store(storage::NewCsr& entry, const base::Result<pipeline::GeneratedCsr>& generated,
                   const ControlServer::Reply& reply) {
  // Not reached once Stop has answered the request (it is no longer pending).
  if (!generated) return reply(ErrorReply(generated.error()));
  entry.csr = &*generated;
  entry.now = clock_.Now();
  auto event = inventory_.CreateCsr(entry);
  if (!event) return reply(ErrorReply(event.error()));
  publisher_.Publish(*event);
  // A [[binding]] waiting for this name is made now, not at the next import.
  bindings_.ReconcilePending();
  spdlog::info("csr {}/{} created ({}, {})", ForLog(entry.group), ForLog(entry.name),
               entry.key_type, ForLog(generated->subject));
  auto shown = inventory_.CsrOf(entry.group + "/" + entry.name, entry.now);
  if (!shown) return reply(ErrorReply(shown.error()));
  reply(std::move(*shown));
}

base::Result<json> CsrOps::Show(const Request& request) {
  auto entry = request.RequiredString("entry");
  if (!entry) return std::unexpected(entry.error());
  auto shown = inventory_.CsrOf(*entry, clock_.Now());
  if (!shown) return std::unexpected(shown.error());
  return std::move(*shown);
}

}  // namespace certinbox::daemon::ops
