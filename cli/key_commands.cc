// csr create, csr show and export (cli/key_commands.h).
#include "cli/key_commands.h"

#include <openssl/evp.h>
#include <sys/stat.h>

#include <fstream>
#include <iostream>

#include "base/error.h"
#include "base/error_codes.h"
#include "base/file.h"
#include "base/wire.h"
#include "cli/exit_codes.h"

namespace certinbox::cli {

namespace {

namespace fs = std::filesystem;

constexpr const char* kExitLine =
    "Global options (--control, --config, --timeout) go before or after the command.\n"
    "Exit codes: 0 ok, 1 the daemon answered with an error (or a file could not be written),\n"
    "2 usage error, 3 unreachable.";

// Key generation takes seconds for RSA-4096 on a busy host: wait at least this long.
constexpr std::chrono::milliseconds kCsrTimeout(120'000);

std::string Text(const Json& reply, const char* key) {
  const Json& value = FieldOf(reply, key);
  return value.is_string() ? value.get<std::string>() : std::string();
}

// The first line of `file`, without its line end; a sentence when it is unreadable or empty.
base::Result<std::string> FirstLine(const std::string& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) return base::Fail(base::code::kUnreadable, "cannot read the password file " + file);
  std::string line;
  std::getline(in, line);
  if (!line.empty() && line.back() == '\r') line.pop_back();
  if (line.empty()) {
    return base::Fail(base::code::kEmptyFile, "the password file " + file +
                                                  " is empty: put the password on its first line");
  }
  return line;
}

// A file the CLI could not write, as it tells the user.
std::string FileError(const base::Error& error) {
  if (error.code == base::code::kFileExists) return error.message + ": use --force to replace it";
  return error.message;
}

std::string DecodeBase64(const std::string& text, bool& ok) {
  std::string out(text.size() / 4 * 3 + 3, '\0');
  int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(text.data()),
                          static_cast<int>(text.size()));
  ok = n >= 0 && text.size() % 4 == 0;
  if (!ok) return "";
  size_t len = static_cast<size_t>(n);
  // EVP_DecodeBlock counts the padding as zero bytes.
  if (text.size() >= 1 && text[text.size() - 1] == '=') --len;
  if (text.size() >= 2 && text[text.size() - 2] == '=') --len;
  out.resize(len);
  return out;
}

int RunCsrCreate(const GlobalOptions& global, const CsrCreateOptions& o) {
  Json args = {{"name", o.name}, {"cn", o.cn}, {"key", o.key}, {"cn_san", !o.no_cn_san}};
  if (!o.sans.empty()) args["sans"] = o.sans;
  if (!o.labels.empty()) args["labels"] = o.labels;
  for (auto [key, value] : {std::pair{"organization", &o.organization},
                            {"organizational_unit", &o.organizational_unit},
                            {"locality", &o.locality},
                            {"state", &o.state},
                            {"country", &o.country},
                            {"email", &o.email},
                            {"group", &o.group},
                            {"description", &o.description}}) {
    if (!value->empty()) args[key] = *value;
  }
  auto session = Session::Open(global);
  if (!session) return session.error();
  auto timeout = std::max((*session)->timeout(), kCsrTimeout);
  auto reply = (*session)->Request("csr.create", std::move(args), timeout);
  if (!reply) return (*session)->Fail(reply.error());
  const std::string pem = Text(*reply, "csr_pem");
  if (pem.empty()) {
    PrintError("the daemon's reply holds no csr_pem");
    return kExitDaemonError;
  }
  if (!o.out.empty()) {
    auto written = base::WriteFileAtomically(o.out, pem, {.mode = 0644, .replace = o.force});
    if (!written) {
      PrintError(FileError(written.error()) + " (the CSR is stored: `certinbox csr show " + o.name +
                 "` prints it)");
      return kExitDaemonError;
    }
  }
  if (o.json) {
    std::cout << DumpJson(*reply, 2) << "\n";
  } else if (o.out.empty()) {
    std::cout << pem;
  } else {
    std::cerr << "certinbox: CSR for " << o.name << " written to " << o.out << "\n";
  }
  return kExitOk;
}

int RunCsrShow(const GlobalOptions& global, const CsrShowOptions& o) {
  auto session = Session::Open(global);
  if (!session) return session.error();
  auto reply = (*session)->Request("csr.show", {{"entry", o.entry}});
  if (!reply) return (*session)->Fail(reply.error());
  if (o.json) {
    std::cout << DumpJson(*reply, 2) << "\n";
    return kExitOk;
  }
  const std::string pem = Text(*reply, "csr_pem");
  if (pem.empty()) {
    PrintError("the daemon's reply holds no csr_pem");
    return kExitDaemonError;
  }
  std::cout << pem;
  return kExitOk;
}

}  // namespace

