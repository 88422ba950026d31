#include "common/tls/cert_authority.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <filesystem>
#include <memory>
#include <set>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace fedlearn {
namespace {

namespace fs = std::filesystem;

template <auto kFree>
struct OpenSslDeleter {
  template <typename T>
  void operator()(T* p) const {
    kFree(p);
  }
};
using BioPtr = std::unique_ptr<BIO, OpenSslDeleter<BIO_free_all>>;
using BignumPtr = std::unique_ptr<BIGNUM, OpenSslDeleter<BN_free>>;
using EvpPkeyPtr = std::unique_ptr<EVP_PKEY, OpenSslDeleter<EVP_PKEY_free>>;
using ExtensionPtr =
    std::unique_ptr<X509_EXTENSION, OpenSslDeleter<X509_EXTENSION_free>>;
using StoreCtxPtr =
    std::unique_ptr<X509_STORE_CTX, OpenSslDeleter<X509_STORE_CTX_free>>;
using StorePtr = std::unique_ptr<X509_STORE, OpenSslDeleter<X509_STORE_free>>;
using X509Ptr = std::unique_ptr<X509, OpenSslDeleter<X509_free>>;

constexpr size_t kMaxClientIdLength = 64;
constexpr size_t kMaxDnsNameLength = 253;  // RFC 1035, section 2.3.4.
// Backdating notBefore tolerates peers whose clocks run slightly behind.
constexpr long kBackdateSeconds = 5 * 60;
constexpr char kCaCommonName[] = "fedlearn-ca";
constexpr char kServerCommonName[] = "fedlearn-coordinator";

// Drains the OpenSSL error queue into the status, so that a failure here does
// not surface in the diagnostics of some later, unrelated call.
absl::Status OpenSslError(absl::StatusCode code, absl::string_view what) {
  std::string detail;
  while (unsigned long err = ERR_get_error()) {
    char buf[256];
    ERR_error_string_n(err, buf, sizeof(buf));
    absl::StrAppend(&detail, detail.empty() ? "" : "; ", buf);
  }
  if (detail.empty()) return absl::Status(code, what);
  return absl::Status(code, absl::StrCat(what, " (", detail, ")"));
}

// Debian's abseil is built with its own absl::string_view, distinct from
// std::string_view, so the two do not convert implicitly.
absl::string_view View(std::string_view s) { return {s.data(), s.size()}; }

absl::StatusOr<BioPtr> ReadOnlyBio(std::string_view bytes) {
  // BIO_new_mem_buf reads a negative length as "NUL-terminated".
  if (bytes.size() > INT_MAX) {
    return absl::InvalidArgumentError("PEM too large");
  }
  BioPtr bio(BIO_new_mem_buf(bytes.data(), static_cast<int>(bytes.size())));
  if (bio == nullptr) return OpenSslError(absl::StatusCode::kInternal, "BIO");
  return bio;
}

std::string MemoryBioContents(BIO* bio) {
  char* data = nullptr;
  const long size = BIO_get_mem_data(bio, &data);
  return std::string(data, size);
}

absl::StatusOr<X509Ptr> ParseCertificate(std::string_view pem) {
  absl::StatusOr<BioPtr> bio = ReadOnlyBio(pem);
  if (!bio.ok()) return bio.status();
  X509Ptr cert(PEM_read_bio_X509(bio->get(), nullptr, nullptr, nullptr));
  if (cert == nullptr) {
    return OpenSslError(absl::StatusCode::kInvalidArgument,
                        "not a PEM certificate");
  }
  return cert;
}

absl::StatusOr<EvpPkeyPtr> ParsePrivateKey(std::string_view pem) {
  absl::StatusOr<BioPtr> bio = ReadOnlyBio(pem);
  if (!bio.ok()) return bio.status();
  // Without a callback OpenSSL would prompt on the terminal for a passphrase.
  pem_password_cb* no_passphrase = [](char*, int, int, void*) { return 0; };
  EvpPkeyPtr key(
      PEM_read_bio_PrivateKey(bio->get(), nullptr, no_passphrase, nullptr));
  if (key == nullptr) {
    return OpenSslError(absl::StatusCode::kInvalidArgument,
                        "not an unencrypted PEM private key");
  }
  return key;
}

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
  absl::StatusOr<EvpPkeyPtr> key = ParsePrivateKey(ca.key_pem.value());
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
  std::vector<std::string> entries;
  for (const std::string& name : dns_names) {
    if (!IsDnsName(name)) {
      return absl::InvalidArgumentError(
          absl::StrCat("invalid DNS name '", absl::CHexEscape(name), "'"));
    }
    entries.push_back(absl::StrCat("DNS:", name));
  }
  for (const std::string& ip : ip_addresses) {
    if (!IsIpAddress(ip)) {
      return absl::InvalidArgumentError(
          absl::StrCat("invalid IP address '", absl::CHexEscape(ip), "'"));
    }
    entries.push_back(absl::StrCat("IP:", ip));
  }
  return absl::StrJoin(entries, ",");
}

