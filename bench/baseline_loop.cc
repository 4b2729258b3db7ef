#include "bench/baseline_loop.h"

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <sqlite3.h>

#include <chrono>
#include <ctime>
#include <memory>
#include <nlohmann/json.hpp>

#include "base/time.h"
#include "base/wire.h"
#include "bench/connect_monitor.h"
#include "pipeline/ossl.h"

namespace certinbox::bench {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using Seconds = std::chrono::duration<double>;

struct SqliteClose {
  void operator()(sqlite3* db) const noexcept { sqlite3_close_v2(db); }
};
struct SqliteFinalize {
  void operator()(sqlite3_stmt* st) const noexcept { sqlite3_finalize(st); }
};
using SqlitePtr = std::unique_ptr<sqlite3, SqliteClose>;
using StatementPtr = std::unique_ptr<sqlite3_stmt, SqliteFinalize>;
struct OpensslFree {
  void operator()(unsigned char* p) const noexcept { OPENSSL_free(p); }
};

std::string SqliteError(sqlite3* db, const std::string& what) {
  return "baseline: " + what + ": " + sqlite3_errmsg(db);
}

std::expected<StatementPtr, std::string> Prepare(sqlite3* db, const char* sql) {
  sqlite3_stmt* st = nullptr;
  if (sqlite3_prepare_v2(db, sql, -1, &st, nullptr) != SQLITE_OK) {
    return std::unexpected(SqliteError(db, sql));
  }
  return StatementPtr(st);
}

bool StepDone(sqlite3_stmt* st) {
  bool ok = sqlite3_step(st) == SQLITE_DONE;
  sqlite3_reset(st);
  return ok;
}

std::expected<SqlitePtr, std::string> OpenDatabase(const fs::path& file) {
  sqlite3* raw = nullptr;
  int rc = sqlite3_open_v2(file.c_str(), &raw, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr);
  SqlitePtr db(raw);
  if (rc != SQLITE_OK) return std::unexpected(SqliteError(db.get(), "open " + file.string()));
  // The same durability settings as the daemon's Configure() in storage/inventory.cc.
  const char* setup =
      "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;"
      "CREATE TABLE certificates (id INTEGER PRIMARY KEY,"
      " fingerprint_sha256 TEXT NOT NULL UNIQUE, der BLOB NOT NULL, key_pem BLOB NOT NULL,"
      " source_file TEXT NOT NULL);";
  if (sqlite3_exec(db.get(), setup, nullptr, nullptr, nullptr) != SQLITE_OK) {
    return std::unexpected(SqliteError(db.get(), "schema"));
  }
  return db;
}

std::string Hex(const unsigned char* bytes, size_t n) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out(2 * n, '\0');
  for (size_t i = 0; i < n; ++i) {
    out[2 * i] = kDigits[bytes[i] >> 4];
    out[2 * i + 1] = kDigits[bytes[i] & 15];
  }
  return out;
}

double ThreadCpuSeconds() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
}

}  // namespace

