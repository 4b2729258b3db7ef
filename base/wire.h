// The wire format's names, written once: the topic of every event the daemon publishes (the
// event's `type` is the same string). docs/events.md says what each carries.
#pragma once

namespace certinbox::base::topic {

inline constexpr char kCertImported[] = "cert.imported";
inline constexpr char kCertRenewed[] = "cert.renewed";
inline constexpr char kCertUpdated[] = "cert.updated";
inline constexpr char kCertActivated[] = "cert.activated";
inline constexpr char kCertExpiring[] = "cert.expiring";
inline constexpr char kCertExpired[] = "cert.expired";
inline constexpr char kCertBound[] = "cert.bound";
inline constexpr char kCertUnbound[] = "cert.unbound";
inline constexpr char kCertDeleted[] = "cert.deleted";
inline constexpr char kCsrCreated[] = "csr.created";
inline constexpr char kImportRejected[] = "import.rejected";
inline constexpr char kConfigReloaded[] = "config.reloaded";
inline constexpr char kConfigRejected[] = "config.rejected";
inline constexpr char kPushSucceeded[] = "push.succeeded";
inline constexpr char kPushFailed[] = "push.failed";

// Every topic above, for subscribers and for tests that check the list against the docs.
inline constexpr const char* kAll[] = {
    kCertImported,   kCertRenewed,    kCertUpdated,    kCertActivated, kCertExpiring,
    kCertExpired,    kCertBound,      kCertUnbound,    kCertDeleted,   kCsrCreated,
    kImportRejected, kConfigReloaded, kConfigRejected, kPushSucceeded, kPushFailed};

}  // namespace certinbox::base::topic
