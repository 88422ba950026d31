#include "common/tls/cert_authority.h"

#include <arpa/inet.h>
#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/crypto/openssl_util.h"
#include "common/util/status_macros.h"

namespace fedlearn {
namespace {

using crypto_internal::BignumPtr;
using crypto_internal::EvpPkeyPtr;
using crypto_internal::OpenSslError;
using crypto_internal::ParseCertificate;
using crypto_internal::ParsePrivateKey;
using crypto_internal::X509ExtensionPtr;
using crypto_internal::X509Ptr;

constexpr size_t kMaxClientIdLength = 64;
constexpr size_t kMaxDnsNameLength = 253;  // RFC 1035, section 2.3.4.
// Backdating notBefore tolerates peers whose clocks run slightly behind.
constexpr long kBackdateSeconds = 5 * 60;

// Debian's abseil is built with its own absl::string_view, distinct from
// std::string_view, so the two do not convert implicitly.
absl::string_view View(std::string_view s) { return {s.data(), s.size()}; }

// A CA certificate and its key, checked to belong together.
struct Issuer {
  X509Ptr cert;
  EvpPkeyPtr key;
};

absl::StatusOr<Issuer> ParseIssuer(const PemKeyPair& ca) {
  absl::StatusOr<X509Ptr> cert = ParseCertificate(ca.cert_pem);
  if (!cert.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("CA certificate: ", cert.status().message()));
  }
  absl::StatusOr<EvpPkeyPtr> key = ParsePrivateKey(ca.key_pem.view());
  if (!key.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("CA key: ", key.status().message()));
  }
  if (X509_check_ca(cert->get()) == 0) {
    return absl::InvalidArgumentError("CA certificate is not a CA");
  }
  if (X509_check_private_key(cert->get(), key->get()) != 1) {
    ERR_clear_error();
    return absl::InvalidArgumentError("CA key does not match CA certificate");
  }
  if (X509_cmp_current_time(X509_get0_notAfter(cert->get())) <= 0) {
    return absl::FailedPreconditionError("CA certificate has expired");
  }
  return Issuer{*std::move(cert), *std::move(key)};
}

bool IsDnsName(const std::string& name) {
  if (name.empty() || name.size() > kMaxDnsNameLength) return false;
  for (char c : name) {
    if (!absl::ascii_isalnum(c) && c != '.' && c != '-' && c != '*') {
      return false;
    }
  }
  return true;
}

bool IsIpAddress(const std::string& ip) {
  unsigned char buf[sizeof(in6_addr)];
  return inet_pton(AF_INET, ip.c_str(), buf) == 1 ||
         inet_pton(AF_INET6, ip.c_str(), buf) == 1;
}

// The SAN in OpenSSL's config syntax ("DNS:a,IP:b"). Names are validated first
// so that none can smuggle in a ',' and add entries of its own.
absl::StatusOr<std::string> SubjectAltNames(
    const std::vector<std::string>& dns_names,
    const std::vector<std::string>& ip_addresses) {
  RETURN_IF_ERROR(ValidateServerNames(dns_names, ip_addresses));
  std::vector<std::string> entries;
  for (const std::string& name : dns_names) {
    entries.push_back(absl::StrCat("DNS:", name));
  }
  for (const std::string& ip : ip_addresses) {
    entries.push_back(absl::StrCat("IP:", ip));
  }
  return absl::StrJoin(entries, ",");
}

absl::Status AddExtension(X509* cert, X509V3_CTX* ctx, int nid,
                          const std::string& value) {
  X509ExtensionPtr ext(X509V3_EXT_nconf_nid(nullptr, ctx, nid, value.c_str()));
  if (ext == nullptr || X509_add_ext(cert, ext.get(), -1) != 1) {
    return OpenSslError(
        absl::StatusCode::kInternal,
        absl::StrCat("cannot add extension ", OBJ_nid2sn(nid), " = ", value));
  }
  return absl::OkStatus();
}