absl::Status AddExtension(X509* cert, X509V3_CTX* ctx, int nid,
                          const std::string& value) {
  ExtensionPtr ext(X509V3_EXT_nconf_nid(nullptr, ctx, nid, value.c_str()));
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
  bool is_ca = false;
  std::string extended_key_usage;  // Empty for the CA.
  std::string subject_alt_names;   // Config syntax; empty for none.
  int valid_days = 0;
};

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
  X509* x = cert.get();
  X509_NAME* subject = X509_get_subject_name(x);
  if (X509_NAME_add_entry_by_txt(
          subject, "CN", MBSTRING_UTF8,
          reinterpret_cast<const unsigned char*>(profile.common_name.data()),
          static_cast<int>(profile.common_name.size()), -1, 0) != 1) {
    return OpenSslError(
        absl::StatusCode::kInvalidArgument,
        absl::StrCat("invalid common name '", View(profile.common_name), "'"));
  }
  if (X509_set_version(x, X509_VERSION_3) != 1 ||
      X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer->cert.get())
                                     : subject) != 1 ||
      X509_time_adj_ex(X509_getm_notBefore(x), 0, -kBackdateSeconds, nullptr) ==
          nullptr ||
      X509_time_adj_ex(X509_getm_notAfter(x), profile.valid_days, 0, nullptr) ==
          nullptr ||
      X509_set_pubkey(x, key.get()) != 1) {
    return OpenSslError(absl::StatusCode::kInternal, "cannot fill certificate");
  }
  if (issuer != nullptr &&
      ASN1_TIME_compare(X509_get0_notAfter(x),
                        X509_get0_notAfter(issuer->cert.get())) > 0 &&
      X509_set1_notAfter(x, X509_get0_notAfter(issuer->cert.get())) != 1) {
    return OpenSslError(absl::StatusCode::kInternal, "cannot clamp validity");
  }
  if (absl::Status s = SetRandomSerial(x); !s.ok()) return s;

  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer ? issuer->cert.get() : x, x, nullptr, nullptr, 0);
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
    if (absl::Status s = AddExtension(x, &ctx, nid, value); !s.ok()) return s;
  }
  if (X509_sign(x, issuer ? issuer->key.get() : key.get(), EVP_sha256()) == 0) {
    return OpenSslError(absl::StatusCode::kInternal, "signing failed");
  }

  BioPtr cert_bio(BIO_new(BIO_s_mem()));
  BioPtr key_bio(BIO_new(BIO_s_mem()));  // Freed with OPENSSL_clear_free.
  if (cert_bio == nullptr || key_bio == nullptr ||
      PEM_write_bio_X509(cert_bio.get(), x) != 1 ||
      PEM_write_bio_PrivateKey(key_bio.get(), key.get(), nullptr, nullptr, 0,
                               nullptr, nullptr) != 1) {
    return OpenSslError(absl::StatusCode::kInternal, "PEM encoding failed");
  }
  return PemKeyPair{MemoryBioContents(cert_bio.get()),
                    SecretString(MemoryBioContents(key_bio.get()))};
}

// Reads with read(2) rather than a stream so that no library buffer keeps a
// copy of a private key.
absl::StatusOr<std::string> ReadFile(const std::string& path) {
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    return absl::ErrnoToStatus(errno, absl::StrCat("cannot open ", path));
  }
  std::string contents;
  struct stat st;
  int err = fstat(fd, &st) == 0 ? 0 : errno;
  if (err == 0) contents.resize(st.st_size);
  size_t done = 0;
  while (err == 0 && done < contents.size()) {
    const ssize_t n = read(fd, contents.data() + done, contents.size() - done);
    if (n > 0) {
      done += n;
    } else if (n == 0) {
      contents.resize(done);  // Shrank while we read.
    } else if (errno != EINTR) {
      err = errno;
    }
  }
  close(fd);
  if (err != 0) {
    return absl::ErrnoToStatus(err, absl::StrCat("cannot read ", path));
  }
  return contents;
}

