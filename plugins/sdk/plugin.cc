#include "plugins/sdk/plugin.h"

#include <signal.h>
#include <string.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <thread>

#include "base/error.h"
#include "base/error_codes.h"
#include "base/wire.h"

namespace certinbox::sdk {

namespace {

using Clock = std::chrono::steady_clock;
using nlohmann::json;
using namespace std::chrono_literals;

// How long Run waits at most before it looks at the stop flag and the supervisor again.
constexpr auto kStep = 200ms;
// Without any live event this long, replay from the last handled seq: catches events that a full
// PUB queue dropped at the tail (a gap is only seen when a later event arrives).
constexpr auto kIdleReplay = 2s;
constexpr auto kControlTimeout = 10s;
constexpr auto kHelloTimeout = 5s;
constexpr auto kReportTimeout = 3s;
constexpr int kReplayPage = 500;

// Set by SIGTERM/SIGINT. A lock-free atomic, so the handler may store to it.
std::atomic<bool> g_signalled{false};
static_assert(std::atomic<bool>::is_always_lock_free);

extern "C" void OnStopSignal(int) { g_signalled.store(true, std::memory_order_relaxed); }

void InstallStopSignals() {
  struct sigaction action {};
  action.sa_handler = OnStopSignal;
  sigemptyset(&action.sa_mask);
  // No SA_RESTART: a blocking zmq_poll returns EINTR, so Run sees the flag at once. libzmq's own
  // threads block every signal, so the signal reaches this thread.
  action.sa_flags = 0;
  sigaction(SIGTERM, &action, nullptr);
  sigaction(SIGINT, &action, nullptr);
}

void Log(const std::string& line) { std::fprintf(stderr, "%s\n", line.c_str()); }

std::optional<std::string> Variable(const char* name) {
  const char* value = std::getenv(name);
  if (value == nullptr) return std::nullopt;
  return std::string(value);
}

std::optional<std::string> OptionalString(const json& object, const char* key) {
  auto it = object.find(key);
  if (it == object.end() || !it->is_string()) return std::nullopt;
  return it->get<std::string>();
}

std::optional<int64_t> OptionalInt(const json& object, const char* key) {
  auto it = object.find(key);
  if (it == object.end() || !it->is_number_integer()) return std::nullopt;
  return it->get<int64_t>();
}

}  // namespace

base::Result<PluginEnv> PluginEnv::FromEnvironment() {
  PluginEnv env;
  std::vector<std::string> problems;
  auto required = [&](const char* name, std::string& into) {
    auto value = Variable(name);
    if (!value || value->empty()) {
      problems.push_back(std::string(name) + " is not set");
    } else {
      into = *value;
    }
  };
  required("CERTINBOX_PLUGIN", env.name);
  required("CERTINBOX_PLUGIN_TOKEN", env.token);
  required("CERTINBOX_CONTROL", env.control);
  required("CERTINBOX_PUBLISH", env.publish);

  if (auto text = Variable("CERTINBOX_PLUGIN_EVENTS"); text && !text->empty()) {
    auto events = json::parse(*text, nullptr, false);
    bool good = events.is_array() && std::all_of(events.begin(), events.end(),
                                                 [](const json& e) { return e.is_string(); });
    if (good) {
      env.events = events.get<std::vector<std::string>>();
    } else {
      problems.push_back(
          "CERTINBOX_PLUGIN_EVENTS is not a JSON array of strings (topic prefixes, e.g. "
          "[\"cert.\"]): " +
          *text);
    }
  }
  if (auto text = Variable("CERTINBOX_PLUGIN_OPTIONS"); text && !text->empty()) {
    auto options = json::parse(*text, nullptr, false);
    if (options.is_object()) {
      env.options = std::move(options);
    } else {
      problems.push_back("CERTINBOX_PLUGIN_OPTIONS is not a JSON object: " + *text);
    }
  }
  if (auto dir = Variable("CERTINBOX_PLUGIN_DIR")) env.dir = *dir;
  auto curve_key = Variable("CERTINBOX_CURVE_KEY");
  auto server_key = Variable("CERTINBOX_SERVER_KEY");
  if ((curve_key && !curve_key->empty()) || (server_key && !server_key->empty())) {
    auto keys = LoadClientKeys(curve_key.value_or(""), server_key.value_or(""));
    if (keys) {
      env.curve = std::move(*keys);
    } else {
      problems.push_back("CERTINBOX_CURVE_KEY/CERTINBOX_SERVER_KEY: " + keys.error().message);
    }
  } else if (env.control.starts_with("tcp://") || env.publish.starts_with("tcp://")) {
    problems.push_back(
        "a tcp:// endpoint needs CERTINBOX_CURVE_KEY and CERTINBOX_SERVER_KEY (key files)");
  }
  if (auto text = Variable("CERTINBOX_SUPERVISOR_PID"); text && !text->empty()) {
    char* end = nullptr;
    errno = 0;
    long pid = std::strtol(text->c_str(), &end, 10);
    if (errno != 0 || end == text->c_str() || *end != '\0' || pid <= 0) {
      problems.push_back("CERTINBOX_SUPERVISOR_PID is not a process id: " + *text);
    } else {
      env.supervisor_pid = pid;
    }
  }
  if (!problems.empty()) {
    std::string message;
    for (const auto& problem : problems) message += (message.empty() ? "" : "; ") + problem;
    message +=
        " (a supervised plugin gets these from certinboxd; to run one by hand: eval \"$(certinbox "
        "plugin env NAME)\")";
    return std::unexpected(base::Error{base::code::kBadEnvironment, message});
  }
  return env;
}

Material::~Material() {
  if (!key_pem.empty()) explicit_bzero(key_pem.data(), key_pem.size());
}

struct Plugin::State {
  explicit State(const std::string& control_endpoint) : control(context, control_endpoint) {}

