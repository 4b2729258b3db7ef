// The exit codes `certinbox` promises to scripts (also listed by `certinbox --help`).
#pragma once

namespace certinbox::cli {

inline constexpr int kExitOk = 0;
inline constexpr int kExitDaemonError = 1;  // the daemon answered with an error (not_found, ...)
inline constexpr int kExitUsage = 2;        // bad command line or unreadable config
inline constexpr int kExitUnreachable = 3;  // no daemon answered on the control endpoint

}  // namespace certinbox::cli
