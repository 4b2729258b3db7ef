// What each [[bus.client]] role may ask (daemon/roles.h): a table of request -> allowed.
#include "daemon/roles.h"

#include <gtest/gtest.h>

namespace certinbox::daemon {
namespace {

using nlohmann::json;

struct RoleCase {
  std::string role;
  json request;
  bool allowed;
};
void PrintTo(const RoleCase& c, std::ostream* out) { *out << c.role << " " << c.request.dump(); }

class RolesTest : public ::testing::TestWithParam<RoleCase> {};

TEST_P(RolesTest, AllowsOnlyItsOps) {
  EXPECT_EQ(RoleAllows(GetParam().role, GetParam().request), GetParam().allowed);
}

INSTANTIATE_TEST_SUITE_P(
    Table, RolesTest,
    ::testing::Values(
        RoleCase{"read", {{"op", "ls"}}, true}, RoleCase{"read", {{"op", "status"}}, true},
        RoleCase{"read", {{"op", "events"}}, true},
        RoleCase{"read", {{"op", "ack"}, {"cursor", "report"}}, true},
        RoleCase{"read", {{"op", "ack"}, {"cursor", "plugin:deploy"}}, false},
        RoleCase{"read", {{"op", "export"}, {"entry", "w"}}, true},
        RoleCase{"read", {{"op", "export"}, {"entry", "w"}, {"key", true}}, false},
        RoleCase{"read", {{"op", "rm"}, {"entries", {"w"}}}, false},
        RoleCase{"read", {{"op", "csr.create"}}, false}, RoleCase{"admin", {{"op", "rm"}}, true},
        RoleCase{"admin", {{"op", "bind"}}, true},
        RoleCase{"admin", {{"op", "export"}, {"key", true}}, false},
        RoleCase{"admin", {{"op", "export"}, {"pfx", true}}, false},
        RoleCase{"admin", {{"op", "export"}, {"key", "yes"}}, false},  // malformed still asks
        RoleCase{"admin", {{"op", "export"}, {"key", false}}, true},
        RoleCase{"admin", {{"op", "plugin.env"}, {"plugin", "deploy"}}, false},
        RoleCase{"admin", {{"op", "material"}, {"plugin", "deploy"}, {"key", true}}, false},
        RoleCase{"keys", {{"op", "export"}, {"key", true}}, true},
        RoleCase{"keys", {{"op", "plugin.env"}}, true}, RoleCase{"keys", {{"op", "ls"}}, true},
        RoleCase{"keys", {{"op", "meta"}}, false}, RoleCase{"keys", {{"op", "rm"}}, false},
        RoleCase{"plugin:deploy", {{"op", "plugin.hello"}, {"plugin", "deploy"}}, true},
        RoleCase{"plugin:deploy", {{"op", "plugin.hello"}, {"plugin", "webhook"}}, false},
        RoleCase{"plugin:deploy", {{"op", "material"}, {"plugin", "deploy"}, {"key", true}}, true},
        RoleCase{"plugin:deploy", {{"op", "material"}, {"plugin", "other"}, {"key", true}}, false},
        RoleCase{"plugin:deploy", {{"op", "events"}}, true},
        RoleCase{"plugin:deploy", {{"op", "ack"}, {"cursor", "plugin:deploy"}}, true},
        RoleCase{"plugin:deploy", {{"op", "ack"}, {"cursor", "plugin:other"}}, false},
        RoleCase{"plugin:deploy", {{"op", "ls"}}, false},
        RoleCase{"plugin:deploy", {{"op", "export"}}, false},
        RoleCase{"", {{"op", "status"}}, false},  // a client a reload removed
        RoleCase{"root", {{"op", "status"}}, false}, RoleCase{"read", {{"op", 5}}, true}));

}  // namespace
}  // namespace certinbox::daemon