// Writes a temporary file with `mode` and renames it over `path`, so a reader
// never sees a partial file and a key is never briefly world-readable.
absl::Status WriteFileAtomically(const std::string& path,
                                 const std::string& contents, mode_t mode) {
  std::string tmp = path + ".XXXXXX";
  const int fd = mkstemp(tmp.data());  // Created with mode 0600.
  if (fd < 0) {
    return absl::ErrnoToStatus(errno, absl::StrCat("cannot write ", path));
  }
  int err = fchmod(fd, mode) == 0 ? 0 : errno;
  size_t done = 0;
  while (err == 0 && done < contents.size()) {
    const ssize_t n = write(fd, contents.data() + done, contents.size() - done);
    if (n >= 0) {
      done += n;
    } else if (errno != EINTR) {
      err = errno;
    }
  }
  if (err == 0 && fsync(fd) != 0) err = errno;
  if (close(fd) != 0 && err == 0) err = errno;
  if (err == 0 && rename(tmp.c_str(), path.c_str()) != 0) err = errno;
  if (err != 0) {
    unlink(tmp.c_str());
    return absl::ErrnoToStatus(err, absl::StrCat("cannot write ", path));
  }
  return absl::OkStatus();
}

absl::Status CreateDirectory(const std::string& dir) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot create directory ", dir, ": ", ec.message()));
  }
  return absl::OkStatus();
}

bool Exists(const std::string& path) {
  std::error_code ec;
  return fs::exists(path, ec);
}

std::string PemPath(const std::string& dir, const std::string& name) {
  return (fs::path(dir) / (name + ".pem")).string();
}

std::string KeyPath(const std::string& dir, const std::string& name) {
  return (fs::path(dir) / (name + ".key")).string();
}

// Key first: if we die in between, the missing .pem makes the next run
// reissue the pair.
absl::Status WritePair(const std::string& dir, const std::string& name,
                       const PemKeyPair& pair,
                       std::vector<std::string>* written) {
  const std::string key_path = KeyPath(dir, name);
  const std::string pem_path = PemPath(dir, name);
  if (absl::Status s =
          WriteFileAtomically(key_path, pair.key_pem.value(), 0600);
      !s.ok()) {
    return s;
  }
  if (absl::Status s = WriteFileAtomically(pem_path, pair.cert_pem, 0644);
      !s.ok()) {
    return s;
  }
  written->push_back(pem_path);
  written->push_back(key_path);
  return absl::OkStatus();
}

absl::StatusOr<PemKeyPair> LoadCertificateAuthority(const std::string& dir) {
  absl::StatusOr<std::string> cert = ReadFile(PemPath(dir, "ca"));
  if (!cert.ok()) return cert.status();
  absl::StatusOr<std::string> key = ReadFile(KeyPath(dir, "ca"));
  if (!key.ok()) return key.status();
  PemKeyPair ca{*std::move(cert), SecretString(*std::move(key))};
  if (absl::StatusOr<Issuer> issuer = ParseIssuer(ca); !issuer.ok()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "unusable ca.pem/ca.key in ", dir, ": ", issuer.status().message(),
        "; regenerating them (force) invalidates every issued certificate"));
  }
  return ca;
}

// The explicit ids, then prefix + 001..N, without duplicates.
absl::StatusOr<std::vector<std::string>> ClientIds(
    const ProvisionOptions& options) {
  std::vector<std::string> candidates = options.client_ids;
  for (int i = 1; i <= options.num_clients; ++i) {
    candidates.push_back(
        absl::StrCat(options.client_prefix, absl::Dec(i, absl::kZeroPad3)));
  }
  std::vector<std::string> ids;
  std::set<std::string> seen;
  for (std::string& id : candidates) {
    if (absl::Status s = ValidateClientId(id); !s.ok()) return s;
    if (seen.insert(id).second) ids.push_back(std::move(id));
  }
  return ids;
}

}  // namespace

SecretString& SecretString::operator=(SecretString&& other) noexcept {
  if (this != &other) {
    Wipe();
    value_ = std::move(other.value_);
  }
  return *this;
}