  struct Tick {
    std::chrono::milliseconds every;
    std::function<void()> run;
    Clock::time_point next;
  };

  zmq::context_t context{1};
  ControlClient control;
  std::atomic<bool> stop{false};
  std::vector<Tick> ticks;
  bool connected = false;    // plugin.hello succeeded and no request found the daemon gone since
  bool said_hello = false;   // at least once in this process
  int64_t last_handled = 0;  // every event up to here was handled (or is not one of ours)
  int64_t acked = 0;         // the cursor as far as we know

  class Loop;  // Run's body
};

Plugin::Plugin(PluginEnv env)
    : env_(std::move(env)), state_(std::make_unique<State>(env_.control)) {
  state_->control.SetCurve(env_.curve);
}

Plugin::~Plugin() = default;

ControlClient& Plugin::control() { return state_->control; }

void Plugin::Stop() { state_->stop.store(true, std::memory_order_relaxed); }

bool Plugin::stopping() const {
  return state_->stop.load(std::memory_order_relaxed) ||
         g_signalled.load(std::memory_order_relaxed);
}

void Plugin::OnTick(std::chrono::milliseconds every, std::function<void()> tick) {
  every = std::max(every, std::chrono::milliseconds(1));
  state_->ticks.push_back({every, std::move(tick), Clock::now() + every});
}

namespace {

// The request with the plugin's identity; "unreachable" marks the daemon as gone, so Run says
// hello again (the daemon may have restarted) before it goes on.
base::Result<json> IdentifiedRequest(const PluginEnv& env, ControlClient& control, bool& connected,
                                     const std::string& op, json args,
                                     std::chrono::milliseconds timeout) {
  if (!args.is_object()) args = json::object();
  args["plugin"] = env.name;
  args["token"] = env.token;
  auto reply = control.Request(op, std::move(args), timeout);
  if (!reply && reply.error().code == base::code::kUnreachable) connected = false;
  return reply;
}

}  // namespace

base::Result<json> Plugin::Request(const std::string& op, json args) {
  return IdentifiedRequest(env_, state_->control, state_->connected, op, std::move(args),
                           kControlTimeout);
}

base::Result<std::vector<BoundResource>> Plugin::Bindings() {
  auto reply = Request("plugin.bindings");
  if (!reply) return std::unexpected(reply.error());
  std::vector<BoundResource> out;
  auto list = reply->find("bindings");
  if (list == reply->end() || !list->is_array()) {
    return std::unexpected(
        base::Error{base::code::kBadReply, "plugin.bindings: no 'bindings' array"});
  }
  for (const auto& item : *list) {
    BoundResource bound;
    bound.resource = item.value("resource", "");
    bound.entry = item.value("entry", "");
    bound.id = item.value("id", int64_t{0});
    bound.version = item.value("version", int64_t{0});
    bound.fingerprint_sha256 = OptionalString(item, "fingerprint_sha256").value_or("");
    bound.not_after = OptionalString(item, "not_after").value_or("");
    bound.has_private_key = item.value(base::field::kHasPrivateKey, false);
    bound.pushed_version = OptionalInt(item, "pushed_version");
    bound.last_push_result = OptionalString(item, "last_push_result");
    bound.last_push_message = OptionalString(item, "last_push_message");
    out.push_back(std::move(bound));
  }
  return out;
}

base::Result<Material> Plugin::FetchMaterial(const std::string& resource, bool with_key) {
  auto reply = Request("material", {{"resource", resource}, {"key", with_key}});
  if (!reply) return std::unexpected(reply.error());
  Material material;
  material.resource = reply->value("resource", resource);
  material.entry = reply->value("entry", "");
  material.id = reply->value("id", int64_t{0});
  material.version = reply->value("version", int64_t{0});
  material.fingerprint_sha256 = OptionalString(*reply, "fingerprint_sha256").value_or("");
  material.not_after = OptionalString(*reply, "not_after").value_or("");
  material.cert_pem = reply->value(base::reply::kCertPem, "");
  material.chain_pem = reply->value(base::reply::kChainPem, "");
  material.fullchain_pem = reply->value(base::reply::kFullchainPem, "");
  if (with_key) {
    auto key = reply->find(base::reply::kKeyPem);
    if (key == reply->end() || !key->is_string()) {
      return std::unexpected(
          base::Error{base::code::kBadReply, "material: no key_pem in the reply"});
    }
    material.key_pem = key->get<std::string>();
    // The reply's copy of the key is wiped too.
    auto& held = key->get_ref<std::string&>();
    explicit_bzero(held.data(), held.size());
  }
  return material;
}

base::Result<int64_t> Plugin::ReportPush(const PushReport& report) {
  json args = {{"resource", report.resource},
               {"version", report.version},
               {"ok", report.ok},
               {"message", report.message}};
  if (report.exit_status) args["exit_status"] = *report.exit_status;
  if (!report.output.empty()) args["output"] = report.output;
  auto reply = Request("push.report", std::move(args));
  if (!reply) return std::unexpected(reply.error());
  return reply->value("seq", int64_t{0});
}

void Plugin::ReportProblem(const std::string& level, const std::string& message) {
  auto reply = IdentifiedRequest(env_, state_->control, state_->connected, "plugin.report",
                                 {{"level", level}, {"message", message}}, kReportTimeout);
  if (!reply) Log("could not report a problem to the daemon: " + reply.error().message);
}

namespace {

bool Wanted(const std::vector<std::string>& prefixes, const std::string& type) {
  return std::any_of(prefixes.begin(), prefixes.end(),
                     [&](const std::string& prefix) { return type.starts_with(prefix); });
}

}  // namespace

// Run's pieces live in one class so the loop reads top-down; it uses Plugin's state.
class Plugin::State::Loop {
 public:
  Loop(Plugin& plugin, Plugin::State& state, Plugin::Handler handler)
      : plugin_(plugin), state_(state), handler_(std::move(handler)) {}

