// The plugin runtime (docs/plugins.md): identity from the environment the supervisor gives, the
// subscribe → replay-from-cursor → handle in seq order → acknowledge loop, and the plugin control
// requests (bindings, material, push reports). A plugin in C++ writes its handler and calls Run().
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>
#include <zmq.hpp>

#include "base/error.h"
#include "plugins/sdk/client.h"

namespace certinbox::sdk {

// What the supervisor passes in the environment (docs/plugins.md, "What a supervised plugin gets").
struct PluginEnv {
  std::string name;                                   // CERTINBOX_PLUGIN
  std::string token;                                  // CERTINBOX_PLUGIN_TOKEN
  std::string control;                                // CERTINBOX_CONTROL
  std::string publish;                                // CERTINBOX_PUBLISH
  std::vector<std::string> events = {""};             // CERTINBOX_PLUGIN_EVENTS
  nlohmann::json options = nlohmann::json::object();  // CERTINBOX_PLUGIN_OPTIONS
  std::string dir;                                    // CERTINBOX_PLUGIN_DIR
  std::optional<long> supervisor_pid;                 // CERTINBOX_SUPERVISOR_PID
  // For tcp:// endpoints (docs/plugins.md "Over tcp://"): CERTINBOX_CURVE_KEY (the plugin's
  // secret key file, a [[bus.client]] with role plugin:NAME) and CERTINBOX_SERVER_KEY (the
  // daemon's curve_server.pub). Empty when neither is set.
  CurveKeys curve;

  // Reads the variables; a missing CERTINBOX_PLUGIN, _TOKEN, _CONTROL or _PUBLISH, or malformed
  // JSON, is an error ("bad_environment") whose message names the variable.
  static base::Result<PluginEnv> FromEnvironment();
  std::string cursor() const { return "plugin:" + name; }
};

// One binding of this plugin (the `plugin.bindings` reply).
struct BoundResource {
  std::string resource;
  std::string entry;  // GROUP/NAME
  int64_t id = 0;
  int64_t version = 0;  // the entry's current version
  std::string fingerprint_sha256;
  std::string not_after;
  bool has_private_key = false;
  std::optional<int64_t> pushed_version;
  std::optional<std::string> last_push_result;  // "succeeded" | "failed"
  std::optional<std::string> last_push_message;
};

// The `material` reply.
struct Material {
  std::string resource;
  std::string entry;  // GROUP/NAME
  int64_t id = 0;
  int64_t version = 0;
  std::string fingerprint_sha256;
  std::string not_after;
  std::string cert_pem, chain_pem, fullchain_pem;
  std::string key_pem;  // empty unless asked for with the key; wiped by the destructor
  ~Material();
};

struct PushReport {
  std::string resource;
  int64_t version = 0;
  bool ok = false;
  std::string message;
  std::optional<int> exit_status;
  std::string output;  // tail of the reload command's output
};

class Plugin {
 public:
  // Called once per event, in seq order, with the whole event object (seq, type, time, fields).
  // The event is acknowledged when the handler returns (also when it throws: the exception's
  // message is logged to stderr and reported with plugin.report, and the plugin moves on),
  // unless the plugin is stopping by then (SIGTERM/SIGINT, or the handler called Stop()): then it
  // is not acknowledged and comes again after the restart. A handler that cannot finish because
  // of a stop returns (or calls Stop() and returns) instead of waiting.
  using Handler = std::function<void(const nlohmann::json& event)>;

  explicit Plugin(PluginEnv env);
  ~Plugin();

  // Runs until SIGTERM/SIGINT, until the supervisor (CERTINBOX_SUPERVISOR_PID) is gone, or Stop():
  // plugin.hello, subscribe to env.events, replay from the cursor, then live events (gaps are
  // replayed from the outbox), acking each handled event. Returns the process exit code: 0 after
  // a stop, 1 when the identity is refused (wrong token, unknown plugin) or the environment is bad.
  // A daemon that is unreachable is waited for (retried every second), not an exit.
  int Run(Handler handler);

  // Called from Run's thread about every `every` while it runs (retries, reconciliation): between
  // events, and only while the daemon answers (not while Run waits for it). An exception is
  // logged and reported like a handler's.
  void OnTick(std::chrono::milliseconds every, std::function<void()> tick);
  void Stop();  // async-signal-safe
  bool stopping() const;

  // Requests of docs/plugins.md "Control requests of plugins" (call them from the handler or a
  // tick, i.e. Run's thread; they carry plugin and token).
  base::Result<nlohmann::json> Request(const std::string& op,
                                       nlohmann::json args = nlohmann::json::object());
  base::Result<std::vector<BoundResource>> Bindings();
  base::Result<Material> FetchMaterial(const std::string& resource, bool with_key);
  base::Result<int64_t> ReportPush(const PushReport& report);                // the event's seq
  void ReportProblem(const std::string& level, const std::string& message);  // best effort

  const PluginEnv& env() const { return env_; }
  const nlohmann::json& options() const { return env_.options; }
  ControlClient& control();

 private:
  struct State;
  PluginEnv env_;
  std::unique_ptr<State> state_;
};

// main() of a plugin: FromEnvironment, then Plugin(env).Run(make(plugin)); prints the
// environment error and returns 1 when the variables are wrong.
int RunPlugin(const std::function<Plugin::Handler(Plugin&)>& make);

// A plugin's command line: plugins take their settings from the environment, so the only
// argument is --help (-h). Returns the exit code when main() should stop here: 0 after printing
// `usage` for --help, 2 (with a line on stderr) for any other argument; nullopt without arguments.
std::optional<int> HandleArguments(int argc, char** argv, std::string_view program,
                                   std::string_view usage);

}  // namespace certinbox::sdk
