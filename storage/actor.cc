#include "storage/actor.h"

#include <utility>

namespace certinbox::storage {
namespace {

thread_local std::string t_actor;

}  // namespace

ScopedActor::ScopedActor(std::string who) : previous_(std::exchange(t_actor, std::move(who))) {}

ScopedActor::~ScopedActor() { t_actor = std::move(previous_); }

const std::string& ScopedActor::Current() { return t_actor; }

}  // namespace certinbox::storage
