// Control ops for CSRs made here: csr.create (the key is generated on libuv's thread pool, the
// reply comes when it is stored) and csr.show.
#include <spdlog/spdlog.h>

#include <exception>

#include "base/error.h"
#include "base/error_codes.h"
#include "base/time.h"
#include "daemon/control_args.h"
#include "daemon/daemon.h"
#include "pipeline/csr.h"
#include "storage/metadata.h"

namespace certinbox::daemon {

namespace {

using nlohmann::json;

// One key generation on the thread pool. Owned by the loop until its after-work callback.
struct CsrJob {
  uv_work_t work{};
  pipeline::CheckedCsrSpec spec;
  base::Result<pipeline::GeneratedCsr> result = base::Fail(base::code::kCsrKeygenFailed, "not run");
  std::function<void(CsrJob&)> done;  // loop thread; stores and replies
};

pipeline::CsrSpec SpecOf(const json& request) {
  pipeline::CsrSpec spec;
  spec.key_type = StringArg(request, "key").value_or("rsa-2048");
  spec.common_name = StringArg(request, "cn").value_or("");
  spec.sans = StringsArg(request, "sans").value_or(std::vector<std::string>{});
  spec.cn_as_san = BoolArg(request, "cn_san").value_or(true);
  spec.organization = StringArg(request, "organization").value_or("");
  spec.organizational_unit = StringArg(request, "organizational_unit").value_or("");
  spec.locality = StringArg(request, "locality").value_or("");
  spec.state = StringArg(request, "state").value_or("");
  spec.country = StringArg(request, "country").value_or("");
  spec.email = StringArg(request, "email").value_or("");
  return spec;
}

}  // namespace

// size: one lambda per op, registered together; each becomes a handler of its own with the
// control-op registry (issue 13, item 1), which replaces this function.
void Daemon::RegisterCsrOps() {
  AddAsyncOp("csr.create", [this](const json& request, ControlServer::Reply reply) {
    const std::string name = RequiredString(request, "name");
    auto checked = pipeline::CheckCsrSpec(SpecOf(request));
    if (!checked) return reply(Failure(checked.error()));
    storage::NewCsr entry;
    entry.name = name;
    entry.group = StringArg(request, "group").value_or("default");
    if (entry.group.empty()) entry.group = "default";
    entry.description = StringArg(request, "description").value_or("");
    entry.labels = StringsArg(request, "labels").value_or(std::vector<std::string>{});
    if (entry.description.size() > storage::kMaxDescriptionBytes ||
        entry.labels.size() > storage::kMaxLabels) {
      throw std::invalid_argument(
          "a description is at most " + std::to_string(storage::kMaxDescriptionBytes) +
          " bytes and an entry has at most " + std::to_string(storage::kMaxLabels) + " labels");
    }
    entry.key_type = checked->spec.key_type;
    if (auto ok = storage::CheckEntryNames(name, entry.group, entry.labels); !ok) {
      return reply(Failure(ok.error()));
    }
    // A taken name is refused before seconds of key generation; CreateCsr checks again.
    if (auto found = inventory_->Show(entry.group + "/" + name, base::UnixNow())) {
      if (found->value("name", "") == name && found->value("group", "") == entry.group) {
        return reply(ControlServer::ErrorReply(
            base::code::kNameTaken, "the group " + entry.group + " already has an entry named \"" +
                                        name + "\": choose another name or --group"));
      }
    }

    auto* job = new CsrJob;
    job->spec = std::move(*checked);
    job->work.data = job;
    job->done = [this, entry = std::move(entry), reply](CsrJob& finished) mutable {
      if (stopping_) {
        reply(ControlServer::ErrorReply(base::code::kStopping,
                                        "the daemon is stopping: nothing was stored"));
        return;
      }
      if (!finished.result) return reply(Failure(finished.result.error()));
      entry.csr = &*finished.result;
      entry.now = base::UnixNow();
      auto event = inventory_->CreateCsr(entry);
      if (!event) return reply(Failure(event.error()));
      PublishAll({*event});
      // A [[binding]] waiting for this name is made now, not at the next import.
      ReconcilePendingBindings();
      spdlog::info("csr {}/{} created ({}, {})", ForLog(entry.group), ForLog(entry.name),
                   entry.key_type, ForLog(finished.result->subject));
      auto shown = inventory_->CsrOf(entry.group + "/" + entry.name, entry.now);
      if (!shown) return reply(Failure(shown.error()));
      reply(std::move(*shown));
    };
    int rc = uv_queue_work(
        &loop_, &job->work,
        [](uv_work_t* work) {
          auto* job = static_cast<CsrJob*>(work->data);
          try {
            job->result = pipeline::GenerateCsr(job->spec);
          } catch (const std::exception& e) {
            job->result = base::Fail(base::code::kCsrKeygenFailed, e.what());
          }
        },
        [](uv_work_t* work, int status) {
          std::unique_ptr<CsrJob> job(static_cast<CsrJob*>(work->data));
          if (status == UV_ECANCELED) {
            job->result =
                base::Fail(base::code::kStopping, "the daemon is stopping: nothing was stored");
          }
          try {
            job->done(*job);
          } catch (const std::exception& e) {
            spdlog::error("csr.create: {}", e.what());
          }
        });
    if (rc != 0) {
      std::unique_ptr<CsrJob> failed(job);
      reply(ControlServer::ErrorReply(base::code::kInternalError,
                                      std::string("uv_queue_work: ") + uv_strerror(rc)));
    }
  });

  AddOp("csr.show", [this](const json& request) {
    auto shown = inventory_->CsrOf(RequiredString(request, "entry"), base::UnixNow());
    if (!shown) return Failure(shown.error());
    return std::move(*shown);
  });
}

}  // namespace certinbox::daemon
