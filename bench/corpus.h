// The ingest benchmark's corpus: PEM files, each one leaf certificate issued by one test CA
// followed by its unencrypted PKCS#8 private key, as a tool would drop them into an inbox.
#pragma once

#include <cstddef>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "tests/testing/test_ca.h"

namespace certinbox::bench {

struct CorpusFile {
  std::string name;            // file name, unique within a run
  std::filesystem::path path;  // where it was written
  std::string fingerprint;     // lowercase hex SHA-256 of the certificate DER
  size_t bytes = 0;
};

// Issues `count` leaves with CN "<prefix>-NNNNN.bench.test" (and that SAN), signed by `ca`, each
// with a fresh key of `key_type`, and writes dir/<prefix>-NNNNN.pem (certificate then key).
// Spreads the work over `threads` threads (key generation dominates for RSA). Creates `dir`.
// Throws std::runtime_error when OpenSSL or the filesystem fails.
std::vector<CorpusFile> GenerateCorpus(const testing::Issued& ca, const std::filesystem::path& dir,
                                       const std::string& prefix, int count,
                                       testing::KeyType key_type, unsigned threads);

// Copies every file of `files` into `dir` (created), keeping names; returns the copies.
// Throws std::filesystem::filesystem_error.
std::vector<CorpusFile> StageCopies(const std::vector<CorpusFile>& files,
                                    const std::filesystem::path& dir);

// Whole-file read and write. Throw std::runtime_error with the path and errno's sentence.
std::string ReadFileBytes(const std::filesystem::path& path);
void WriteFileBytes(const std::filesystem::path& path, std::string_view bytes);

}  // namespace certinbox::bench