  int Run() {
    const PluginEnv& env = plugin_.env();
    // A request waiting for its reply gives up when the plugin is asked to stop.
    state_.control.SetCancel([this] { return plugin_.stopping() || SupervisorGone(); });
    // Subscribe first, so no live event published after the replay's end is missed.
    std::optional<Subscriber> subscriber;
    try {
      subscriber.emplace(state_.context, env.events);
      if (env.publish.starts_with("tcp://")) subscriber->SetCurve(env.curve);
      subscriber->Connect(env.publish);
    } catch (const zmq::error_t& e) {
      Log("cannot subscribe to " + env.publish + ": " + e.what());
      return 1;
    }
    Clock::time_point last_activity = Clock::now();
    while (!plugin_.stopping()) {
      if (SupervisorGone()) return 0;
      if (!state_.connected) {
        if (auto refused = Hello(); refused) return *refused;
        CatchUp();
        last_activity = Clock::now();
        continue;
      }
      RunDueTicks();
      std::optional<EventMessage> message;
      try {
        message = subscriber->Receive(NextWait());
      } catch (const zmq::error_t& e) {
        if (e.num() != EINTR) Log(std::string("receiving events: ") + e.what());
        continue;
      }
      if (!message) {
        if (Clock::now() - last_activity >= kIdleReplay) {
          CatchUp();
          last_activity = Clock::now();
        }
        continue;
      }
      last_activity = Clock::now();
      const int64_t seq = message->seq();
      if (seq <= state_.last_handled) continue;  // already handled (replay or duplicate)
      if (seq == state_.last_handled + 1 && Wanted(env.events, message->topic)) {
        Handle(message->body);
      } else {
        // A gap: messages were dropped, or events of other types came between. The outbox has
        // them all, this one included.
        CatchUp();
      }
    }
    return 0;
  }

