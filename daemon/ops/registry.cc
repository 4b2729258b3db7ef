#include "daemon/ops/registry.h"

#include <set>

#include "base/error_codes.h"
#include "base/text.h"
#include "storage/actor.h"

namespace certinbox::daemon::ops {

using nlohmann::json;

void OpRegistry::Add(std::string name, Handler handler) {
  ops_[std::move(name)] = std::move(handler);
}

void OpRegistry::AddAsync(std::string name, AsyncHandler handler) {
  async_ops_[std::move(name)] = std::move(handler);
}

void OpRegistry::Install(std::unique_ptr<OpGroup> group) {
  group->Register(*this);
  groups_.push_back(std::move(group));
}

void OpRegistry::Stop() {
  for (auto& group : groups_) group->Stop();
}

std::vector<std::string> OpRegistry::Names() const {
  std::set<std::string> names;
  for (const auto& [name, handler] : ops_) names.insert(name);
  for (const auto& [name, handler] : async_ops_) names.insert(name);
  return {names.begin(), names.end()};
}

void OpRegistry::Dispatch(const Request& request, ControlServer::Reply reply) const {
  auto op = OpName(request.body());
  if (!op) return reply(ErrorReply(op.error()));
  storage::ScopedActor actor(request.peer().Who());  // "by" in the events this request makes
  if (auto it = async_ops_.find(*op); it != async_ops_.end()) return it->second(request, reply);
  auto it = ops_.find(*op);
  if (it == ops_.end()) {
    std::string known;
    for (const auto& name : Names()) known += (known.empty() ? "" : ", ") + name;
    return reply(ErrorReply({base::code::kBadRequest,
                             "unknown op '" + base::Shorten(*op) + "' (known: " + known + ")"}));
  }
  auto answer = it->second(request);
  reply(answer ? std::move(*answer) : ErrorReply(answer.error()));
}

}  // namespace certinbox::daemon::ops
