// The baseline the daemon is compared with: the least a single thread must do per file to
// import it, with no watcher, no thread pool, no validation and no key encryption.
#pragma once

#include <expected>
#include <filesystem>
#include <string>
#include <vector>
#include <zmq.hpp>

#include "base/wire.h"
#include "bench/corpus.h"

namespace certinbox::bench {

struct BaselineResult {
  int files = 0;
  double seconds = 0;      // the timed loop only (setup and the final drain are outside it)
  double cpu_seconds = 0;  // CPU time of the loop's thread over the same span
  int delivered = 0;       // messages a local SUB socket received afterwards (should equal files)
  // Where the loop's time went, in seconds (sums to about `seconds`).
  double read_seconds = 0;     // reading the file
  double parse_seconds = 0;    // both PEM decoders, X509_check_private_key, DER and fingerprint
  double store_seconds = 0;    // BEGIN, INSERT, COMMIT
  double publish_seconds = 0;  // building the JSON and the two-frame send
};

// For each file, in order, on the calling thread: read it, PEM_read_bio_X509 and
// PEM_read_bio_PrivateKey (a fresh BIO each), X509_check_private_key, one SQLite transaction
// (INSERT fingerprint, certificate DER, key PEM) into dir/baseline.db (WAL,
// synchronous=NORMAL, as the daemon configures its database), and one two-frame ZeroMQ message
// (topic "cert.imported", JSON with seq, type, certificate.fingerprint_sha256, source) on a PUB
// socket bound to ipc://dir/baseline.sock, with a connected SUB socket draining it afterwards.
// Returns a sentence on any failure (a file that does not parse is a failure: the corpus is good).
std::expected<BaselineResult, std::string> RunBaselineLoop(const std::vector<CorpusFile>& files,
                                                           const std::filesystem::path& dir,
                                                           zmq::context_t& context);

}  // namespace certinbox::bench