 private:
  bool SupervisorGone() const {
    const auto& pid = plugin_.env().supervisor_pid;
    return pid && static_cast<long>(getppid()) != *pid;
  }

  // Sleeps up to `duration` in short steps; false when the plugin should stop instead.
  bool Pause(std::chrono::milliseconds duration) {
    auto until = Clock::now() + duration;
    while (Clock::now() < until) {
      if (plugin_.stopping() || SupervisorGone()) return false;
      std::this_thread::sleep_for(std::min<Clock::duration>(kStep, until - Clock::now()));
    }
    return !plugin_.stopping() && !SupervisorGone();
  }

  // plugin.hello until the daemon answers. nullopt: connected; a value: Run's exit code.
  std::optional<int> Hello() {
    bool waiting_logged = false;
    while (true) {
      if (plugin_.stopping() || SupervisorGone()) return 0;
      bool ignored = true;
      auto reply = IdentifiedRequest(plugin_.env(), state_.control, ignored, "plugin.hello",
                                     json::object(), kHelloTimeout);
      if (reply) {
        Connected(*reply);
        return std::nullopt;
      }
      const base::Error& error = reply.error();
      if (error.code == base::code::kUnauthenticated || error.code == base::code::kUnknownPlugin) {
        Log("the daemon refused plugin '" + plugin_.env().name + "' (" + error.code +
            "): " + error.message);
        return 1;
      }
      if (plugin_.stopping()) return 0;  // EINTR in the request
      if (!waiting_logged) {
        Log("waiting for the daemon (" + error.code + ": " + error.message + ")");
        waiting_logged = true;
      }
      if (!Pause(1s)) return 0;
    }
  }

  void Connected(const json& hello) {
    const int64_t cursor = hello.value("seq", int64_t{0});
    const int64_t last_seq = hello.value(base::reply::kLastSeq, cursor);
    if (!state_.said_hello || state_.last_handled > last_seq) {
      // First hello, or a daemon whose outbox is behind what we handled (another state folder):
      // its cursor is the truth.
      state_.last_handled = cursor;
    } else {
      state_.last_handled = std::max(state_.last_handled, cursor);
    }
    state_.acked = cursor;
    state_.said_hello = true;
    state_.connected = true;
    // Handled before the daemon went away, not acknowledged yet.
    if (state_.last_handled > state_.acked) Acknowledge(state_.last_handled);
  }

  std::chrono::milliseconds NextWait() const {
    auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(kStep);
    auto now = Clock::now();
    for (const auto& tick : state_.ticks) {
      auto until = std::chrono::duration_cast<std::chrono::milliseconds>(tick.next - now);
      wait = std::clamp(until, std::chrono::milliseconds(0), wait);
    }
    return wait;
  }

  void RunDueTicks() {
    for (auto& tick : state_.ticks) {
      if (Clock::now() < tick.next) continue;
      try {
        tick.run();
      } catch (const std::exception& e) {
        Problem(std::string("tick failed: ") + e.what());
      }
      tick.next = Clock::now() + tick.every;
      if (plugin_.stopping()) return;
    }
  }

