// Every error code of certinbox, defined once. Code writes base::code::kNotFound, never the
// string, so a misspelt code does not compile. The code is the stable part of an Error
// (base/error.h): stored, published and tested; docs/ documents the ones a user meets, and
// tests/base/error_codes_test.cc checks that the docs and this list agree.
#pragma once

#include <string_view>

namespace certinbox::base::code {

// Why a dropped file went to failed/ (failed/NAME.error.json, import.rejected):
// docs/inbox.md, "Reason codes".
inline constexpr char kSymlink[] = "symlink";
inline constexpr char kNotRegularFile[] = "not_regular_file";
inline constexpr char kFileTooLarge[] = "file_too_large";
inline constexpr char kHardLink[] = "hard_link";
inline constexpr char kUnreadable[] = "unreadable";
inline constexpr char kBadSidecar[] = "bad_sidecar";
inline constexpr char kGroupNotAllowed[] = "group_not_allowed";
inline constexpr char kEmptyFile[] = "empty_file";
inline constexpr char kUnrecognizedFormat[] = "unrecognized_format";
inline constexpr char kMalformedPem[] = "malformed_pem";
inline constexpr char kBadCertificate[] = "bad_certificate";
inline constexpr char kBadKey[] = "bad_key";
inline constexpr char kBadCsr[] = "bad_csr";
inline constexpr char kKeyPasswordRequired[] = "key_password_required";
inline constexpr char kKeyBadPassword[] = "key_bad_password";
inline constexpr char kPkcs12BadPassword[] = "pkcs12_bad_password";
inline constexpr char kPkcs12Malformed[] = "pkcs12_malformed";
inline constexpr char kPkcs7Malformed[] = "pkcs7_malformed";
inline constexpr char kUnsupportedObject[] = "unsupported_object";
inline constexpr char kKdfTooExpensive[] = "kdf_too_expensive";
inline constexpr char kParseTimeout[] = "parse_timeout";
inline constexpr char kTooManyObjects[] = "too_many_objects";
inline constexpr char kExpired[] = "expired";
inline constexpr char kNotARenewal[] = "not_a_renewal";
inline constexpr char kKeyMismatch[] = "key_mismatch";
inline constexpr char kBadSignature[] = "bad_signature";
inline constexpr char kResourceBound[] = "resource_bound";
inline constexpr char kBindAmbiguous[] = "bind_ambiguous";
inline constexpr char kVaultError[] = "vault_error";
inline constexpr char kInternalError[] = "internal_error";

// Control replies ({"error": {"code", "message"}}): docs/protocol.md, "Error codes".
inline constexpr char kBadRequest[] = "bad_request";
inline constexpr char kBadName[] = "bad_name";
inline constexpr char kNotFound[] = "not_found";
inline constexpr char kAmbiguous[] = "ambiguous";
inline constexpr char kAlreadyCurrent[] = "already_current";
inline constexpr char kVersionExpired[] = "version_expired";
inline constexpr char kNotActivated[] = "not_activated";
inline constexpr char kStorageFull[] = "storage_full";
inline constexpr char kStorageReadOnly[] = "storage_read_only";
inline constexpr char kStorageIo[] = "storage_io";
inline constexpr char kStorageError[] = "storage_error";
inline constexpr char kBadResource[] = "bad_resource";
inline constexpr char kBadPlugin[] = "bad_plugin";
inline constexpr char kUnknownPlugin[] = "unknown_plugin";
inline constexpr char kDeclared[] = "declared";
inline constexpr char kBound[] = "bound";
inline constexpr char kCaInUse[] = "ca_in_use";
inline constexpr char kCsrBadKeyType[] = "csr_bad_key_type";
inline constexpr char kCsrBadSubject[] = "csr_bad_subject";
inline constexpr char kCsrBadSan[] = "csr_bad_san";
inline constexpr char kCsrKeygenFailed[] = "csr_keygen_failed";
inline constexpr char kCsrBuildFailed[] = "csr_build_failed";
inline constexpr char kNameTaken[] = "name_taken";
inline constexpr char kNoCsr[] = "no_csr";
inline constexpr char kStopping[] = "stopping";
inline constexpr char kNoPrivateKey[] = "no_private_key";
inline constexpr char kKeyExportDisabled[] = "key_export_disabled";
inline constexpr char kKeyExportForbidden[] = "key_export_forbidden";
inline constexpr char kPkcs12BuildFailed[] = "pkcs12_build_failed";
inline constexpr char kForbidden[] = "forbidden";
inline constexpr char kUnauthenticated[] = "unauthenticated";

// Raised on the client side (plugins/sdk, the CLI), never sent by the daemon.
inline constexpr char kUnreachable[] = "unreachable";
inline constexpr char kBadReply[] = "bad_reply";
inline constexpr char kRequestTooLarge[] = "request_too_large";
inline constexpr char kCancelled[] = "cancelled";
inline constexpr char kBadEnvironment[] = "bad_environment";
inline constexpr char kBadDuration[] = "bad_duration";

// Raised by base/file.h (the CLI's and the plugins' files, the watchers' outcome folders); a
// caller that reports in codes of its own (deploy_failed) says them in its terms.
inline constexpr char kFileExists[] = "file_exists";
inline constexpr char kUnwritable[] = "unwritable";

// Why certinboxd could not start (logged, exit status 1).
inline constexpr char kConfigInvalid[] = "config_invalid";
inline constexpr char kConfigUnreadable[] = "config_unreadable";
inline constexpr char kStateDir[] = "state_dir";
inline constexpr char kAlreadyRunning[] = "already_running";
inline constexpr char kBindFailed[] = "bind_failed";
inline constexpr char kIpcAccess[] = "ipc_access";
inline constexpr char kCurveKeys[] = "curve_keys";
inline constexpr char kMasterKeyUnreadable[] = "master_key_unreadable";
inline constexpr char kMasterKeyBadSize[] = "master_key_bad_size";
inline constexpr char kMasterKeyInsecure[] = "master_key_insecure";
inline constexpr char kVaultOpenFailed[] = "vault_open_failed";
inline constexpr char kStorageSchemaTooNew[] = "storage_schema_too_new";
inline constexpr char kInboxNotWatched[] = "inbox_not_watched";  // the daemon runs on without it

// Raised by the plugins: options they cannot use (the plugin exits), a deploy that failed (its
// push.report carries the message).
inline constexpr char kBadOption[] = "bad_option";
inline constexpr char kMissingOption[] = "missing_option";
inline constexpr char kUnknownOption[] = "unknown_option";
inline constexpr char kSecretUnreadable[] = "secret_unreadable";
inline constexpr char kDeployFailed[] = "deploy_failed";

// Inside the daemon only: outcomes it handles itself, never shown as a reason (bad_filter:
// storage's own check of an ls filter, which the control op has already refused as bad_request).
inline constexpr char kParseDeferred[] = "parse_deferred";
inline constexpr char kParseAbandoned[] = "parse_abandoned";
inline constexpr char kStorageBusy[] = "storage_busy";
inline constexpr char kBadFilter[] = "bad_filter";
// A handed-over file that was replaced or rewritten before Finish/Fail (watchers): offered again.
inline constexpr char kFileChanged[] = "file_changed";
// The web page's API has as many reads on the pool as it may: try again.
inline constexpr char kBusy[] = "busy";
// Where a code can be met, for the docs check and for whoever lists the codes.
enum Where : unsigned {
  kDrop = 1,       // a reason of failed/ and import.rejected
  kReply = 2,      // an error reply of the control socket
  kClient = 4,     // raised by the client library or the CLI
  kStartup = 8,    // a reason certinboxd did not start
  kPlugin = 16,    // raised by a plugin
  kInternal = 32,  // handled inside the daemon
  kHttp = 64,      // an error of the web page's API (docs/web.md)
};

struct Info {
  std::string_view code;
  unsigned where;  // Where bits
};

inline constexpr Info kAll[] = {
    {kSymlink, kDrop},
    {kNotRegularFile, kDrop},
    {kFileTooLarge, kDrop},
    {kHardLink, kDrop},
    {kUnreadable, kDrop},
    {kBadSidecar, kDrop},
    {kGroupNotAllowed, kDrop},
    {kEmptyFile, kDrop},
    {kUnrecognizedFormat, kDrop},
    {kMalformedPem, kDrop},
    {kBadCertificate, kDrop},
    {kBadKey, kDrop},
    {kBadCsr, kDrop},
    {kKeyPasswordRequired, kDrop},
    {kKeyBadPassword, kDrop},
    {kPkcs12BadPassword, kDrop},
    {kPkcs12Malformed, kDrop},
    {kPkcs7Malformed, kDrop},
    {kUnsupportedObject, kDrop},
    {kKdfTooExpensive, kDrop},
    {kParseTimeout, kDrop},
    {kTooManyObjects, kDrop},
    {kExpired, kDrop},
    {kNotARenewal, kDrop},
    {kKeyMismatch, kDrop},
    {kBadSignature, kDrop},
    {kResourceBound, kDrop | kReply},
    {kBindAmbiguous, kDrop},
    {kVaultError, kDrop},
    {kInternalError, kDrop | kReply},
    {kBadRequest, kReply},
    {kBadName, kReply},
    {kNotFound, kReply},
    {kAmbiguous, kReply},
    {kAlreadyCurrent, kReply},
    {kVersionExpired, kReply},
    {kNotActivated, kReply},
    {kStorageFull, kReply},
    {kStorageReadOnly, kReply},
    {kStorageIo, kReply},
    {kStorageError, kReply},
    {kBadResource, kReply},
    {kBadPlugin, kReply},
    {kUnknownPlugin, kReply},
    {kDeclared, kReply},
    {kBound, kReply},
    {kCaInUse, kReply},
    {kCsrBadKeyType, kReply},
    {kCsrBadSubject, kReply},
    {kCsrBadSan, kReply},
    {kCsrKeygenFailed, kReply},
    {kCsrBuildFailed, kReply},
    {kNameTaken, kReply},
    {kNoCsr, kReply},
    {kStopping, kReply},
    {kNoPrivateKey, kReply},
    {kKeyExportDisabled, kReply},
    {kKeyExportForbidden, kReply},
    {kPkcs12BuildFailed, kReply},
    {kForbidden, kReply},
    {kUnauthenticated, kReply},
    {kUnreachable, kClient},
    {kBadReply, kClient},
    {kRequestTooLarge, kClient},
    {kCancelled, kClient},
    {kBadEnvironment, kClient},
    {kBadDuration, kClient},
    {kFileExists, kClient},
    {kUnwritable, kClient | kPlugin | kInternal},
    {kBusy, kHttp},
    {kConfigInvalid, kStartup | kClient},
    {kConfigUnreadable, kStartup | kClient},
    {kStateDir, kStartup},
    {kAlreadyRunning, kStartup},
    {kBindFailed, kStartup},
    {kIpcAccess, kStartup},
    {kCurveKeys, kStartup | kClient},
    {kMasterKeyUnreadable, kStartup},
    {kMasterKeyBadSize, kStartup},
    {kMasterKeyInsecure, kStartup},
    {kVaultOpenFailed, kStartup | kReply},
    {kStorageSchemaTooNew, kStartup},
    {kInboxNotWatched, kStartup},
    {kBadOption, kPlugin},
    {kMissingOption, kPlugin},
    {kUnknownOption, kPlugin},
    {kSecretUnreadable, kPlugin},
    {kDeployFailed, kPlugin},
    {kParseDeferred, kInternal},
    {kParseAbandoned, kInternal},
    {kStorageBusy, kInternal},
    {kBadFilter, kInternal},
    {kFileChanged, kInternal},
};

}  // namespace certinbox::base::code