absl::Status SetRandomSerial(X509* cert) {
  BignumPtr serial(BN_new());
  if (serial == nullptr ||
      BN_rand(serial.get(), 128, BN_RAND_TOP_ONE, BN_RAND_BOTTOM_ANY) != 1 ||
      BN_to_ASN1_INTEGER(serial.get(), X509_get_serialNumber(cert)) ==
          nullptr) {
    return OpenSslError(absl::StatusCode::kInternal, "cannot set serial");
  }
  return absl::OkStatus();
}

struct CertificateProfile {
  std::string_view common_name;
  std::vector<std::string> extra_common_names;  // Tests only.
  // The subject OU; kUnknown for none (the CA).
  CertificateRole role = CertificateRole::kUnknown;
  bool is_ca = false;
  std::string extended_key_usage;  // Empty for the CA.
  std::string subject_alt_names;   // Config syntax; empty for none.
  int valid_days = 0;
  int not_before_offset_days = 0;  // Tests only.
};

absl::Status AddNameEntry(X509_NAME* name, const char* field,
                          std::string_view value) {
  if (X509_NAME_add_entry_by_txt(
          name, field, MBSTRING_UTF8,
          reinterpret_cast<const unsigned char*>(value.data()),
          static_cast<int>(value.size()), -1, 0) != 1) {
    return OpenSslError(absl::StatusCode::kInvalidArgument,
                        absl::StrCat("invalid ", field, " '",
                                     absl::CHexEscape(View(value)), "'"));
  }
  return absl::OkStatus();
}

absl::Status SetSubject(X509_NAME* subject, const CertificateProfile& profile) {
  RETURN_IF_ERROR(AddNameEntry(subject, "CN", profile.common_name));
  for (const std::string& extra : profile.extra_common_names) {
    RETURN_IF_ERROR(AddNameEntry(subject, "CN", extra));
  }
  if (profile.role != CertificateRole::kUnknown) {
    RETURN_IF_ERROR(
        AddNameEntry(subject, "OU", CertificateRoleName(profile.role)));
  }
  return absl::OkStatus();
}

// Subject, issuer, validity (clamped to the issuer's), serial and key of
// `cert`; `issuer` null means self-signed.
absl::Status FillCertificate(X509* cert, const CertificateProfile& profile,
                             const Issuer* issuer, EVP_PKEY* key) {
  X509_NAME* subject = X509_get_subject_name(cert);
  RETURN_IF_ERROR(SetSubject(subject, profile));
  const int offset_days = profile.not_before_offset_days;
  X509* issuer_cert = issuer != nullptr ? issuer->cert.get() : nullptr;
  if (X509_set_version(cert, X509_VERSION_3) != 1 ||
      X509_set_issuer_name(cert, issuer_cert != nullptr
                                     ? X509_get_subject_name(issuer_cert)
                                     : subject) != 1 ||
      X509_time_adj_ex(X509_getm_notBefore(cert), offset_days,
                       -kBackdateSeconds, nullptr) == nullptr ||
      X509_time_adj_ex(X509_getm_notAfter(cert),
                       offset_days + profile.valid_days, 0,
                       nullptr) == nullptr ||
      X509_set_pubkey(cert, key) != 1) {
    return OpenSslError(absl::StatusCode::kInternal, "cannot fill certificate");
  }
  if (issuer_cert != nullptr &&
      ASN1_TIME_compare(X509_get0_notAfter(cert),
                        X509_get0_notAfter(issuer_cert)) > 0 &&
      X509_set1_notAfter(cert, X509_get0_notAfter(issuer_cert)) != 1) {
    return OpenSslError(absl::StatusCode::kInternal, "cannot clamp validity");
  }
  return SetRandomSerial(cert);
}

