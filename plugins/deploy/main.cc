// certinbox-deploy: writes the certificates of the resources bound to it into folders and runs
// their reload commands (docs/plugins.md, "certinbox-deploy"). Started by certinboxd as a
// [[plugin]]; by hand: eval "$(certinbox plugin env NAME)"; certinbox-deploy
#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <iostream>

#include "plugins/deploy/deployer.h"
#include "plugins/deploy/options.h"
#include "plugins/sdk/plugin.h"

namespace {

constexpr const char* kUsage =
    R"USAGE(certinbox-deploy: keeps a folder per resource bound to it holding cert.pem, chain.pem,
fullchain.pem and privkey.pem (0600), each replaced atomically, then runs the resource's reload
command and reports the push (push.succeeded / push.failed) to certinboxd.

It is a certinboxd plugin: the daemon starts it for a [[plugin]] table and gives it its identity
and options in the environment (CERTINBOX_PLUGIN, CERTINBOX_PLUGIN_TOKEN, CERTINBOX_CONTROL,
CERTINBOX_PUBLISH, CERTINBOX_PLUGIN_OPTIONS, ...). To run it by hand for debugging:

  eval "$(certinbox plugin env deploy)"; certinbox-deploy

Example config:

  [[plugin]]
  name = "deploy"
  command = "certinbox-deploy"
  events = ["cert."]
  [plugin.options]
  dir = "/etc/certinbox/live"          # a resource's folder is dir/RESOURCE
  reload = "systemctl reload nginx"    # run with /bin/sh -c after the files are written
  timeout = "60s"                      # for the reload command
  remove_on_unbind = false             # true: cert.unbound removes the four files
  [plugin.options.resources."web-nginx"]
  dir = "/etc/nginx/certs/web"
  reload = "nginx -s reload"

Then: certinbox bind ENTRY web-nginx --plugin deploy

Exit status: 0 after SIGTERM/SIGINT or when the daemon is gone; 1 when the environment or the
options are wrong, or the daemon refuses its identity. Details: docs/plugins.md.
)USAGE";

}  // namespace

int main(int argc, char** argv) {
  using namespace certinbox;
  if (auto code = sdk::HandleArguments(argc, argv, "certinbox-deploy", kUsage)) return *code;
  auto env = sdk::PluginEnv::FromEnvironment();
  if (!env) {
    std::cerr << "certinbox-deploy: " << env.error().message << " (see --help)\n";
    return 1;
  }
  // The reload command is the operator's, not the plugin: it does not get the plugin's token
  // (which fetches the private keys of every resource bound to this plugin).
  ::unsetenv("CERTINBOX_PLUGIN_TOKEN");
  sdk::Plugin plugin(*env);
  auto options = deploy::ParseOptions(env->options, env->dir);
  if (!options) {
    std::cerr << "certinbox-deploy: " << options.error().message << std::endl;
    plugin.ReportProblem("error", "bad [plugin.options]: " + options.error().message);
    return 1;
  }
  std::cerr << "certinbox-deploy: folders under " << options->dir << ", "
            << options->resources.size() << " resource override(s)" << std::endl;
  deploy::Deployer deployer(plugin, *options);
  plugin.OnTick(std::min(options->retry, std::chrono::milliseconds(1000)),
                [&deployer] { deployer.Tick(); });
  return plugin.Run([&deployer](const nlohmann::json& event) { deployer.HandleEvent(event); });
}