void SecretString::Wipe() {
  OPENSSL_cleanse(value_.data(), value_.size());
  value_.clear();
}

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
  absl::StatusOr<Issuer> issuer = ParseIssuer(ca);
  if (!issuer.ok()) return issuer.status();
  absl::StatusOr<std::string> san = SubjectAltNames(dns_names, ip_addresses);
  if (!san.ok()) return san.status();
  CertificateProfile profile;
  profile.common_name = common_name;
  profile.extended_key_usage = "serverAuth";
  profile.subject_alt_names = *std::move(san);
  profile.valid_days = valid_days;
  return BuildCertificate(profile, &*issuer);
}

absl::StatusOr<PemKeyPair> IssueClientCertificate(const PemKeyPair& ca,
                                                  std::string_view client_id,
                                                  int valid_days) {
  if (absl::Status s = ValidateClientId(client_id); !s.ok()) return s;
  absl::StatusOr<Issuer> issuer = ParseIssuer(ca);
  if (!issuer.ok()) return issuer.status();
  CertificateProfile profile;
  profile.common_name = client_id;
  profile.extended_key_usage = "clientAuth";
  profile.subject_alt_names = absl::StrCat("DNS:", View(client_id));
  profile.valid_days = valid_days;
  return BuildCertificate(profile, &*issuer);
}

absl::StatusOr<std::string> CommonNameOfCertificate(std::string_view cert_pem) {
  absl::StatusOr<X509Ptr> cert = ParseCertificate(cert_pem);
  if (!cert.ok()) return cert.status();
  const X509_NAME* subject = X509_get_subject_name(cert->get());
  const int index = X509_NAME_get_index_by_NID(subject, NID_commonName, -1);
  if (index < 0) {
    return absl::NotFoundError("certificate has no common name");
  }
  unsigned char* utf8 = nullptr;
  const int size = ASN1_STRING_to_UTF8(
      &utf8, X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subject, index)));
  if (size < 0) {
    return OpenSslError(absl::StatusCode::kInvalidArgument,
                        "common name is not a valid string");
  }
  std::string common_name(reinterpret_cast<char*>(utf8), size);
  OPENSSL_free(utf8);
  return common_name;
}