std::expected<BaselineResult, std::string> RunBaselineLoop(const std::vector<CorpusFile>& files,
                                                           const fs::path& dir,
                                                           zmq::context_t& context) {
  fs::create_directories(dir);
  auto db = OpenDatabase(dir / "baseline.db");
  if (!db) return std::unexpected(db.error());
  auto begin = Prepare(db->get(), "BEGIN");
  auto commit = Prepare(db->get(), "COMMIT");
  auto insert = Prepare(db->get(),
                        "INSERT INTO certificates (fingerprint_sha256, der, key_pem, source_file)"
                        " VALUES (?1, ?2, ?3, ?4)");
  if (!begin) return std::unexpected(begin.error());
  if (!commit) return std::unexpected(commit.error());
  if (!insert) return std::unexpected(insert.error());

  // A real subscriber, so every message really goes through the socket: a PUB socket with no
  // peer drops messages without copying them. High-water marks as the daemon's default
  // (publish_hwm = 100000) so nothing is dropped at these counts.
  std::string endpoint = "ipc://" + (dir / "baseline.sock").string();
  zmq::socket_t pub(context, zmq::socket_type::pub);
  zmq::socket_t sub(context, zmq::socket_type::sub);
  try {
    pub.set(zmq::sockopt::sndhwm, 100000);
    pub.set(zmq::sockopt::linger, 0);
    pub.bind(endpoint);
    sub.set(zmq::sockopt::rcvhwm, 0);
    sub.set(zmq::sockopt::linger, 0);
    sub.set(zmq::sockopt::subscribe, base::topic::kCertImported);
    ConnectMonitor monitor;
    monitor.init(sub, "inproc://baseline-monitor", ZMQ_EVENT_CONNECTED);
    sub.connect(endpoint);
    auto deadline = Clock::now() + std::chrono::seconds(10);
    while (!monitor.connected && Clock::now() < deadline) monitor.check_event(100);
    if (!monitor.connected) return std::unexpected("baseline: SUB did not connect to " + endpoint);
  } catch (const zmq::error_t& e) {
    return std::unexpected(std::string("baseline: zmq setup: ") + e.what());
  }
  // Subscriptions travel to the PUB side asynchronously after the connection; a probe message
  // that arrives proves the subscription is in place before timing starts.
  {
    auto deadline = Clock::now() + std::chrono::seconds(10);
    bool probed = false;
    while (!probed && Clock::now() < deadline) {
      pub.send(zmq::str_buffer(base::topic::kCertImported), zmq::send_flags::sndmore);
      pub.send(zmq::str_buffer("{}"), zmq::send_flags::none);
      zmq::pollitem_t item{sub.handle(), 0, ZMQ_POLLIN, 0};
      if (zmq::poll(&item, 1, std::chrono::milliseconds(50)) > 0) probed = true;
    }
    if (!probed) return std::unexpected("baseline: no message came back from " + endpoint);
    zmq::message_t drain;
    while (sub.recv(drain, zmq::recv_flags::dontwait)) {
    }
  }

  BaselineResult result;
  double cpu0 = ThreadCpuSeconds();
  auto t0 = Clock::now();
  int64_t seq = 0;
  for (const auto& file : files) {
    auto t_read = Clock::now();
    std::string bytes = ReadFileBytes(file.path);
    auto t_parse = Clock::now();
    pipeline::BioPtr cert_bio(BIO_new_mem_buf(bytes.data(), static_cast<int>(bytes.size())));
    pipeline::X509Ptr cert(PEM_read_bio_X509(cert_bio.get(), nullptr, nullptr, nullptr));
    // A fresh decoder for the key, as the issue specifies (not continuing the first BIO).
    pipeline::BioPtr key_bio(BIO_new_mem_buf(bytes.data(), static_cast<int>(bytes.size())));
    pipeline::EvpPkeyPtr key(PEM_read_bio_PrivateKey(key_bio.get(), nullptr, nullptr, nullptr));
    if (!cert || !key) return std::unexpected("baseline: cannot parse " + file.path.string());
    if (X509_check_private_key(cert.get(), key.get()) != 1) {
      return std::unexpected("baseline: key does not match in " + file.path.string());
    }
    unsigned char* der = nullptr;
    int der_len = i2d_X509(cert.get(), &der);
    if (der_len <= 0) return std::unexpected("baseline: i2d_X509 failed for " + file.name);
    std::unique_ptr<unsigned char, OpensslFree> der_owner(der);
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int md_len = 0;
    EVP_Digest(der, static_cast<size_t>(der_len), md, &md_len, EVP_sha256(), nullptr);
    std::string fingerprint = Hex(md, md_len);
    // The key PEM is the file's bytes after the certificate. The baseline stores it in clear
    // (the daemon seals keys with AES-GCM): this only makes the baseline faster.
    size_t key_at = bytes.find("-----BEGIN PRIVATE KEY-----");
    std::string_view key_pem =
        key_at == std::string::npos ? std::string_view() : std::string_view(bytes).substr(key_at);

    auto t_store = Clock::now();
    sqlite3_stmt* st = insert->get();
    bool stored = StepDone(begin->get());
    sqlite3_bind_text(st, 1, fingerprint.data(), static_cast<int>(fingerprint.size()),
                      SQLITE_STATIC);
    sqlite3_bind_blob(st, 2, der, der_len, SQLITE_STATIC);
    sqlite3_bind_blob(st, 3, key_pem.data(), static_cast<int>(key_pem.size()), SQLITE_STATIC);
    sqlite3_bind_text(st, 4, file.name.data(), static_cast<int>(file.name.size()), SQLITE_STATIC);
    stored = stored && StepDone(st);
    sqlite3_clear_bindings(st);
    stored = stored && StepDone(commit->get());
    if (!stored) return std::unexpected(SqliteError(db->get(), "storing " + file.name));

    auto t_publish = Clock::now();
    nlohmann::json event = {
        {base::field::kSeq, ++seq},
        {base::field::kType, base::topic::kCertImported},
        {base::field::kTime, base::FormatRfc3339(base::UnixNow())},
        {base::field::kCertificate, {{base::field::kFingerprintSha256, fingerprint}}},
        {base::field::kSource, {{"inbox", "baseline"}, {"file", file.name}}}};
    std::string text = event.dump();
    try {
      pub.send(zmq::str_buffer(base::topic::kCertImported), zmq::send_flags::sndmore);
      pub.send(zmq::buffer(text), zmq::send_flags::none);
    } catch (const zmq::error_t& e) {
      return std::unexpected(std::string("baseline: send: ") + e.what());
    }
    ++result.files;
    auto t_done = Clock::now();
    result.read_seconds += Seconds(t_parse - t_read).count();
    result.parse_seconds += Seconds(t_store - t_parse).count();
    result.store_seconds += Seconds(t_publish - t_store).count();
    result.publish_seconds += Seconds(t_done - t_publish).count();
  }
  result.seconds = Seconds(Clock::now() - t0).count();
  result.cpu_seconds = ThreadCpuSeconds() - cpu0;

  // Outside the timing: check every message arrived.
  auto deadline = Clock::now() + std::chrono::seconds(10);
  while (result.delivered < result.files && Clock::now() < deadline) {
    zmq::pollitem_t item{sub.handle(), 0, ZMQ_POLLIN, 0};
    if (zmq::poll(&item, 1, std::chrono::milliseconds(100)) == 0) continue;
    zmq::message_t topic, body;
    if (!sub.recv(topic, zmq::recv_flags::none) || !sub.recv(body, zmq::recv_flags::none)) break;
    ++result.delivered;
  }
  return result;
}

}  // namespace certinbox::bench
