#include "common/tls/revocation_list.h"

#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <chrono>
#include <memory>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/crypto/openssl_util.h"
#include "common/util/status_macros.h"

namespace fedlearn {
namespace {

using crypto_internal::BignumPtr;
using crypto_internal::BioPtr;
using crypto_internal::EvpPkeyPtr;
using crypto_internal::MemoryBio;
using crypto_internal::OpenSslDeleter;
using crypto_internal::OpenSslError;
using crypto_internal::ParseCertificate;
using crypto_internal::ParseCertificates;
using crypto_internal::ParsePrivateKey;
using crypto_internal::X509ExtensionPtr;
using crypto_internal::X509Ptr;

using X509CrlPtr =
    std::unique_ptr<X509_CRL, OpenSslDeleter<X509_CRL, X509_CRL_free>>;
using X509RevokedPtr =
    std::unique_ptr<X509_REVOKED,
                    OpenSslDeleter<X509_REVOKED, X509_REVOKED_free>>;
using Asn1IntegerPtr =
    std::unique_ptr<ASN1_INTEGER,
                    OpenSslDeleter<ASN1_INTEGER, ASN1_INTEGER_free>>;
using Asn1TimePtr =
    std::unique_ptr<ASN1_TIME, OpenSslDeleter<ASN1_TIME, ASN1_TIME_free>>;
using Asn1EnumeratedPtr =
    std::unique_ptr<ASN1_ENUMERATED,
                    OpenSslDeleter<ASN1_ENUMERATED, ASN1_ENUMERATED_free>>;

constexpr long kBackdateSeconds = 5 * 60;   // As cert_authority.cc.
constexpr size_t kMaxSerialHexLength = 40;  // RFC 5280: at most 20 octets.

// RFC 5280 section 5.3.1 CRLReason names and codes ("unspecified" and
// "removeFromCRL" deliberately absent).
constexpr std::pair<const char*, int> kReasons[] = {
    {"keyCompromise", CRL_REASON_KEY_COMPROMISE},
    {"caCompromise", CRL_REASON_CA_COMPROMISE},
    {"affiliationChanged", CRL_REASON_AFFILIATION_CHANGED},
    {"superseded", CRL_REASON_SUPERSEDED},
    {"cessationOfOperation", CRL_REASON_CESSATION_OF_OPERATION},
    {"certificateHold", CRL_REASON_CERTIFICATE_HOLD},
    {"privilegeWithdrawn", CRL_REASON_PRIVILEGE_WITHDRAWN},
};

int ReasonCode(const std::string& reason) {
  for (const auto& [name, code] : kReasons) {
    if (absl::EqualsIgnoreCase(reason, name)) return code;
  }
  return -1;
}

absl::StatusOr<std::string> SerialHex(const ASN1_INTEGER* serial) {
  BignumPtr bn(ASN1_INTEGER_to_BN(serial, nullptr));
  char* hex = bn != nullptr ? BN_bn2hex(bn.get()) : nullptr;
  if (hex == nullptr) {
    return OpenSslError(absl::StatusCode::kInternal, "cannot read serial");
  }
  std::string result(hex);
  OPENSSL_free(hex);
  return result;
}

absl::StatusOr<Asn1IntegerPtr> ParseSerial(const std::string& hex) {
  const bool plain_hex = !hex.empty() && hex.size() <= kMaxSerialHexLength &&
                         std::all_of(hex.begin(), hex.end(), [](char c) {
                           return absl::ascii_isxdigit(c);
                         });
  BIGNUM* raw = nullptr;
  if (!plain_hex ||
      BN_hex2bn(&raw, hex.c_str()) != static_cast<int>(hex.size())) {
    BN_free(raw);
    ERR_clear_error();
    return absl::InvalidArgumentError(
        absl::StrCat("invalid serial '", hex.substr(0, kMaxSerialHexLength),
                     "': want 1 to 40 hex digits"));
  }
  BignumPtr bn(raw);
  Asn1IntegerPtr serial(BN_to_ASN1_INTEGER(bn.get(), nullptr));
  if (serial == nullptr) {
    return OpenSslError(absl::StatusCode::kInternal, "cannot encode serial");
  }
  return serial;
}

absl::Status AddRevokedEntry(X509_CRL* crl, const RevokedCertificate& entry) {
  ASSIGN_OR_RETURN(Asn1IntegerPtr serial, ParseSerial(entry.serial_hex));
  X509RevokedPtr revoked(X509_REVOKED_new());
  Asn1TimePtr when(ASN1_TIME_set(nullptr, entry.revocation_time));
  if (revoked == nullptr || when == nullptr ||
      X509_REVOKED_set_serialNumber(revoked.get(), serial.get()) != 1 ||
      X509_REVOKED_set_revocationDate(revoked.get(), when.get()) != 1) {
    return OpenSslError(absl::StatusCode::kInternal, "cannot build CRL entry");
  }
  const int code = ReasonCode(entry.reason);
  if (code >= 0) {
    Asn1EnumeratedPtr reason(ASN1_ENUMERATED_new());
    if (reason == nullptr || ASN1_ENUMERATED_set(reason.get(), code) != 1 ||
        X509_REVOKED_add1_ext_i2d(revoked.get(), NID_crl_reason, reason.get(),
                                  0, 0) != 1) {
      return OpenSslError(absl::StatusCode::kInternal, "cannot add CRL reason");
    }
  }
  if (X509_CRL_add0_revoked(crl, revoked.get()) != 1) {
    return OpenSslError(absl::StatusCode::kInternal, "cannot add CRL entry");
  }
  revoked.release();  // Owned by `crl` now.
  return absl::OkStatus();
}

int64_t NowMicros() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Version, issuer, validity window, CRL number and AKI.
absl::Status FillCrlHeader(X509_CRL* crl, X509* ca_cert, int next_update_days,
                           int64_t crl_number) {
  Asn1TimePtr this_update(
      X509_time_adj_ex(nullptr, 0, -kBackdateSeconds, nullptr));
  Asn1TimePtr next_update(
      X509_time_adj_ex(nullptr, next_update_days, 0, nullptr));
  Asn1IntegerPtr number(ASN1_INTEGER_new());
  if (this_update == nullptr || next_update == nullptr || number == nullptr ||
      X509_CRL_set_version(crl, X509_CRL_VERSION_2) != 1 ||
      X509_CRL_set_issuer_name(crl, X509_get_subject_name(ca_cert)) != 1 ||
      X509_CRL_set1_lastUpdate(crl, this_update.get()) != 1 ||
      X509_CRL_set1_nextUpdate(crl, next_update.get()) != 1 ||
      ASN1_INTEGER_set_int64(number.get(), crl_number) != 1 ||
      X509_CRL_add1_ext_i2d(crl, NID_crl_number, number.get(), 0, 0) != 1) {
    return OpenSslError(absl::StatusCode::kInternal, "cannot fill CRL");
  }
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, ca_cert, nullptr, nullptr, crl, 0);
  X509ExtensionPtr aki(X509V3_EXT_nconf_nid(
      nullptr, &ctx, NID_authority_key_identifier, "keyid:always"));
  if (aki == nullptr || X509_CRL_add_ext(crl, aki.get(), -1) != 1) {
    return OpenSslError(absl::StatusCode::kInternal,
                        "cannot add authorityKeyIdentifier to CRL");
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> CrlToPem(X509_CRL* crl) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (bio == nullptr || PEM_write_bio_X509_CRL(bio.get(), crl) != 1) {
    return OpenSslError(absl::StatusCode::kInternal, "cannot write CRL PEM");
  }
  char* data = nullptr;
  const long size = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<size_t>(size));
}

std::time_t ToTimeT(const ASN1_TIME* time) {
  struct tm parts {};
  if (time == nullptr || ASN1_TIME_to_tm(time, &parts) != 1) return 0;
  return timegm(&parts);
}

// The CA certificate in `ca_pem` that issued and signed `crl`.
absl::Status VerifyCrlIssuer(X509_CRL* crl, std::string_view ca_pem) {
  std::vector<X509Ptr> cas = ParseCertificates(ca_pem);
  if (cas.empty()) {
    return absl::InvalidArgumentError("CA PEM holds no certificate");
  }
  for (const X509Ptr& ca : cas) {
    if (X509_NAME_cmp(X509_CRL_get_issuer(crl),
                      X509_get_subject_name(ca.get())) != 0) {
      continue;
    }
    EVP_PKEY* key = X509_get0_pubkey(ca.get());
    if (key != nullptr && X509_CRL_verify(crl, key) == 1) {
      return absl::OkStatus();
    }
  }
  ERR_clear_error();
  return absl::UnauthenticatedError(
      "revocation list is not signed by the federation's CA");
}

}  // namespace

