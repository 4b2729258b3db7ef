// What `rm`, `show` (bindings) and `status` (declarations not applied) print.
#include <gtest/gtest.h>

#include "cli/render.h"

namespace certinbox::cli {
namespace {

TEST(RenderBindingsTest, DeleteResultsOneRowPerEntry) {
  Json reply = Json::parse(R"({
    "results": [
      {"entry": "web", "outcome": "refused", "id": 1, "group": "default", "name": "web",
       "error": {"code": "bound", "message": "default/web is bound to lb:443, lb:8443: unbind it first"},
       "resources": ["lb:443", "lb:8443"]},
      {"entry": "old", "outcome": "deleted", "id": 2, "group": "prod", "name": "old"},
      {"entry": "nope", "outcome": "failed", "error": {"code": "not_found", "message": "no such\nentry"}}
    ], "deleted": 1, "not_deleted": 2})");
  EXPECT_EQ(RenderDeleteResults(reply),
            "ENTRY  OUTCOME  DETAIL\n"
            "web    refused  bound: default/web is bound to lb:443, lb:8443: unbind it first\n"
            "old    deleted  prod/old (id 2)\n"
            "nope   failed   not_found: no such; entry\n");
  EXPECT_EQ(RenderDeleteResults(Json::object()), "nothing to delete\n");
}

TEST(RenderBindingsTest, EntryBindingsTable) {
  Json entry = Json::parse(R"({"name": "web", "bindings": [
    {"resource": "lb:443", "plugin": "deploy", "source": "config", "pushed_version": 3,
     "pushed_at": "2026-11-20T10:00:00Z", "last_push_result": "failed",
     "last_push_message": "connection refused"},
    {"resource": "lb:8443", "plugin": null, "source": "cli", "pushed_version": null,
     "last_push_result": null}]})");
  EXPECT_EQ(RenderBindings(entry),
            "RESOURCE  PLUGIN  SOURCE  PUSHED         LAST PUSH\n"
            "lb:443    deploy  config  v3 2026-11-20  failed: connection refused\n"
            "lb:8443   -       cli     -              -\n");
  EXPECT_EQ(RenderBindings(Json::parse(R"({"bindings": []})")), "");
  // The entry view carries it after its lines.
  EXPECT_NE(RenderEntry(entry, false).find("\nRESOURCE  PLUGIN"), std::string::npos);
}

TEST(RenderBindingsTest, StatusListsDeclarationsNotApplied) {
  Json status = Json::parse(R"({"pid": 1, "binding_problems": [
    {"entry": "api", "resource": "lb:8443", "state": "pending",
     "message": "no entry is named api yet"}]})");
  std::string text = RenderStatus(status);
  EXPECT_NE(text.find("[[binding]] declarations not applied:\n"
                      "DECLARED BINDING  ENTRY  STATE    WHY\n"
                      "lb:8443           api    pending  no entry is named api yet\n"),
            std::string::npos)
      << text;
  EXPECT_EQ(RenderStatus(Json{{"pid", 1}}).find("[[binding]]"), std::string::npos);
}

}  // namespace
}  // namespace certinbox::cli
