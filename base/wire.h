// The wire format's names, written once: the topic of every event the daemon publishes (the
// event's `type` is the same string), and the field names of the event envelope, of the other
// top-level event keys and of the certificate summary, and the reply fields read on both sides of
// the control socket. docs/events.md and docs/protocol.md say what each carries.
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

// Field names of the events (docs/events.md). The same names are used where a control reply
// carries the same object (the certificate summary of ls and show).
namespace certinbox::base::field {

// The envelope: every event has seq, type and time; by when a CURVE client's request made it.
inline constexpr char kSeq[] = "seq";
inline constexpr char kType[] = "type";
inline constexpr char kTime[] = "time";
inline constexpr char kBy[] = "by";

// The other top-level keys, by the events that carry them.
inline constexpr char kCertificate[] = "certificate";  // every cert.* and csr.created, push.*
inline constexpr char kSource[] = "source";            // {inbox, file}: cert.imported, rejected
inline constexpr char kInbox[] = "inbox";
inline constexpr char kFile[] = "file";          // also config.*: the config file
inline constexpr char kFindings[] = "findings";  // also in the summary
inline constexpr char kPrevious[] = "previous";  // cert.renewed: {version, fingerprint, not_after}
inline constexpr char kRollback[] = "rollback";  // cert.renewed
inline constexpr char kChanged[] = "changed";    // cert.updated, config.reloaded
inline constexpr char kCsrPem[] = "csr_pem";     // csr.created
inline constexpr char kThresholdDays[] = "threshold_days";      // cert.expiring (and days_left)
inline constexpr char kThreshold[] = "threshold";               // cert.expiring: "33%", "7d"
inline constexpr char kResource[] = "resource";                 // cert.bound, cert.unbound, push.*
inline constexpr char kPlugin[] = "plugin";                     // cert.bound, cert.unbound, push.*
inline constexpr char kReason[] = "reason";                     // import.rejected
inline constexpr char kMessage[] = "message";                   // import.rejected, push.*
inline constexpr char kRestartRequired[] = "restart_required";  // config.reloaded
inline constexpr char kErrors[] = "errors";                     // config.rejected
inline constexpr char kExitStatus[] = "exit_status";            // push.*
inline constexpr char kOutput[] = "output";                     // push.*

// The certificate summary (`certificate`).
inline constexpr char kId[] = "id";
inline constexpr char kName[] = "name";
inline constexpr char kGroup[] = "group";
inline constexpr char kKind[] = "kind";
inline constexpr char kLabels[] = "labels";
inline constexpr char kStatus[] = "status";
inline constexpr char kExpiringReason[] = "expiring_reason";  // which rule: null unless expiring
inline constexpr char kVersion[] = "version";                 // also push.*: the version pushed
inline constexpr char kFingerprintSha256[] = "fingerprint_sha256";
inline constexpr char kSerial[] = "serial";
inline constexpr char kSubject[] = "subject";
inline constexpr char kIssuer[] = "issuer";
inline constexpr char kSans[] = "sans";
inline constexpr char kNotBefore[] = "not_before";
inline constexpr char kNotAfter[] = "not_after";
inline constexpr char kDaysLeft[] = "days_left";
inline constexpr char kKeyAlgorithm[] = "key_algorithm";
inline constexpr char kKeyBits[] = "key_bits";
inline constexpr char kSignatureAlgorithm[] = "signature_algorithm";
inline constexpr char kHasPrivateKey[] = "has_private_key";
inline constexpr char kChain[] = "chain";
inline constexpr char kBindings[] = "bindings";  // [{resource, plugin}]

// Every field name above, for tests that check them against docs/events.md.
inline constexpr const char* kAll[] = {
    // The envelope.
    kSeq, kType, kTime, kBy,
    // The other top-level keys.
    kCertificate, kSource, kInbox, kFile, kFindings, kPrevious, kRollback, kChanged, kCsrPem,
    kThresholdDays, kThreshold, kResource, kPlugin, kReason, kMessage, kRestartRequired, kErrors,
    kExitStatus, kOutput,
    // The certificate summary.
    kId, kName, kGroup, kKind, kLabels, kStatus, kExpiringReason, kVersion, kFingerprintSha256,
    kSerial, kSubject, kIssuer, kSans, kNotBefore, kNotAfter, kDaysLeft, kKeyAlgorithm, kKeyBits,
    kSignatureAlgorithm, kHasPrivateKey, kChain, kBindings};

}  // namespace certinbox::base::field

// Field names of the control replies that more than one side reads (docs/protocol.md): the error
// envelope, the paging of `events` and `ls`, and the PEM material of `export` and `material`. Where
// a reply carries an event's object (a certificate summary), its names are base::field's.
namespace certinbox::base::reply {

// {"error": {"code", "message"}}: every failed request.
inline constexpr char kError[] = "error";
inline constexpr char kCode[] = "code";
inline constexpr char kMessage[] = "message";

// `events`: a page of the outbox and where to go on from.
inline constexpr char kEvents[] = "events";
inline constexpr char kSince[] = "since";
inline constexpr char kScannedTo[] = "scanned_to";
inline constexpr char kMore[] = "more";
inline constexpr char kFirstSeq[] = "first_seq";
inline constexpr char kLastSeq[] = "last_seq";  // also status and plugin.hello
inline constexpr char kPruned[] = "pruned";     // {from, to}: events gone before they were asked
inline constexpr char kFrom[] = "from";
inline constexpr char kTo[] = "to";

// `ls`: a page of rows (a short certificate summary, docs/protocol.md) and the cursor of the
// next page. The request's `after` is a `next` handed back as is; `limit` the rows per page.
inline constexpr char kEntries[] = "entries";
inline constexpr char kUnmatchedKeys[] = "unmatched_keys";  // first page only
inline constexpr char kNext[] = "next";                     // null on the last page
inline constexpr char kAfter[] = "after";
inline constexpr char kLimit[] = "limit";                 // also `events`
inline constexpr char kBindingCount[] = "binding_count";  // in an `ls` row

// `export` and `material`.
inline constexpr char kCertPem[] = "cert_pem";
inline constexpr char kChainPem[] = "chain_pem";
inline constexpr char kFullchainPem[] = "fullchain_pem";
inline constexpr char kKeyPem[] = "key_pem";
inline constexpr char kPkcs12Base64[] = "pkcs12_base64";

}  // namespace certinbox::base::reply