absl::StatusOr<std::string> CreateRevocationList(
    const PemKeyPair& ca, const std::vector<RevokedCertificate>& revoked,
    int next_update_days, int64_t crl_number) {
  if (next_update_days < 1) {
    return absl::InvalidArgumentError("nextUpdate must be at least one day");
  }
  RETURN_IF_ERROR(CheckCertificateAuthority(ca));
  ASSIGN_OR_RETURN(X509Ptr ca_cert, ParseCertificate(ca.cert_pem));
  ASSIGN_OR_RETURN(EvpPkeyPtr ca_key, ParsePrivateKey(ca.key_pem.view()));
  X509CrlPtr crl(X509_CRL_new());
  if (crl == nullptr) {
    return OpenSslError(absl::StatusCode::kInternal, "out of memory");
  }
  RETURN_IF_ERROR(FillCrlHeader(crl.get(), ca_cert.get(), next_update_days,
                                crl_number > 0 ? crl_number : NowMicros()));
  std::set<std::string> seen;
  for (const RevokedCertificate& entry : revoked) {
    RETURN_IF_ERROR(AddRevokedEntry(crl.get(), entry));
    if (!seen.insert(absl::AsciiStrToUpper(entry.serial_hex)).second) {
      return absl::InvalidArgumentError(
          absl::StrCat("serial ", entry.serial_hex, " is listed twice"));
    }
  }
  if (X509_CRL_sort(crl.get()) != 1 ||
      X509_CRL_sign(crl.get(), ca_key.get(), EVP_sha256()) == 0) {
    return OpenSslError(absl::StatusCode::kInternal, "cannot sign CRL");
  }
  return CrlToPem(crl.get());
}