absl::StatusOr<std::vector<std::string>> SubjectAltNamesOfCertificate(
    std::string_view cert_pem) {
  absl::StatusOr<X509Ptr> cert = ParseCertificate(cert_pem);
  if (!cert.ok()) return cert.status();
  std::vector<std::string> entries;
  auto* names = static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(
      cert->get(), NID_subject_alt_name, nullptr, nullptr));
  if (names == nullptr) return entries;
  for (int i = 0; i < sk_GENERAL_NAME_num(names); ++i) {
    const GENERAL_NAME* name = sk_GENERAL_NAME_value(names, i);
    if (name->type == GEN_DNS) {
      const ASN1_IA5STRING* dns = name->d.dNSName;
      entries.push_back(
          "DNS:" + std::string(reinterpret_cast<const char*>(
                                   ASN1_STRING_get0_data(dns)),
                               ASN1_STRING_length(dns)));
    } else if (name->type == GEN_IPADD) {
      const ASN1_OCTET_STRING* ip = name->d.iPAddress;
      const int length = ASN1_STRING_length(ip);
      char text[INET6_ADDRSTRLEN] = {0};
      const int family =
          length == 4 ? AF_INET : (length == 16 ? AF_INET6 : AF_UNSPEC);
      if (family == AF_UNSPEC ||
          inet_ntop(family, ASN1_STRING_get0_data(ip), text, sizeof(text)) ==
              nullptr) {
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

absl::Status VerifyCertificateChain(std::string_view ca_pem,
                                    std::string_view cert_pem) {
  absl::StatusOr<X509Ptr> ca = ParseCertificate(ca_pem);
  if (!ca.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("CA certificate: ", ca.status().message()));
  }
  absl::StatusOr<X509Ptr> cert = ParseCertificate(cert_pem);
  if (!cert.ok()) return cert.status();
  StorePtr store(X509_STORE_new());
  StoreCtxPtr ctx(X509_STORE_CTX_new());
  if (store == nullptr || ctx == nullptr ||
      X509_STORE_add_cert(store.get(), ca->get()) != 1 ||
      X509_STORE_CTX_init(ctx.get(), store.get(), cert->get(), nullptr) != 1) {
    return OpenSslError(absl::StatusCode::kInternal,
                        "cannot set up X509_STORE");
  }
  if (X509_verify_cert(ctx.get()) != 1) {
    const int err = X509_STORE_CTX_get_error(ctx.get());
    ERR_clear_error();
    return absl::UnauthenticatedError(
        absl::StrCat("certificate does not verify against the CA: ",
                     X509_verify_cert_error_string(err)));
  }
  return absl::OkStatus();
}

absl::StatusOr<ProvisionReport> ProvisionDirectory(
    const ProvisionOptions& options) {
  if (options.out_dir.empty()) {
    return absl::InvalidArgumentError("output directory must be given");
  }
  if (options.num_clients < 0 || options.valid_days < 1) {
    return absl::InvalidArgumentError(
        "need num_clients >= 0 and valid_days >= 1");
  }
  // Everything is validated before the first file is touched.
  absl::StatusOr<std::vector<std::string>> client_ids = ClientIds(options);
  if (!client_ids.ok()) return client_ids.status();
  absl::StatusOr<std::string> server_san =
      SubjectAltNames(options.server_dns, options.server_ips);
  if (!server_san.ok()) return server_san.status();
  const std::string& dir = options.out_dir;
  if (absl::Status s = CreateDirectory(dir); !s.ok()) return s;

  ProvisionReport report;
  const bool has_ca_pem = Exists(PemPath(dir, "ca"));
  const bool has_ca_key = Exists(KeyPath(dir, "ca"));
  // A fresh CA invalidates every certificate already in the directory.
  const bool reissue_all = options.force || (!has_ca_pem && !has_ca_key);
  PemKeyPair ca;
  if (reissue_all) {
    absl::StatusOr<PemKeyPair> created =
        CreateCertificateAuthority(kCaCommonName, options.valid_days);
    if (!created.ok()) return created.status();
    ca = *std::move(created);
    if (absl::Status s = WritePair(dir, "ca", ca, &report.written); !s.ok()) {
      return s;
    }
  } else if (has_ca_pem != has_ca_key) {
    return absl::FailedPreconditionError(absl::StrCat(
        dir,
        " holds only one of ca.pem and ca.key; restore the other or "
        "regenerate both (force), which invalidates every issued "
        "certificate"));
  } else {
    absl::StatusOr<PemKeyPair> loaded = LoadCertificateAuthority(dir);
    if (!loaded.ok()) return loaded.status();
    ca = *std::move(loaded);
    report.kept = {PemPath(dir, "ca"), KeyPath(dir, "ca")};
  }

  auto provision = [&](const std::string& name, auto issue) -> absl::Status {
    const std::string pem_path = PemPath(dir, name);
    const std::string key_path = KeyPath(dir, name);
    if (!reissue_all && Exists(pem_path) && Exists(key_path)) {
      report.kept.push_back(pem_path);
      report.kept.push_back(key_path);
      return absl::OkStatus();
    }
    absl::StatusOr<PemKeyPair> pair = issue();
    if (!pair.ok()) return pair.status();
    return WritePair(dir, name, *pair, &report.written);
  };
  if (absl::Status s = provision("server",
                                 [&] {
                                   return IssueServerCertificate(
                                       ca, kServerCommonName,
                                       options.server_dns, options.server_ips,
                                       options.valid_days);
                                 });
      !s.ok()) {
    return s;
  }
  for (const std::string& id : *client_ids) {
    if (absl::Status s = provision(
            id,
            [&] { return IssueClientCertificate(ca, id, options.valid_days); });
        !s.ok()) {
      return s;
    }
  }
  return report;
}

absl::Status IssueClientFiles(const std::string& ca_dir,
                              const std::string& client_id,
                              const std::string& out_dir, int valid_days) {
  if (absl::Status s = ValidateClientId(client_id); !s.ok()) return s;
  for (const std::string& path :
       {PemPath(out_dir, client_id), KeyPath(out_dir, client_id)}) {
    if (Exists(path)) {
      return absl::AlreadyExistsError(
          absl::StrCat(path, " already exists; remove it to reissue"));
    }
  }
  absl::StatusOr<PemKeyPair> ca = LoadCertificateAuthority(ca_dir);
  if (!ca.ok()) return ca.status();
  absl::StatusOr<PemKeyPair> pair =
      IssueClientCertificate(*ca, client_id, valid_days);
  if (!pair.ok()) return pair.status();
  if (absl::Status s = CreateDirectory(out_dir); !s.ok()) return s;
  std::vector<std::string> written;
  return WritePair(out_dir, client_id, *pair, &written);
}

}  // namespace fedlearn
