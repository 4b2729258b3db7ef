// `certinbox events`: replay the outbox, and with --follow keep printing live events.
//
// Following uses the order docs/protocol.md asks of every subscriber: subscribe first, then
// replay, then print live events above the last seq accounted for. The subscription takes every
// topic and the --type filter is applied here, so consecutive seqs are expected and a jump is a
// real gap (the PUB socket dropped messages), which is replayed from the control socket.
#include <algorithm>
#include <cerrno>
#include <csignal>
#include <iostream>
#include <optional>

#include "base/error.h"
#include "base/wire.h"
#include "cli/commands.h"
#include "cli/endpoint.h"
#include "cli/exit_codes.h"
#include "cli/render.h"

namespace certinbox::cli {
namespace {

using std::chrono::milliseconds;
using std::chrono::steady_clock;

constexpr milliseconds kPoll{200};
// With no live event for this long, ask the daemon for its last seq: catches events published
// before the subscription was connected, and notices a daemon that went away.
constexpr auto kIdleCheck = std::chrono::seconds(5);
constexpr milliseconds kIdleCheckTimeout{2000};

volatile std::sig_atomic_t g_stop = 0;

void OnStopSignal(int) { g_stop = 1; }

void InstallStopHandlers() {
  struct sigaction action {};
  action.sa_handler = OnStopSignal;
  sigemptyset(&action.sa_mask);
  action.sa_flags = 0;  // no SA_RESTART: a blocking poll returns at once with EINTR
  sigaction(SIGINT, &action, nullptr);
  sigaction(SIGTERM, &action, nullptr);
}

int64_t IntOf(const Json& value) { return value.is_number_integer() ? value.get<int64_t>() : 0; }

int64_t SeqOf(const Json& event) { return IntOf(FieldOf(event, base::field::kSeq)); }

void WarnPruned(const std::optional<std::pair<int64_t, int64_t>>& pruned) {
  if (!pruned) return;
  PrintError("events " + std::to_string(pruned->first) + " to " + std::to_string(pruned->second) +
             " were pruned by the daemon's event_retention before they could be replayed");
}

// Where the replay starts: --since, or the named cursor's position.
base::Result<int64_t> StartSeq(Session& session, const EventsOptions& options) {
  if (options.cursor.empty()) return options.since;
  auto position = sdk::CursorPosition(session.control(), options.cursor);
  if (!position) return std::unexpected(position.error());
  return *position;
}

class Follower {
 public:
  Follower(Session& session, const EventsOptions& options, int64_t start)
      : session_(session), options_(options), cursor_(start), acked_(start) {}

  // Prints every matching event with seq above the cursor; the cursor then covers them.
  std::optional<base::Error> Replay() {
    auto replay = sdk::ReplaySince(session_.control(), cursor_, options_.type);
    if (!replay) return replay.error();
    WarnPruned(replay->pruned);
    for (const auto& event : replay->events) Print(event);
    CoverUpTo(replay->scanned_to);
    return std::nullopt;
  }

  // With --cursor: acknowledges what was printed, at most once a second (and at the end).
  void MaybeAck(bool now = false) {
    if (options_.cursor.empty() || (cursor_ <= acked_ && registered_)) return;
    auto t = steady_clock::now();
    if (!now && t - last_ack_ < std::chrono::seconds(1)) return;
    last_ack_ = t;
    auto acked = sdk::Ack(session_.control(), options_.cursor, cursor_);
    if (acked) {
      acked_ = cursor_;
      registered_ = true;
    } else if (!g_stop) {
      PrintError("cannot acknowledge events up to " + std::to_string(cursor_) + " for cursor '" +
                 options_.cursor + "': " + acked.error().message);
    }
  }

  void Print(const Json& event) {
    int64_t seq = SeqOf(event);
    if (seq <= cursor_) return;  // already printed (a replay and the live socket overlap)
    cursor_ = seq;
    if (!TextOf(FieldOf(event, base::field::kType)).starts_with(options_.type)) return;
    std::cout << (options_.json ? DumpJson(event) : RenderEvent(event)) << std::endl;
  }

  // A live event: events between the cursor and it were dropped on the way, replay them first.
  void OnLive(const Json& event) {
    int64_t seq = SeqOf(event);
    if (seq <= cursor_) return;
    if (seq > cursor_ + 1) {
      int64_t from = cursor_ + 1;
      if (auto error = Replay(); error && !g_stop) {
        PrintError("missed events " + std::to_string(from) + " to " + std::to_string(seq - 1) +
                   ": replay failed: " + error->message);
      }
    }
    Print(event);
  }