absl::StatusOr<RevocationListContents> ReadRevocationList(
    std::string_view crl_pem, std::string_view ca_pem) {
  BioPtr bio = MemoryBio(crl_pem);
  X509CrlPtr crl(bio != nullptr ? PEM_read_bio_X509_CRL(bio.get(), nullptr,
                                                        nullptr, nullptr)
                                : nullptr);
  if (crl == nullptr) {
    ERR_clear_error();
    return absl::InvalidArgumentError("no PEM revocation list (X509 CRL)");
  }
  RETURN_IF_ERROR(VerifyCrlIssuer(crl.get(), ca_pem));
  RevocationListContents contents;
  contents.this_update = ToTimeT(X509_CRL_get0_lastUpdate(crl.get()));
  const ASN1_TIME* next = X509_CRL_get0_nextUpdate(crl.get());
  contents.next_update = ToTimeT(next);
  contents.expired = next != nullptr && X509_cmp_current_time(next) <= 0;
  auto* number = static_cast<ASN1_INTEGER*>(
      X509_CRL_get_ext_d2i(crl.get(), NID_crl_number, nullptr, nullptr));
  int64_t value = -1;
  if (number != nullptr && ASN1_INTEGER_get_int64(&value, number) != 1) {
    value = -1;
  }
  contents.crl_number = number != nullptr ? value : -1;
  ASN1_INTEGER_free(number);
  STACK_OF(X509_REVOKED)* entries = X509_CRL_get_REVOKED(crl.get());
  for (int i = 0; i < sk_X509_REVOKED_num(entries); ++i) {
    ASSIGN_OR_RETURN(std::string serial,
                     SerialHex(X509_REVOKED_get0_serialNumber(
                         sk_X509_REVOKED_value(entries, i))));
    contents.revoked_serials.insert(std::move(serial));
  }
  ERR_clear_error();
  return contents;
}

absl::StatusOr<std::set<std::string>> RevokedSerials(std::string_view crl_pem,
                                                     std::string_view ca_pem) {
  ASSIGN_OR_RETURN(RevocationListContents contents,
                   ReadRevocationList(crl_pem, ca_pem));
  if (contents.expired) {
    return absl::FailedPreconditionError(
        "revocation list has expired (its nextUpdate has passed): publish a "
        "fresh crl.pem from the CA");
  }
  return std::move(contents.revoked_serials);
}

}  // namespace fedlearn