absl::Status AddExtensions(X509* cert, const CertificateProfile& profile,
                           const Issuer* issuer) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer ? issuer->cert.get() : cert, cert, nullptr,
                 nullptr, 0);
  std::vector<std::pair<int, std::string>> extensions = {
      {NID_basic_constraints,
       profile.is_ca ? "critical,CA:TRUE" : "critical,CA:FALSE"},
      {NID_key_usage, profile.is_ca ? "critical,keyCertSign,cRLSign"
                                    : "critical,digitalSignature"},
      // SKI before AKI: a self-signed AKI copies the SKI.
      {NID_subject_key_identifier, "hash"},
      {NID_authority_key_identifier, "keyid:always"},
  };
  if (!profile.extended_key_usage.empty()) {
    extensions.emplace_back(NID_ext_key_usage, profile.extended_key_usage);
  }
  if (!profile.subject_alt_names.empty()) {
    extensions.emplace_back(NID_subject_alt_name, profile.subject_alt_names);
  }
  for (const auto& [nid, value] : extensions) {
    RETURN_IF_ERROR(AddExtension(cert, &ctx, nid, value));
  }
  return absl::OkStatus();
}

// Issues a certificate for a fresh P-256 key, signed by `issuer`, or
// self-signed when `issuer` is null.
absl::StatusOr<PemKeyPair> BuildCertificate(const CertificateProfile& profile,
                                            const Issuer* issuer) {
  if (profile.valid_days < 1) {
    return absl::InvalidArgumentError("validity must be at least one day");
  }
  if (profile.common_name.empty()) {
    return absl::InvalidArgumentError("common name must not be empty");
  }
  EvpPkeyPtr key(EVP_EC_gen("P-256"));
  X509Ptr cert(X509_new());
  if (key == nullptr || cert == nullptr) {
    return OpenSslError(absl::StatusCode::kInternal, "key generation failed");
  }
  RETURN_IF_ERROR(FillCertificate(cert.get(), profile, issuer, key.get()));
  RETURN_IF_ERROR(AddExtensions(cert.get(), profile, issuer));
  EVP_PKEY* signer = issuer != nullptr ? issuer->key.get() : key.get();
  if (X509_sign(cert.get(), signer, EVP_sha256()) == 0) {
    return OpenSslError(absl::StatusCode::kInternal, "signing failed");
  }
  PemKeyPair pair;
  ASSIGN_OR_RETURN(pair.cert_pem,
                   crypto_internal::CertificateToPem(cert.get()));
  ASSIGN_OR_RETURN(pair.key_pem, crypto_internal::PrivateKeyToPem(key.get()));
  return pair;
}

}  // namespace

absl::Status ValidateClientId(std::string_view client_id) {
  const std::string quoted =
      absl::StrCat("'", absl::CHexEscape(View(client_id)), "'");
  if (client_id.empty() || client_id.size() > kMaxClientIdLength) {
    return absl::InvalidArgumentError(
        absl::StrCat("client id ", quoted, " must be 1 to 64 characters long"));
  }
  if (!absl::ascii_isalnum(client_id[0])) {
    return absl::InvalidArgumentError(absl::StrCat(
        "client id ", quoted, " must start with a letter or digit"));
  }
  for (char c : client_id) {
    if (!absl::ascii_isalnum(c) && c != '.' && c != '_' && c != '-') {
      return absl::InvalidArgumentError(absl::StrCat(
          "client id ", quoted, " may contain only [A-Za-z0-9._-]"));
    }
  }
  // Case-insensitively, so "CA.pem" cannot replace ca.pem on such filesystems.
  if (absl::EqualsIgnoreCase(View(client_id), "ca") ||
      absl::EqualsIgnoreCase(View(client_id), "server")) {
    return absl::InvalidArgumentError(
        absl::StrCat("client id ", quoted, " is reserved"));
  }
  return absl::OkStatus();
}

