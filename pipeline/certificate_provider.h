// The provider of the library context certificates are decoded in. Internal to the pipeline.
//
// OpenSSL 3.0's d2i_X509 decodes the certificate's public key with a decoder it builds anew
// for every certificate (OSSL_DECODER_CTX_new_for_pkey). Building it walks every decoder of
// the context against every key manager, looking each name up under a lock, and that is most
// of what a certificate costs to decode. The input of that decoder is always DER of a
// SubjectPublicKeyInfo, so of the default provider's 40 decoders only its 12
// SubjectPublicKeyInfo ones can ever take part. (OpenSSL 3.2 caches these decoders; Debian
// 12's 3.0 does not.)
//
// This provider offers exactly the default provider's algorithms, the same implementations
// with the same provider context, except that its decoders are those 12. A context that
// holds only this provider decodes certificates, verifies signatures and digests as one with
// "default" does (tests/pipeline/certificate_context_test.cc, every key type), at about half
// the cost per certificate: on the 2-core test machine a P-256 leaf took 95-150 us with
// "default" and 55-95 us here. It cannot decode private keys (no PrivateKeyInfo decoders):
// keys use the thread's ordinary context.
#pragma once

#include <openssl/types.h>

namespace certinbox::pipeline {

// Loads the provider into `target`. `wrapped` must be a "default" provider that outlives
// `target`: its provider context is handed to every algorithm. Returns the provider, or
// nullptr (errors drained) when it cannot be loaded or `wrapped` is not "default"; the caller
// then uses another context.
OSSL_PROVIDER* LoadCertificateProvider(OSSL_LIB_CTX* target, OSSL_PROVIDER* wrapped);

}  // namespace certinbox::pipeline
