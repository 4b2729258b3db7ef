// The version_names table (migration 009): each version's serial number and name fields as
// x509-certificate-exporter labels them, stored at import so that /metrics reads text and never
// decodes a certificate. Internal to storage/.
#pragma once

#include <cstdint>
#include <functional>

#include "base/error.h"
#include "pipeline/x509_labels.h"
#include "storage/sqlite.h"

namespace certinbox::storage {

// The columns, in ReadVersionNames' order, of version_names as `n`.
inline constexpr char kVersionNamesColumns[] =
    "n.serial_decimal, n.subject_c, n.subject_st, n.subject_l, n.subject_o, n.subject_ou,"
    " n.subject_cn, n.issuer_c, n.issuer_st, n.issuer_l, n.issuer_o, n.issuer_ou, n.issuer_cn";

// Stores the names of version `version_id`.
base::Result<void> InsertVersionNames(sqlite::Connection& db, int64_t version_id,
                                      const pipeline::ExporterNames& names);

// The names from the row's kVersionNamesColumns, the first at `column`.
pipeline::ExporterNames ReadVersionNames(const sqlite::Statement& row, int column);

// Reads the names of every stored version that has none (those stored before migration 009)
// from its DER, a thousand versions per transaction, so that a fill cut short keeps what it did.
// `before`, when there are any, is told how many first. Returns how many it filled; a DER that
// does not read as a certificate is left without names (the scrape counts it in
// x509_read_errors).
base::Result<int64_t> FillMissingVersionNames(
    sqlite::Connection& db, const std::function<void(int64_t missing)>& before = {});

}  // namespace certinbox::storage