CLI::App* AddCsr(CLI::App& app, CsrCommand& command) {
  CLI::App* csr = app.add_subcommand(
      "csr", "Make a certificate signing request (the daemon keeps its key) or print one");
  csr->require_subcommand(1);
  CsrCreateOptions& o = command.create_options;
  CLI::App* create = csr->add_subcommand(
      "create", "Generate a private key and a CSR in the daemon; print the CSR (PEM) for your CA");
  create->add_option("name", o.name, "The new entry's name (unique in its group)")
      ->required()
      ->type_name("NAME");
  create->add_option("--cn", o.cn, "The subject's common name, e.g. www.example.com")
      ->required()
      ->type_name("CN");
  create
      ->add_option("--san", o.sans,
                   "A subject alternative name: DNS:NAME, IP:ADDRESS, URI:URI, email:ADDRESS, or "
                   "a bare name (DNS). Repeat for more")
      ->type_name("SAN");
  create->add_option("--key", o.key, "The key type")
      ->check(CLI::IsMember({"rsa-2048", "rsa-3072", "rsa-4096", "ec-p256", "ec-p384"}))
      ->type_name("TYPE")
      ->capture_default_str();
  create->add_option("--org", o.organization, "Subject O (organisation)")->type_name("O");
  create->add_option("--org-unit", o.organizational_unit, "Subject OU")->type_name("OU");
  create->add_option("--locality", o.locality, "Subject L (city)")->type_name("L");
  create->add_option("--state", o.state, "Subject ST (state or province)")->type_name("ST");
  create->add_option("--country", o.country, "Subject C (two letters, e.g. DE)")->type_name("C");
  create->add_option("--email", o.email, "Subject emailAddress")->type_name("E");
  create->add_flag("--no-cn-san", o.no_cn_san,
                   "Do not add the CN as a DNS SAN (by default it is added when it is a host "
                   "name: browsers read only the SANs)");
  create->add_option("--group", o.group, "The entry's group (default: default)")->type_name("G");
  create->add_option("--label", o.labels, "A label for the entry; repeat for more")->type_name("L");
  create->add_option("--description", o.description, "A description for the entry")
      ->type_name("TEXT");
  create->add_option("--out", o.out, "Write the CSR to this file instead of stdout")
      ->type_name("FILE");
  create->add_flag("--force", o.force, "Replace --out's file when it exists");
  create->add_flag("--json", o.json,
                   "Print the daemon's reply: {entry, csr_pem, key_type, created_at, ...}");
  create->footer(
      "The key never leaves the daemon: it is stored encrypted. The new entry's status is\n"
      "pre_activation until the signed certificate is dropped into any inbox (days later is\n"
      "fine): it is matched by its public key, becomes the entry's version 1, and\n"
      "cert.activated is published, even when its CN and SANs equal another entry's (the key\n"
      "decides: that entry is not renewed). The entry can be bound while it waits; rm deletes\n"
      "it with its key. Signed with SHA-256; RSA-4096 keys take a few seconds.\n\n"
      "Examples:\n"
      "  certinbox csr create web --cn www.example.com --san example.com > web.csr\n"
      "  certinbox csr create api --cn api.example.com --san IP:192.0.2.10 --key ec-p256 \\\n"
      "      --org 'Example Ltd' --country GB --group prod --out api.csr\n\n" +
      std::string(kExitLine));
  command.create = create;

  CsrShowOptions& s = command.show_options;
  CLI::App* show = csr->add_subcommand("show", "Print the CSR of an entry made by csr create");
  show->add_option("entry", s.entry, "The entry's name, group/name or id")
      ->required()
      ->type_name("NAME|ID");
  show->add_flag("--json", s.json,
                 "Print {entry, csr_pem, key_type, created_at, activated_at} as JSON");
  show->footer(
      "Examples:\n  certinbox csr show web > web.csr\n  certinbox csr show prod/api --json\n\n" +
      std::string(kExitLine));
  command.show = show;
  return csr;
}

CLI::App* AddExport(CLI::App& app, ExportOptions& o) {
  CLI::App* exp = app.add_subcommand(
      "export", "Write an entry's certificate, chain and full chain (and key) to a folder");
  exp->add_option("entry", o.entry, "The entry's name, group/name or id")
      ->required()
      ->type_name("NAME|ID");
  exp->add_option("--out", o.out, "The folder to write to (created 0700 when missing)")
      ->required()
      ->type_name("DIR");
  exp->add_flag("--chain", o.chain,
                "Require a chain: fail when no intermediate certificate is stored for it");
  exp->add_flag("--key", o.key, "Also write the private key, privkey.pem (mode 0600)");
  auto* pfx =
      exp->add_flag("--pfx", o.pfx, "Also write NAME.p12 (mode 0600): certificate, chain and key");
  auto* password = exp->add_option("--password-file", o.password_file,
                                   "The PKCS#12 password: the first line of this file")
                       ->check(CLI::ExistingFile)
                       ->type_name("FILE");
  pfx->needs(password);
  password->needs(pfx);
  exp->add_flag("--force", o.force, "Replace files that exist");
  exp->footer(
      "Files: cert.pem (the current certificate), chain.pem (its intermediates, issuer\n"
      "first; empty when none is stored), fullchain.pem (cert.pem then chain.pem), and only\n"
      "when asked privkey.pem (--key) and NAME.p12 (--pfx). Key files are created with mode\n"
      "0600 from the start; no file is replaced without --force. Roots are left out.\n"
      "Private keys are handed out only over an ipc:// control socket and only while the\n"
      "daemon's [bus] allow_key_export is true; every key export, allowed or refused, is\n"
      "recorded (certinbox show NAME --json, \"key_exports\").\n\n"
      "Examples:\n"
      "  certinbox export web --out /etc/nginx/tls/web\n"
      "  certinbox export web --out ./web --key\n"
      "  certinbox export web --out ./web --pfx --password-file ./p12.pass\n\n" +
      std::string(kExitLine));
  return exp;
}