  // Everything up to `seq` has been seen (replayed, or filtered out by --type).
  void CoverUpTo(int64_t seq) { cursor_ = std::max(cursor_, seq); }

  // Asks the daemon how far its outbox goes and replays what this client has not seen.
  void CheckIdle() {
    auto status =
        session_.Request("status", Json::object(), std::min(session_.timeout(), kIdleCheckTimeout));
    if (g_stop) return;
    if (!status) {
      if (!lost_) PrintError("lost the daemon (" + status.error().message + "); still waiting");
      lost_ = true;
      return;
    }
    if (lost_) PrintError("the daemon answers again");
    lost_ = false;
    int64_t last = IntOf(FieldOf(*status, base::reply::kLastSeq));
    if (last > cursor_) {
      if (Replay()) return;  // retried at the next check
      CoverUpTo(last);
    }
  }

 private:
  Session& session_;
  const EventsOptions& options_;
  int64_t cursor_;
  int64_t acked_;
  steady_clock::time_point last_ack_{};
  bool registered_ = false;
  bool lost_ = false;
};

int Follow(Session& session, const EventsOptions& options) {
  auto status = session.Request("status");
  if (!status) return session.Fail(status.error());
  const Json& publish = FieldOf(*status, "publish_endpoint");
  if (!publish.is_string() || publish.get<std::string>().empty()) {
    PrintError("the daemon's status reply names no publish_endpoint");
    return kExitDaemonError;
  }

  InstallStopHandlers();
  std::optional<sdk::Subscriber> subscriber;
  try {
    subscriber.emplace(session.context(), std::vector<std::string>{""});
    // Over tcp:// the publish socket, too, admits CURVE clients only (the same keys).
    if (publish.get<std::string>().starts_with("tcp://")) subscriber->SetCurve(session.curve());
    subscriber->Connect(ConnectableEndpoint(publish.get<std::string>()));
  } catch (const zmq::error_t& e) {
    PrintError("cannot subscribe to " + publish.get<std::string>() + ": " + e.what());
    return kExitUnreachable;
  }

  auto start = StartSeq(session, options);
  if (!start) return session.Fail(start.error());
  Follower follower(session, options, *start);
  if (auto error = follower.Replay()) {
    if (g_stop) return kExitOk;
    return session.Fail(*error);
  }
  // The replay ran after the status request, so it covered at least the daemon's last_seq then.
  follower.CoverUpTo(IntOf(FieldOf(*status, base::reply::kLastSeq)));
  follower.MaybeAck(/*now=*/true);

  auto last_activity = steady_clock::now();
  while (!g_stop) {
    std::optional<sdk::EventMessage> message;
    try {
      message = subscriber->Receive(kPoll);
    } catch (const zmq::error_t& e) {
      if (e.num() == EINTR) continue;
      PrintError(std::string("event subscription failed: ") + e.what());
      return kExitUnreachable;
    }
    if (message) {
      last_activity = steady_clock::now();
      follower.OnLive(message->body);
    } else if (steady_clock::now() - last_activity >= kIdleCheck) {
      last_activity = steady_clock::now();
      follower.CheckIdle();
    }
    follower.MaybeAck();
  }
  follower.MaybeAck(/*now=*/true);
  return kExitOk;
}

}  // namespace

int RunEvents(const GlobalOptions& global, const EventsOptions& options) {
  auto session = Session::Open(global);
  if (!session) return session.error();
  if (options.follow) return Follow(**session, options);

  auto start = StartSeq(**session, options);
  if (!start) return (*session)->Fail(start.error());
  auto replay = sdk::ReplaySince((*session)->control(), *start, options.type);
  if (!replay) return (*session)->Fail(replay.error());
  WarnPruned(replay->pruned);
  for (const auto& event : replay->events) {
    std::cout << (options.json ? DumpJson(event) : RenderEvent(event)) << "\n";
  }
  std::cout.flush();
  // Also when nothing was new: the first use of a name registers the cursor where it stands.
  if (!options.cursor.empty()) {
    auto acked = sdk::Ack((*session)->control(), options.cursor, replay->scanned_to);
    if (!acked) return (*session)->Fail(acked.error());
  }
  return kExitOk;
}

}  // namespace certinbox::cli
