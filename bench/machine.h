// What the benchmarks print about where they ran, and their work folders.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>

namespace certinbox::bench {

// CPUs this process may run on (its affinity mask).
int UsableCpus();

// The 1, 5 and 15 minute load averages: other work on the machine lowers every figure.
std::string LoadAverage();

// Two lines: CPUs, CPU model, kernel, the filesystem of `workdir` and the load average; the
// versions of OpenSSL, SQLite and ZeroMQ and UV_THREADPOOL_SIZE. Other work on the machine
// lowers every figure, so each report says how loaded it was.
std::string MachineLine(const std::filesystem::path& workdir);

// `requested` (absolute; created, and it must be new or empty since the benchmark removes it),
// or with "" a new /tmp/PREFIX-XXXXXX. Throws Fatal.
std::filesystem::path MakeWorkdir(const std::string& requested, const std::string& prefix);

// Makes the work folder (MakeWorkdir), runs `body` in it, then removes it unless `keep`. A Fatal
// or another exception from either is printed ("ERROR: ...") and keeps the folder. Returns the
// exit code: body's, or 1 after an exception.
int RunInWorkdir(const std::string& requested, const std::string& prefix, bool keep,
                 const std::function<int(const std::filesystem::path&)>& body);

// "12.3 MiB" of KiB; "unknown" for nothing.
std::string Mib(std::optional<uint64_t> kib);

}  // namespace certinbox::bench