int RunCsr(const GlobalOptions& global, const CsrCommand& command) {
  if (command.create != nullptr && command.create->parsed()) {
    return RunCsrCreate(global, command.create_options);
  }
  return RunCsrShow(global, command.show_options);
}

// NAME.p12 for the entry as the user named it: the part after the last '/' of group/name.
static std::string Pkcs12FileName(const std::string& entry) {
  std::string base = entry.substr(entry.rfind('/') + 1);
  if (base.empty() || base == "." || base == "..") base = "export";
  return base + ".p12";
}

// One file `export` writes.
struct ExportFile {
  std::string name;
  std::string bytes;
  unsigned mode;
};

// `dir` is a folder, or is not there yet, and (without --force) none of `files` is in it:
// kExitOk, or kExitUsage once the reason is printed.
static int CheckExportFolder(const fs::path& dir, const std::vector<ExportFile>& files,
                             bool force) {
  std::error_code ec;
  if (fs::exists(dir, ec) && !fs::is_directory(dir, ec)) {
    PrintError(dir.string() + " is not a folder");
    return kExitUsage;
  }
  if (force) return kExitOk;
  std::string existing;
  for (const ExportFile& f : files) {
    if (fs::exists(fs::symlink_status(dir / f.name, ec))) {
      existing += (existing.empty() ? "" : ", ") + (dir / f.name).string();
    }
  }
  if (!existing.empty()) {
    PrintError(existing + " already exist(s): use --force to replace");
    return kExitUsage;
  }
  return kExitOk;
}

int RunExport(const GlobalOptions& global, const ExportOptions& o) {
  std::string password;
  if (o.pfx) {
    auto line = FirstLine(o.password_file);
    if (!line) {
      PrintError(line.error().message);
      return kExitUsage;
    }
    password = std::move(*line);
  }
  std::vector<ExportFile> files = {
      {"cert.pem", "", 0644}, {"chain.pem", "", 0644}, {"fullchain.pem", "", 0644}};
  if (o.key) files.push_back({"privkey.pem", "", 0600});
  if (o.pfx) files.push_back({Pkcs12FileName(o.entry), "", 0600});

  // Checked before asking the daemon, so that a refused overwrite hands out no key (and
  // records no export).
  const fs::path dir = o.out;
  std::error_code ec;
  if (int refused = CheckExportFolder(dir, files, o.force); refused != kExitOk) return refused;

  auto session = Session::Open(global);
  if (!session) return session.error();
  Json args = {{"entry", o.entry}, {"key", o.key}, {"pfx", o.pfx}};
  if (o.pfx) args["password"] = password;
  auto reply = (*session)->Request("export", std::move(args));
  if (!reply) return (*session)->Fail(reply.error());

  files[0].bytes = Text(*reply, base::reply::kCertPem);
  files[1].bytes = Text(*reply, base::reply::kChainPem);
  files[2].bytes = Text(*reply, base::reply::kFullchainPem);
  if (files[0].bytes.empty()) {
    PrintError("the daemon's reply holds no certificate");
    return kExitDaemonError;
  }
  if (o.chain && files[1].bytes.empty()) {
    PrintError("no intermediate certificate is stored for " + o.entry +
               ": drop the chain into an inbox, or export without --chain");
    return kExitDaemonError;
  }
  size_t next = 3;
  if (o.key) {
    files[next].bytes = Text(*reply, base::reply::kKeyPem);
    if (files[next++].bytes.empty()) {
      PrintError("the daemon's reply holds no private key");
      return kExitDaemonError;
    }
  }
  if (o.pfx) {
    bool ok = false;
    files[next].bytes = DecodeBase64(Text(*reply, base::reply::kPkcs12Base64), ok);
    if (!ok || files[next].bytes.empty()) {
      PrintError("the daemon's reply holds no PKCS#12");
      return kExitDaemonError;
    }
  }

  if (!fs::exists(dir, ec) && ::mkdir(dir.c_str(), 0700) != 0) {
    PrintError("cannot create " + dir.string() + ": " + std::strerror(errno));
    return kExitDaemonError;
  }
  for (const ExportFile& f : files) {
    auto written =
        base::WriteFileAtomically(dir / f.name, f.bytes, {.mode = f.mode, .replace = o.force});
    if (!written) {
      PrintError(FileError(written.error()));
      return kExitDaemonError;
    }
    std::cout << (dir / f.name).string() << "\n";
  }
  return kExitOk;
}

}  // namespace certinbox::cli