  // Replays the outbox from the last handled event, page by page, handling ours in seq order.
  void CatchUp() {
    const auto& prefixes = plugin_.env().events;
    // The daemon filters by one prefix; with several, take everything and filter here.
    const std::string server_prefix = prefixes.size() == 1 ? prefixes[0] : "";
    while (state_.connected && !plugin_.stopping()) {
      const int64_t since = state_.last_handled;
      auto reply = state_.control.Request(
          "events", {{"since", since}, {"limit", kReplayPage}, {"type", server_prefix}},
          kControlTimeout);
      if (!reply) {
        if (reply.error().code == base::code::kUnreachable) {
          state_.connected = false;
        } else {
          Log("replaying events: " + reply.error().code + ": " + reply.error().message);
        }
        return;
      }
      if (auto pruned = reply->find(base::reply::kPruned); pruned != reply->end()) {
        Problem("events " + std::to_string(pruned->value(base::reply::kFrom, int64_t{0})) + " to " +
                    std::to_string(pruned->value(base::reply::kTo, int64_t{0})) +
                    " were deleted by the daemon's retention before this plugin handled them",
                "warning");
      }
      for (const auto& event : (*reply)[base::reply::kEvents]) {
        if (!state_.connected || plugin_.stopping()) return;
        if (!WellFormedEvent(event)) continue;
        const int64_t seq = EventSeq(event);
        if (seq <= state_.last_handled) continue;
        if (!Wanted(prefixes, event.value(base::field::kType, ""))) continue;
        Handle(event);
        RunDueTicks();
      }
      if (!state_.connected || plugin_.stopping()) return;
      const int64_t scanned = reply->value(base::reply::kScannedTo, since);
      // Events up to `scanned` are handled or not ours: the cursor moves over them too, so the
      // supervisor does not see a plugin behind on events it never wanted.
      if (scanned > state_.last_handled) state_.last_handled = scanned;
      if (state_.last_handled > state_.acked) Acknowledge(state_.last_handled);
      if (scanned <= since || !reply->value(base::reply::kMore, false)) return;
    }
  }

  void Handle(const json& event) {
    const int64_t seq = EventSeq(event);
    try {
      handler_(event);
    } catch (const std::exception& e) {
      Problem("event " + std::to_string(seq) + " (" + event.value(base::field::kType, "") +
              "): the handler failed: " + e.what());
    } catch (...) {
      Problem("event " + std::to_string(seq) + " (" + event.value(base::field::kType, "") +
              "): the handler failed");
    }
    // Stopped while the handler ran (SIGTERM, or the handler called Stop() because it gave the
    // event up, as the webhook does in the middle of its retries): not acknowledged, so the
    // event comes again after the restart.
    if (plugin_.stopping()) return;
    state_.last_handled = seq;
    Acknowledge(seq);
  }

  void Acknowledge(int64_t seq) {
    auto acked = Ack(state_.control, plugin_.env().cursor(), seq);
    if (acked) {
      state_.acked = std::max(state_.acked, *acked);
    } else if (acked.error().code == base::code::kUnreachable) {
      state_.connected = false;  // acked after the next hello
    } else {
      Log("ack " + std::to_string(seq) + ": " + acked.error().code + ": " + acked.error().message);
    }
  }

  void Problem(const std::string& message, const std::string& level = "error") {
    Log(message);
    if (state_.connected) plugin_.ReportProblem(level, message);
  }

  Plugin& plugin_;
  Plugin::State& state_;
  Plugin::Handler handler_;
};

int Plugin::Run(Handler handler) {
  InstallStopSignals();
  if (!handler) handler = [](const json&) {};
  return State::Loop(*this, *state_, std::move(handler)).Run();
}

int RunPlugin(const std::function<Plugin::Handler(Plugin&)>& make) {
  // Lines reach the daemon's log as they are written, not when a pipe buffer fills.
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  auto env = PluginEnv::FromEnvironment();
  if (!env) {
    Log(env.error().message);
    return 1;
  }
  Plugin plugin(std::move(*env));
  Plugin::Handler handler;
  try {
    handler = make(plugin);
  } catch (const std::exception& e) {
    Log(std::string("cannot start: ") + e.what());
    return 1;
  }
  return plugin.Run(std::move(handler));
}

std::optional<int> HandleArguments(int argc, char** argv, std::string_view program,
                                   std::string_view usage) {
  if (argc < 2) return std::nullopt;
  const std::string_view arg = argv[1];
  if (arg == "--help" || arg == "-h") {
    std::cout << usage;
    return 0;
  }
  std::cerr << program << ": unknown argument " << arg << " (see --help)\n";
  return 2;
}

}  // namespace certinbox::sdk
