#include "pipeline/budget.h"

#include <openssl/asn1t.h>
#include <openssl/err.h>
#include <openssl/evp.h>

#include <memory>
#include <optional>
#include <string>

#include "base/error.h"
#include "base/error_codes.h"

// The parameters are read with the same ASN.1 types OpenSSL's own key derivation reads them
// with (PBEPARAM, PBE2PARAM, PBKDF2PARAM, SCRYPT_PARAMS, the MAC's iterations), so what is
// judged here is what would run. Parameters that do not decode cost nothing: OpenSSL fails on
// them the same way, before deriving anything.

namespace certinbox::pipeline {
namespace {

using PbeParamPtr = std::unique_ptr<PBEPARAM, Free<PBEPARAM_free>>;
using Pbe2ParamPtr = std::unique_ptr<PBE2PARAM, Free<PBE2PARAM_free>>;
using Pbkdf2ParamPtr = std::unique_ptr<PBKDF2PARAM, Free<PBKDF2PARAM_free>>;
using ScryptParamsPtr = std::unique_ptr<SCRYPT_PARAMS, Free<SCRYPT_PARAMS_free>>;

template <class T>
T* Unpack(const ASN1_ITEM* item, const ASN1_TYPE* parameter) {
  if (parameter == nullptr) return nullptr;
  T* out = static_cast<T*>(ASN1_TYPE_unpack_sequence(item, parameter));
  ERR_clear_error();
  return out;
}

// An INTEGER as a count; nullopt when it is negative or does not fit in 64 bits (a count
// that large is refused as too expensive, which it would be).
std::optional<uint64_t> CountOf(const ASN1_INTEGER* value, uint64_t absent) {
  if (value == nullptr) return absent;
  uint64_t out = 0;
  if (ASN1_INTEGER_get_uint64(&out, value) != 1) {
    ERR_clear_error();
    return std::nullopt;
  }
  return out;
}

std::string Number(std::optional<uint64_t> n) {
  return n ? std::to_string(*n) : std::string("out of range");
}

std::unexpected<base::Error> TooExpensive(std::string_view what, const std::string& detail) {
  return base::Fail(base::code::kKdfTooExpensive,
                    std::string(what) +
                        " is protected by a key derivation that costs too much: " + detail +
                        "; re-export it with a lower count, or raise the inbox's limit if the file "
                        "is trusted");
}

}  // namespace

base::Result<void> ParseBudget::Check() const {
  if (!options_.interrupt) return {};
  if (std::optional<base::Error> stop = options_.interrupt())
    return std::unexpected(std::move(*stop));
  return {};
}

base::Result<uint64_t> ParseBudget::Cost(const X509_ALGOR* algorithm, std::string_view what) const {
  if (algorithm == nullptr) return 0;
  const KdfLimits& limits = options_.kdf;
  int nid = OBJ_obj2nid(algorithm->algorithm);
  auto iterations = [&](std::optional<uint64_t> count) -> base::Result<uint64_t> {
    if (!count || *count > limits.max_iterations) {
      return TooExpensive(what, "its iteration count is " + Number(count) + ", the limit " +
                                    std::to_string(limits.max_iterations));
    }
    return *count;
  };

  if (nid == NID_pbes2) {
    Pbe2ParamPtr pbe2(Unpack<PBE2PARAM>(ASN1_ITEM_rptr(PBE2PARAM), algorithm->parameter));
    if (!pbe2 || pbe2->keyfunc == nullptr) return 0;
    switch (OBJ_obj2nid(pbe2->keyfunc->algorithm)) {
      case NID_id_pbkdf2: {
        Pbkdf2ParamPtr kdf(
            Unpack<PBKDF2PARAM>(ASN1_ITEM_rptr(PBKDF2PARAM), pbe2->keyfunc->parameter));
        if (!kdf) return 0;
        return iterations(CountOf(kdf->iter, 0));
      }
#ifndef OPENSSL_NO_SCRYPT
      case NID_id_scrypt: {
        ScryptParamsPtr kdf(
            Unpack<SCRYPT_PARAMS>(ASN1_ITEM_rptr(SCRYPT_PARAMS), pbe2->keyfunc->parameter));
        if (!kdf) return 0;
        std::optional<uint64_t> n = CountOf(kdf->costParameter, 0);
        std::optional<uint64_t> r = CountOf(kdf->blockSize, 0);
        std::optional<uint64_t> p = CountOf(kdf->parallelizationParameter, 0);
        const unsigned __int128 most = static_cast<unsigned __int128>(limits.max_scrypt_n) * 8;
        unsigned __int128 work = 0;
        if (n && r && p) work = static_cast<unsigned __int128>(*n) * *r * *p;
        if (!n || !r || !p || *n > limits.max_scrypt_n || *r > most || *p > most || work > most) {
          return TooExpensive(what, "its scrypt parameters are N " + Number(n) + ", r " +
                                        Number(r) + ", p " + Number(p) + "; the limit is N " +
                                        std::to_string(limits.max_scrypt_n) + " and N x r x p " +
                                        std::to_string(limits.max_scrypt_n * 8));
        }
        // Against a fixed reference, not the caps: a lower max_kdf_iterations must not make a
        // scrypt look cheaper than it is (to the file's total and to the slow-parse mark).
        constexpr uint64_t kWork = KdfLimits::kScryptReferenceWork;
        return static_cast<uint64_t>((work * KdfLimits::kScryptReferenceIterations + kWork - 1) /
                                     kWork);
      }
#endif
      default:
        return 0;  // not a key derivation OpenSSL performs
    }
  }
  // PKCS#12 PBE (pbeWithSHAAnd3-KeyTripleDES-CBC, ...) and PKCS#5 v1 PBE: PBEPARAM.
  if (EVP_PBE_find(EVP_PBE_TYPE_OUTER, nid, nullptr, nullptr, nullptr) == 1) {
    PbeParamPtr pbe(Unpack<PBEPARAM>(ASN1_ITEM_rptr(PBEPARAM), algorithm->parameter));
    if (!pbe) return 0;
    return iterations(CountOf(pbe->iter, 1));
  }
  ERR_clear_error();
  return 0;
}

base::Result<uint64_t> ParseBudget::MacCost(const PKCS12* p12) const {
  const ASN1_INTEGER* iter = nullptr;
  PKCS12_get0_mac(nullptr, nullptr, nullptr, &iter, p12);
  std::optional<uint64_t> count = CountOf(iter, 1);  // DEFAULT 1
  if (!count || *count > options_.kdf.max_iterations) {
    return TooExpensive("the PKCS#12 file's integrity check (MAC)",
                        "its iteration count is " + Number(count) + ", the limit " +
                            std::to_string(options_.kdf.max_iterations));
  }
  return *count;
}

base::Result<void> ParseBudget::Admit(const X509_ALGOR* algorithm, std::string_view what) const {
  auto cost = Cost(algorithm, what);
  if (!cost) return std::unexpected(cost.error());
  return {};
}

base::Result<void> ParseBudget::AdmitMac(const PKCS12* p12) const {
  auto cost = MacCost(p12);
  if (!cost) return std::unexpected(cost.error());
  return {};
}

base::Result<void> ParseBudget::Spend(uint64_t cost, std::string_view what) {
  const uint64_t total = options_.kdf.max_file_iterations;
  if (cost > total || spent_ > total - cost) {
    return base::Fail(base::code::kKdfTooExpensive,
                      std::string(what) +
                          ": the key derivations this file needs (each password "
                          "candidate tried counts) pass its limit of " +
                          std::to_string(total) +
                          " iterations in all; give the right password first (the sidecar's "
                          "password), or use a lower iteration count");
  }
  if (options_.before_derivation) {
    if (std::optional<base::Error> stop = options_.before_derivation(cost)) {
      return std::unexpected(std::move(*stop));
    }
  }
  spent_ += cost;
  return Check();
}

base::Result<void> ParseBudget::Charge(const X509_ALGOR* algorithm, std::string_view what) {
  auto cost = Cost(algorithm, what);
  if (!cost) return std::unexpected(cost.error());
  return Spend(*cost, what);
}

base::Result<void> ParseBudget::ChargeMac(const PKCS12* p12) {
  auto cost = MacCost(p12);
  if (!cost) return std::unexpected(cost.error());
  return Spend(*cost, "the PKCS#12 file's integrity check (MAC)");
}

}  // namespace certinbox::pipeline
