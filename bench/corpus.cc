#include "bench/corpus.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <exception>
#include <mutex>
#include <stdexcept>
#include <thread>

namespace certinbox::bench {
namespace fs = std::filesystem;

namespace {

std::runtime_error ErrnoError(const std::string& what, const fs::path& path) {
  return std::runtime_error(what + " " + path.string() + ": " + std::strerror(errno));
}

std::string FileName(const std::string& prefix, int index) {
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "-%05d", index);
  return prefix + buffer;
}

}  // namespace

std::string ReadFileBytes(const fs::path& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw ErrnoError("cannot open", path);
  std::string bytes;
  char buffer[16384];
  for (;;) {
    ssize_t n = ::read(fd, buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      ::close(fd);
      throw ErrnoError("cannot read", path);
    }
    if (n == 0) break;
    bytes.append(buffer, static_cast<size_t>(n));
  }
  ::close(fd);
  return bytes;
}

void WriteFileBytes(const fs::path& path, std::string_view bytes) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) throw ErrnoError("cannot create", path);
  while (!bytes.empty()) {
    ssize_t n = ::write(fd, bytes.data(), bytes.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      ::close(fd);
      throw ErrnoError("cannot write", path);
    }
    bytes.remove_prefix(static_cast<size_t>(n));
  }
  if (::close(fd) != 0) throw ErrnoError("cannot close", path);
}

std::vector<CorpusFile> GenerateCorpus(const testing::Issued& ca, const fs::path& dir,
                                       const std::string& prefix, int count,
                                       testing::KeyType key_type, unsigned threads) {
  fs::create_directories(dir);
  std::vector<CorpusFile> files(static_cast<size_t>(count));
  threads = std::max(1u, std::min(threads, static_cast<unsigned>(std::max(count, 1))));

  // Each worker fills a strided slice; the first exception stops the others and is rethrown.
  std::mutex failure_mutex;
  std::exception_ptr failure;
  auto work = [&](unsigned first) {
    try {
      for (size_t i = first; i < files.size(); i += threads) {
        {
          std::lock_guard lock(failure_mutex);
          if (failure) return;
        }
        std::string name = FileName(prefix, static_cast<int>(i));
        testing::CertSpec spec = testing::LeafSpec(name + ".bench.test");
        spec.key_type = key_type;
        testing::Issued leaf = testing::Issue(spec, &ca);
        std::string pem = leaf.CertPem() + leaf.KeyPem();
        CorpusFile& file = files[i];
        file.name = name + ".pem";
        file.path = dir / file.name;
        file.fingerprint = leaf.Fingerprint();
        file.bytes = pem.size();
        WriteFileBytes(file.path, pem);
      }
    } catch (...) {
      std::lock_guard lock(failure_mutex);
      if (!failure) failure = std::current_exception();
    }
  };
  std::vector<std::thread> workers;
  for (unsigned t = 0; t < threads; ++t) workers.emplace_back(work, t);
  for (auto& worker : workers) worker.join();
  if (failure) std::rethrow_exception(failure);
  return files;
}

std::vector<CorpusFile> StageCopies(const std::vector<CorpusFile>& files, const fs::path& dir) {
  fs::create_directories(dir);
  std::vector<CorpusFile> copies = files;
  for (auto& copy : copies) {
    fs::path target = dir / copy.name;
    fs::copy_file(copy.path, target, fs::copy_options::overwrite_existing);
    copy.path = std::move(target);
  }
  return copies;
}

}  // namespace certinbox::bench