absl::Status ValidateServerNames(const std::vector<std::string>& dns_names,
                                 const std::vector<std::string>& ip_addresses) {
  for (const std::string& name : dns_names) {
    if (!IsDnsName(name)) {
      return absl::InvalidArgumentError(
          absl::StrCat("invalid DNS name '", absl::CHexEscape(name), "'"));
    }
  }
  for (const std::string& ip : ip_addresses) {
    if (!IsIpAddress(ip)) {
      return absl::InvalidArgumentError(
          absl::StrCat("invalid IP address '", absl::CHexEscape(ip), "'"));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<PemKeyPair> CreateCertificateAuthority(
    std::string_view common_name, int valid_days) {
  CertificateProfile profile;
  profile.common_name = common_name;
  profile.is_ca = true;
  profile.valid_days = valid_days;
  return BuildCertificate(profile, nullptr);
}

absl::StatusOr<PemKeyPair> IssueServerCertificate(
    const PemKeyPair& ca, std::string_view common_name,
    const std::vector<std::string>& dns_names,
    const std::vector<std::string>& ip_addresses, int valid_days) {
  if (dns_names.empty() && ip_addresses.empty()) {
    return absl::InvalidArgumentError(
        "a server certificate needs at least one DNS name or IP address");
  }
  ASSIGN_OR_RETURN(Issuer issuer, ParseIssuer(ca));
  CertificateProfile profile;
  ASSIGN_OR_RETURN(profile.subject_alt_names,
                   SubjectAltNames(dns_names, ip_addresses));
  profile.common_name = common_name;
  profile.role = CertificateRole::kCoordinator;
  profile.extended_key_usage = "serverAuth";
  profile.valid_days = valid_days;
  return BuildCertificate(profile, &issuer);
}

absl::StatusOr<PemKeyPair> IssueClientCertificate(const PemKeyPair& ca,
                                                  std::string_view client_id,
                                                  const IssueOptions& options) {
  RETURN_IF_ERROR(ValidateClientId(client_id));
  ASSIGN_OR_RETURN(Issuer issuer, ParseIssuer(ca));
  CertificateProfile profile;
  profile.common_name = client_id;
  profile.extra_common_names = options.extra_common_names;
  profile.role = options.role;
  profile.extended_key_usage =
      options.omit_client_auth_eku ? "serverAuth" : "clientAuth";
  profile.subject_alt_names = absl::StrCat("DNS:", View(client_id));
  profile.valid_days = options.valid_days;
  profile.not_before_offset_days = options.not_before_offset_days;
  return BuildCertificate(profile, &issuer);
}

absl::StatusOr<PemKeyPair> IssueClientCertificate(const PemKeyPair& ca,
                                                  std::string_view client_id,
                                                  int valid_days) {
  IssueOptions options;
  options.valid_days = valid_days;
  return IssueClientCertificate(ca, client_id, options);
}

IssueOptions ExpiredIssueOptions() {
  IssueOptions options;
  options.valid_days = 1;
  options.not_before_offset_days = -10;
  return options;
}

std::string_view CertificateRoleName(CertificateRole role) {
  switch (role) {
    case CertificateRole::kSite:
      return "site";
    case CertificateRole::kOperator:
      return "operator";
    case CertificateRole::kCoordinator:
      return "coordinator";
    case CertificateRole::kUnknown:
      break;
  }
  return "unknown";
}

CertificateRole CertificateRoleFromName(std::string_view name) {
  for (CertificateRole role :
       {CertificateRole::kSite, CertificateRole::kOperator,
        CertificateRole::kCoordinator}) {
    if (name == CertificateRoleName(role)) return role;
  }
  return CertificateRole::kUnknown;
}

absl::StatusOr<CertificateRole> RoleOfCertificate(std::string_view cert_pem) {
  ASSIGN_OR_RETURN(X509Ptr cert, ParseCertificate(cert_pem));
  const X509_NAME* subject = X509_get_subject_name(cert.get());
  const int index =
      X509_NAME_get_index_by_NID(subject, NID_organizationalUnitName, -1);
  if (index < 0) return CertificateRole::kUnknown;
  if (X509_NAME_get_index_by_NID(subject, NID_organizationalUnitName, index) >=
      0) {
    return absl::InvalidArgumentError("certificate subject has several OUs");
  }
  const ASN1_STRING* value =
      X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subject, index));
  const std::string_view text(
      reinterpret_cast<const char*>(ASN1_STRING_get0_data(value)),
      static_cast<size_t>(ASN1_STRING_length(value)));
  return CertificateRoleFromName(text);
}

absl::StatusOr<std::string> SerialOfCertificate(std::string_view cert_pem) {
  ASSIGN_OR_RETURN(X509Ptr cert, ParseCertificate(cert_pem));
  BignumPtr serial(
      ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert.get()), nullptr));
  char* hex = serial != nullptr ? BN_bn2hex(serial.get()) : nullptr;
  if (hex == nullptr) {
    return OpenSslError(absl::StatusCode::kInternal, "cannot read serial");
  }
  std::string result(hex);
  OPENSSL_free(hex);
  return result;
}

