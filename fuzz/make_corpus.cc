// The seed corpus of every fuzz target, made at build or test time (no keys are committed):
//   fuzz_make_corpus OUT_DIR SOURCE_DIR
// writes OUT_DIR/<target>/<seed> for parse, sidecar, config, control and events: certificates,
// keys, CSRs, PKCS#7 and PKCS#12 files from the test CA (tests/testing/test_ca.h), sidecars,
// the configs of etc/, control requests for every op, and published events. Existing files are
// replaced; a few milliseconds of key generation in all.
#include <cstdio>
#include <exception>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "fuzz/fuzz_passwords.h"
#include "tests/testing/test_ca.h"

namespace {

namespace fs = std::filesystem;
using namespace certinbox;
using namespace certinbox::testing;
using nlohmann::json;

class Corpus {
 public:
  explicit Corpus(fs::path root) : root_(std::move(root)) {}

  void Add(const std::string& target, const std::string& name, std::string_view bytes) {
    fs::create_directories(root_ / target);
    std::ofstream out(root_ / target / name, std::ios::binary | std::ios::trunc);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    if (!out) throw std::runtime_error("cannot write " + (root_ / target / name).string());
    ++count_;
  }
  size_t count() const { return count_; }

 private:
  fs::path root_;
  size_t count_ = 0;
};

std::string ReadFile(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

void DropFiles(Corpus& corpus) {
  const std::string_view password = fuzz::kPasswords[0];
  TestPki pki = TestPki::Make();
  const CertList chain = {&pki.intermediate, &pki.root};
  Issued rsa = Issue(LeafSpec("rsa.test"), &pki.intermediate, MakeKey(KeyType::kRsa1024).get());
  Issued ed = Issue(LeafSpec("ed.test"), &pki.intermediate, MakeKey(KeyType::kEd25519).get());
  Issued other = Issue(LeafSpec("other.test"), &pki.root);
  CsrSpec csr_spec;
  csr_spec.sans = {"DNS:csr.test", "IP:192.0.2.1", "URI:https://csr.test/", "email:ops@csr.test"};
  IssuedCsr csr = MakeCsr(csr_spec);
  EVP_PKEY* key = pki.leaf.key.get();

  corpus.Add("parse", "chain-and-key.pem", pki.ChainPem() + pki.leaf.KeyPem());
  corpus.Add("parse", "leaf.pem", pki.leaf.CertPem());
  corpus.Add("parse", "leaf.der", pki.leaf.CertDer());
  corpus.Add("parse", "root.der", pki.root.CertDer());
  corpus.Add("parse", "trusted.pem", TrustedCertPem(pki.root.cert.get()));
  corpus.Add("parse", "wrong-key.pem", pki.leaf.CertPem() + other.KeyPem());
  corpus.Add("parse", "key-pkcs8.pem", KeyPkcs8Pem(key));
  corpus.Add("parse", "key-pkcs8.der", KeyPkcs8Der(key));
  corpus.Add("parse", "key-sec1.pem", KeySec1Pem(key));
  corpus.Add("parse", "key-sec1.der", KeySec1Der(key));
  corpus.Add("parse", "rsa-cert-and-key-pkcs1.pem", rsa.CertPem() + KeyPkcs1Pem(rsa.key.get()));
  corpus.Add("parse", "key-pkcs1.der", KeyPkcs1Der(rsa.key.get()));
  corpus.Add("parse", "ed25519.pem", ed.CertPem() + ed.KeyPem());
  corpus.Add("parse", "key-encrypted.pem",
             pki.leaf.CertPem() + KeyEncryptedPkcs8Pem(key, password));
  corpus.Add("parse", "key-encrypted.der", KeyEncryptedPkcs8Der(key, password));
  corpus.Add("parse", "key-encrypted-unknown-password.pem",
             KeyEncryptedPkcs8Pem(key, "not-offered"));
  corpus.Add("parse", "key-legacy-encrypted.pem", KeyLegacyEncryptedPem(key, password));
  corpus.Add("parse", "csr.pem", csr.Pem());
  corpus.Add("parse", "csr.der", csr.Der());
  corpus.Add("parse", "bundle.p7b", Pkcs7Der(chain));
  corpus.Add("parse", "bundle.p7b.pem", Pkcs7Pem({&pki.leaf, &pki.intermediate}));
  corpus.Add("parse", "no-password.p12", MakePkcs12(pki.leaf, chain, std::nullopt));
  corpus.Add("parse", "password.p12", MakePkcs12(pki.leaf, chain, password));
  corpus.Add("parse", "empty-password.p12", MakePkcs12(pki.leaf, {}, ""));
  corpus.Add("parse", "legacy.p12",
             MakePkcs12(pki.leaf, chain, fuzz::kPasswords[1], Pkcs12Cipher::kLegacy));
  corpus.Add("parse", "unknown-password.p12", MakePkcs12(pki.leaf, {}, "not-offered"));
  corpus.Add("parse", "noise.pem", "text before\n" + pki.leaf.CertPem() + "text after\n");
}

void Sidecars(Corpus& corpus) {
  corpus.Add("sidecar", "full.toml",
             "name = \"web\"\ndescription = \"the web server\"\ngroup = \"prod\"\n"
             "labels = [\"a\", \"b\"]\npassword = \"secret\"\npassword_file = \"passwords\"\n"
             "bind = [\"web/nginx\"]\n\n[metadata]\nowner = \"ops\"\nticket = 42\n"
             "ratio = 0.5\nwhen = 2026-01-01T00:00:00Z\nlist = [1, \"two\", { three = 3 }]\n"
             "[metadata.nested]\ndeeper = { yes = true }\n");
  corpus.Add("sidecar", "name.toml", "name = \"web\"\n");
  corpus.Add("sidecar", "hidden-password-file.toml", "password_file = \".passwords\"\n");
  corpus.Add("sidecar", "unknown-key.toml", "nmae = \"web\"\n");
  corpus.Add("sidecar", "wrong-type.toml", "labels = \"a\"\n");
  corpus.Add("sidecar", "absolute-password-file.toml",
             "password_file = \"/nonexistent/passwords\"\n");
  corpus.Add("sidecar", "bad-bind.toml", "bind = [\"\"]\n");
  corpus.Add("sidecar", "syntax.toml", "name = \"unterminated\n");
  corpus.Add("sidecar", "inline.toml", "metadata = { a = [[1, 2], [3]], b = 1979-05-27 }\n");
}

void Configs(Corpus& corpus, const fs::path& source) {
  corpus.Add("config", "etc-certinbox.toml", ReadFile(source / "etc" / "certinbox.toml"));
  corpus.Add("config", "minimal.toml", "[daemon]\nstate_dir = \"state\"\n");
  corpus.Add(
      "config", "full.toml",
      "[daemon]\nstate_dir = \"state\"\nlog_level = \"debug\"\nsystem_trust = false\n"
      "max_versions = 3\ndatabase = \"db/certinbox.db\"\nmaster_key_file = \"master.key\"\n"
      "[bus]\npublish = \"ipc://state/events.sock\"\ncontrol = \"ipc://state/control.sock\"\n"
      "publish_hwm = 10\nevent_retention = \"0\"\nallow_key_export = false\n"
      "[expiry]\nexpiring_soon_days = 30\nnotify_days = [30, 7]\nscan_interval = \"10m\"\n"
      "[[inbox]]\nname = \"a\"\npath = \"inbox-a\"\ngroup = \"g\"\nlabels = [\"x\"]\n"
      "settle_ms = 10\nrescan_interval = \"2s\"\nmax_file_bytes = 4096\narchive = true\n"
      "accept_expired = true\npassword_file = \"passwords\"\n"
      "[[inbox]]\npath = \"inbox-b\"\n"
      "[[plugin]]\nname = \"deploy\"\ncommand = \"certinbox-deploy\"\nargs = [\"-v\"]\n"
      "events = [\"cert.\"]\nenabled = true\nack_timeout = \"5m\"\n"
      "env = { A = \"1\" }\n[plugin.options]\nroot = \"/srv/certs\"\n"
      "[[binding]]\nentry = \"g/web\"\nresource = \"web/nginx\"\nplugin = \"deploy\"\n");
  corpus.Add("config", "problems.toml",
             "[daemon]\nstate_dir = 5\nunknown = true\n[[inbox]]\npath = \"\"\nsettle_ms = -1\n"
             "[[binding]]\nentry = \"\"\n");
}

void ControlRequests(Corpus& corpus) {
  const std::vector<std::pair<std::string, json>> requests = {
      {"ls", {{"op", "ls"}}},
      {"ls-filtered",
       {{"op", "ls"},
        {"status", "valid"},
        {"group", "default"},
        {"label", "x"},
        {"expiring_within", 86400},
        {"sort", "expiry"}}},
      // A page after ["name", "leaf.test", "default", 1] (a cursor is hex of its JSON).
      {"ls-page",
       {{"op", "ls"},
        {"limit", 1},
        {"after", "5b226e616d65222c226c6561662e74657374222c2264656661756c74222c315d"}}},
      {"show", {{"op", "show"}, {"entry", "leaf.test"}}},
      {"show-id", {{"op", "show"}, {"entry", 1}}},
      {"rollback", {{"op", "rollback"}, {"entry", "default/leaf.test"}, {"to", 1}}},
      {"meta",
       {{"op", "meta"},
        {"entry", "leaf.test"},
        {"description", "d"},
        {"add_labels", {"a", "b"}},
        {"remove_labels", {"b"}},
        {"unset", {"k"}},
        {"set", {{"k", {{"nested", {1, 2, 3}}}}}},
        {"version", 1}}},
      {"bind",
       {{"op", "bind"}, {"entry", "leaf.test"}, {"resource", "web/nginx"}, {"plugin", "fuzz"}}},
      {"unbind", {{"op", "unbind"}, {"entry", "leaf.test"}, {"resource", "web/nginx"}}},
      {"rm", {{"op", "rm"}, {"entries", {"nothing", "default/nothing", 99}}}},
      {"events", {{"op", "events"}, {"since", 0}, {"limit", 10}, {"type", "cert."}}},
      {"events-cursor", {{"op", "events"}, {"cursor", "c"}, {"limit", 1}}},
      {"ack", {{"op", "ack"}, {"cursor", "c"}, {"seq", 1}}},
      {"cursors", {{"op", "cursors"}}},
      {"cursor-delete", {{"op", "cursor.delete"}, {"cursor", "c"}}},
      {"status", {{"op", "status"}}},
      {"plugin-env", {{"op", "plugin.env"}, {"plugin", "fuzz"}}},
      {"csr-create",
       {{"op", "csr.create"},
        {"name", "made"},
        {"cn", "made.test"},
        {"sans", {"DNS:a.test", "IP:192.0.2.1", "b.test"}},
        {"key", "ec-p256"},
        {"cn_san", true},
        {"organization", "O"},
        {"organizational_unit", "OU"},
        {"locality", "L"},
        {"state", "S"},
        {"country", "DE"},
        {"email", "a@b.test"},
        {"group", "g"},
        {"labels", {"l"}},
        {"description", "d"}}},
      {"csr-show", {{"op", "csr.show"}, {"entry", "g/made"}}},
      {"export", {{"op", "export"}, {"entry", "leaf.test"}, {"key", true}}},
      {"export-pfx", {{"op", "export"}, {"entry", "leaf.test"}, {"pfx", true}, {"password", "p"}}},
      {"plugin-hello", {{"op", "plugin.hello"}, {"plugin", "fuzz"}, {"token", "t"}}},
      {"plugin-bindings", {{"op", "plugin.bindings"}, {"plugin", "fuzz"}, {"token", "t"}}},
      {"material",
       {{"op", "material"}, {"plugin", "fuzz"}, {"token", "t"}, {"resource", "r"}, {"key", true}}},
      {"push-report",
       {{"op", "push.report"},
        {"plugin", "fuzz"},
        {"token", "t"},
        {"resource", "r"},
        {"version", 1},
        {"ok", false},
        {"message", "m"},
        {"exit_status", 1},
        {"output", "o"}}},
      {"plugin-report",
       {{"op", "plugin.report"},
        {"plugin", "fuzz"},
        {"token", "t"},
        {"level", "error"},
        {"message", "m"}}},
      {"unknown-op", {{"op", "nope"}}},
  };
  for (const auto& [name, request] : requests)
    corpus.Add("control", name + ".json", request.dump());
  corpus.Add("control", "not-json", "{\"op\": ");
  corpus.Add("control", "array.json", "[1, 2]");
}

void Events(Corpus& corpus) {
  const json certificate = {{"id", 1},
                            {"name", "leaf.test"},
                            {"group", "default"},
                            {"kind", "leaf"},
                            {"labels", {"a"}},
                            {"status", "valid"},
                            {"version", 2},
                            {"fingerprint_sha256", std::string(64, 'a')},
                            {"serial", "01"},
                            {"subject", "CN=leaf.test"},
                            {"issuer", "CN=ca"},
                            {"sans", {"DNS:leaf.test"}},
                            {"not_before", "2026-01-01T00:00:00Z"},
                            {"not_after", "2027-01-01T00:00:00Z"},
                            {"days_left", 200},
                            {"key_algorithm", "EC"},
                            {"key_bits", 256},
                            {"signature_algorithm", "ecdsa-with-SHA256"},
                            {"has_private_key", true},
                            {"findings", json::array()},
                            {"chain", json::array()},
                            {"bindings", json::array()}};
  const std::vector<std::pair<std::string, json>> events = {
      {"cert.imported",
       {{"certificate", certificate}, {"source", {{"inbox", "i"}, {"file", "f.pem"}}}}},
      {"cert.renewed", {{"certificate", certificate}, {"previous", {{"version", 1}}}}},
      {"cert.expiring", {{"certificate", certificate}, {"threshold_days", 30}}},
      {"binding.added",
       {{"certificate", certificate}, {"resource", "web/nginx"}, {"plugin", "deploy"}}},
      {"push.failed", {{"resource", "web/nginx"}, {"version", 2}, {"message", "m"}}},
      {"import.rejected", {{"file", "x.pem"}, {"reason", "bad_certificate"}, {"message", "m"}}},
  };
  int64_t seq = 1;
  for (const auto& [type, fields] : events) {
    json event = fields;
    event["seq"] = seq++;
    event["type"] = type;
    event["time"] = "2026-11-23T09:00:00Z";
    corpus.Add("events", type, type + std::string(1, '\0') + event.dump());
  }
  corpus.Add("events", "one-frame", "cert.imported");
  corpus.Add("events", "three-frames", std::string("a\0{}\0extra", 10));
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: %s OUT_DIR SOURCE_DIR\n", argv[0]);
    return 2;
  }
  try {
    Corpus corpus(argv[1]);
    DropFiles(corpus);
    Sidecars(corpus);
    Configs(corpus, argv[2]);
    ControlRequests(corpus);
    Events(corpus);
    std::printf("fuzz corpus: %zu seeds in %s\n", corpus.count(), argv[1]);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "fuzz corpus: %s\n", e.what());
    return 1;
  }
  return 0;
}