absl::Status CheckCertificateAuthority(const PemKeyPair& ca) {
  return ParseIssuer(ca).status();
}

absl::StatusOr<std::string> CommonNameOfCertificate(std::string_view cert_pem) {
  ASSIGN_OR_RETURN(X509Ptr cert, ParseCertificate(cert_pem));
  return CommonNameOf(cert.get());
}

absl::StatusOr<std::vector<std::string>> SubjectAltNamesOfCertificate(
    std::string_view cert_pem) {
  ASSIGN_OR_RETURN(X509Ptr cert, ParseCertificate(cert_pem));
  std::vector<std::string> entries;
  // -1: no SAN extension; 0/1: present (non-critical/critical); -2: twice.
  int found = -1;
  auto* names = static_cast<GENERAL_NAMES*>(
      X509_get_ext_d2i(cert.get(), NID_subject_alt_name, &found, nullptr));
  if (names == nullptr) {
    if (found == -1) return entries;
    // A SAN that is present but does not decode is not "no SANs"; and the
    // decoder's error must not linger for the thread's next OpenSSL call.
    ERR_clear_error();
    return absl::InvalidArgumentError(
        found == -2 ? "certificate carries two subjectAltName extensions"
                    : "certificate's subjectAltName extension does not "
                      "decode");
  }
  for (int i = 0; i < sk_GENERAL_NAME_num(names); ++i) {
    const GENERAL_NAME* name = sk_GENERAL_NAME_value(names, i);
    if (name->type == GEN_DNS) {
      const ASN1_IA5STRING* dns = name->d.dNSName;
      entries.push_back("DNS:" + std::string(reinterpret_cast<const char*>(
                                                 ASN1_STRING_get0_data(dns)),
                                             ASN1_STRING_length(dns)));
    } else if (name->type == GEN_IPADD) {
      const ASN1_OCTET_STRING* ip = name->d.iPAddress;
      const int length = ASN1_STRING_length(ip);
      char text[INET6_ADDRSTRLEN] = {0};
      const int family =
          length == 4 ? AF_INET : (length == 16 ? AF_INET6 : AF_UNSPEC);
      if (family == AF_UNSPEC || inet_ntop(family, ASN1_STRING_get0_data(ip),
                                           text, sizeof(text)) == nullptr) {
        entries.push_back("IP:?");
      } else {
        entries.push_back(absl::StrCat("IP:", text));
      }
    } else {
      entries.push_back("OTHER");
    }
  }
  GENERAL_NAMES_free(names);
  return entries;
}

absl::StatusOr<std::time_t> NotAfterOfCertificate(std::string_view cert_pem) {
  ASSIGN_OR_RETURN(X509Ptr cert, ParseCertificate(cert_pem));
  struct tm parts {};
  if (ASN1_TIME_to_tm(X509_get0_notAfter(cert.get()), &parts) != 1) {
    return OpenSslError(absl::StatusCode::kInvalidArgument,
                        "cannot read notAfter");
  }
  return timegm(&parts);
}

}  // namespace fedlearn
