#include "common/tls/cert_authority.h"

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <set>
#include <sstream>
#include <string>
#include <type_traits>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace fedlearn {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using ::testing::UnorderedElementsAre;

// A key pair is copied only on purpose (key_pem.Clone()).
static_assert(!std::is_copy_constructible_v<PemKeyPair>);
static_assert(std::is_same_v<decltype(PemKeyPair::key_pem), SecretBytes>);

struct X509Free {
  void operator()(X509* x) const { X509_free(x); }
};
using X509Ptr = std::unique_ptr<X509, X509Free>;

struct EvpPkeyFree {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};

X509Ptr ParseCert(const std::string& pem) {
  BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  X509Ptr cert(PEM_read_bio_X509(bio, nullptr, nullptr, nullptr));
  BIO_free(bio);
  return cert;
}

bool KeyMatchesCertificate(const PemKeyPair& pair) {
  X509Ptr cert = ParseCert(pair.cert_pem);
  BIO* bio = BIO_new_mem_buf(pair.key_pem.view().data(),
                             static_cast<int>(pair.key_pem.view().size()));
  std::unique_ptr<EVP_PKEY, EvpPkeyFree> key(
      PEM_read_bio_PrivateKey(bio, nullptr, nullptr, nullptr));
  BIO_free(bio);
  return cert && key && X509_check_private_key(cert.get(), key.get()) == 1;
}

std::string Slurp(const std::string& path) {
  std::ifstream in(path);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

mode_t PermissionBits(const std::string& path) {
  struct stat st {};
  EXPECT_EQ(stat(path.c_str(), &st), 0) << path;
  return st.st_mode & 0777;
}

PemKeyPair NewCa(int valid_days = 30) {
  absl::StatusOr<PemKeyPair> ca =
      CreateCertificateAuthority("test-ca", valid_days);
  EXPECT_TRUE(ca.ok()) << ca.status();
  return *std::move(ca);
}

PemKeyPair NewServer(const PemKeyPair& ca) {
  absl::StatusOr<PemKeyPair> server =
      IssueServerCertificate(ca, "server", {"localhost", "coordinator.example"},
                             {"127.0.0.1", "::1"}, 30);
  EXPECT_TRUE(server.ok()) << server.status();
  return *std::move(server);
}

PemKeyPair NewClient(const PemKeyPair& ca, const std::string& id) {
  absl::StatusOr<PemKeyPair> client = IssueClientCertificate(ca, id, 30);
  EXPECT_TRUE(client.ok()) << client.status();
  return *std::move(client);
}

TEST(CertAuthorityTest, ServerAndClientCertificatesVerifyAgainstTheirCa) {
  PemKeyPair ca = NewCa();
  EXPECT_TRUE(VerifyCertificateChain(ca.cert_pem, NewServer(ca).cert_pem).ok());
  EXPECT_TRUE(
      VerifyCertificateChain(ca.cert_pem, NewClient(ca, "h1").cert_pem).ok());
}

TEST(CertAuthorityTest, CertificateFromAnotherCaFailsVerification) {
  PemKeyPair ca = NewCa();
  PemKeyPair other_ca = NewCa();
  absl::Status status = VerifyCertificateChain(
      ca.cert_pem, NewClient(other_ca, "intruder").cert_pem);
  EXPECT_EQ(status.code(), absl::StatusCode::kUnauthenticated) << status;
}

TEST(CertAuthorityTest, ClientCommonNameIsTheClientId) {
  PemKeyPair ca = NewCa();
  absl::StatusOr<std::string> cn =
      CommonNameOfCertificate(NewClient(ca, "hospital_7.eu-west").cert_pem);
  ASSERT_TRUE(cn.ok()) << cn.status();
  EXPECT_EQ(*cn, "hospital_7.eu-west");
}

TEST(CertAuthorityTest, ServerCertificateCarriesRequestedSubjectAltNames) {
  PemKeyPair ca = NewCa();
  X509Ptr cert = ParseCert(NewServer(ca).cert_pem);
  ASSERT_NE(cert, nullptr);
  GENERAL_NAMES* names = static_cast<GENERAL_NAMES*>(
      X509_get_ext_d2i(cert.get(), NID_subject_alt_name, nullptr, nullptr));
  ASSERT_NE(names, nullptr);
  std::vector<std::string> dns;
  std::vector<std::string> ips;
  for (int i = 0; i < sk_GENERAL_NAME_num(names); ++i) {
    const GENERAL_NAME* name = sk_GENERAL_NAME_value(names, i);
    if (name->type == GEN_DNS) {
      dns.emplace_back(
          reinterpret_cast<const char*>(ASN1_STRING_get0_data(name->d.dNSName)),
          ASN1_STRING_length(name->d.dNSName));
    } else if (name->type == GEN_IPADD) {
      const unsigned char* ip = ASN1_STRING_get0_data(name->d.iPAddress);
      ips.emplace_back(ip, ip + ASN1_STRING_length(name->d.iPAddress));
    }
  }
  GENERAL_NAMES_free(names);
  EXPECT_THAT(dns, UnorderedElementsAre("localhost", "coordinator.example"));
  EXPECT_THAT(ips, UnorderedElementsAre(std::string("\x7f\x00\x00\x01", 4),
                                        std::string(15, '\0') + "\x01"));
}

TEST(CertAuthorityTest, SubjectAltNamesAreListedInOrderAsOperatorsWriteThem) {
  PemKeyPair ca = NewCa();
  absl::StatusOr<std::vector<std::string>> sans =
      SubjectAltNamesOfCertificate(NewServer(ca).cert_pem);
  ASSERT_TRUE(sans.ok()) << sans.status();
  EXPECT_EQ(*sans, (std::vector<std::string>{"DNS:localhost",
                                             "DNS:coordinator.example",
                                             "IP:127.0.0.1", "IP:::1"}));
  EXPECT_FALSE(SubjectAltNamesOfCertificate("not a certificate").ok());
}

TEST(CertAuthorityTest, ServerNamesThatCouldInjectSanEntriesAreRejected) {
  PemKeyPair ca = NewCa();
  EXPECT_FALSE(
      IssueServerCertificate(ca, "s", {"localhost,IP:10.0.0.1"}, {}, 30).ok());
  EXPECT_FALSE(IssueServerCertificate(ca, "s", {}, {"1.2.3.4.5"}, 30).ok());
  EXPECT_FALSE(IssueServerCertificate(ca, "s", {}, {}, 30).ok());
}

TEST(CertAuthorityTest, EveryIssuedKeyMatchesItsCertificate) {
  PemKeyPair ca = NewCa();
  EXPECT_TRUE(KeyMatchesCertificate(ca));
  EXPECT_TRUE(KeyMatchesCertificate(NewServer(ca)));
  EXPECT_TRUE(KeyMatchesCertificate(NewClient(ca, "h1")));
}

TEST(CertAuthorityTest, CaMaySignCertificatesAndIdentifiesItsKey) {
  PemKeyPair ca = NewCa();
  X509Ptr ca_cert = ParseCert(ca.cert_pem);
  ASSERT_NE(ca_cert, nullptr);
  EXPECT_EQ(X509_check_ca(ca_cert.get()), 1);
  EXPECT_EQ(X509_get_key_usage(ca_cert.get()), KU_KEY_CERT_SIGN | KU_CRL_SIGN);
  const ASN1_OCTET_STRING* ski = X509_get0_subject_key_id(ca_cert.get());
  ASSERT_NE(ski, nullptr);
  ASSERT_NE(X509_get0_authority_key_id(ca_cert.get()), nullptr);
  EXPECT_EQ(
      ASN1_OCTET_STRING_cmp(ski, X509_get0_authority_key_id(ca_cert.get())), 0);

  X509Ptr client = ParseCert(NewClient(ca, "h1").cert_pem);
  EXPECT_EQ(X509_check_ca(client.get()), 0);
  ASSERT_NE(X509_get0_authority_key_id(client.get()), nullptr);
  EXPECT_EQ(
      ASN1_OCTET_STRING_cmp(ski, X509_get0_authority_key_id(client.get())), 0);
}

TEST(CertAuthorityTest, ExtendedKeyUsageSeparatesServerFromClient) {
  PemKeyPair ca = NewCa();
  X509Ptr server = ParseCert(NewServer(ca).cert_pem);
  X509Ptr client = ParseCert(NewClient(ca, "h1").cert_pem);
  EXPECT_EQ(X509_get_extended_key_usage(server.get()), XKU_SSL_SERVER);
  EXPECT_EQ(X509_get_extended_key_usage(client.get()), XKU_SSL_CLIENT);
}

TEST(CertAuthorityTest, LeafNeverOutlivesItsCa) {
  PemKeyPair ca = NewCa(/*valid_days=*/2);
  absl::StatusOr<PemKeyPair> client = IssueClientCertificate(ca, "h1", 365);
  ASSERT_TRUE(client.ok()) << client.status();
  X509Ptr ca_cert = ParseCert(ca.cert_pem);
  X509Ptr client_cert = ParseCert(client->cert_pem);
  EXPECT_EQ(ASN1_TIME_compare(X509_get0_notAfter(client_cert.get()),
                              X509_get0_notAfter(ca_cert.get())),
            0);
}

TEST(CertAuthorityTest, SerialsAreDistinct128BitNumbers) {
  PemKeyPair ca = NewCa();
  std::set<std::string> serials;
  for (int i = 0; i < 8; ++i) {
    X509Ptr cert = ParseCert(NewClient(ca, "h1").cert_pem);
    BIGNUM* bn =
        ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert.get()), nullptr);
    EXPECT_EQ(BN_num_bits(bn), 128);
    char* hex = BN_bn2hex(bn);
    serials.insert(hex);
    OPENSSL_free(hex);
    BN_free(bn);
  }
  EXPECT_EQ(serials.size(), 8u);
}

TEST(CertAuthorityTest, ClientIdsThatAreNotSafeIdentitiesAreRejected) {
  PemKeyPair ca = NewCa();
  for (const std::string& id :
       {std::string("../x"), std::string(""), std::string("a b"),
        std::string(65, 'a'), std::string("a/b"), std::string("-x"),
        std::string(".hidden"), std::string("ca"), std::string("Server"),
        std::string("h\n1")}) {
    EXPECT_EQ(ValidateClientId(id).code(), absl::StatusCode::kInvalidArgument)
        << id;
    EXPECT_FALSE(IssueClientCertificate(ca, id, 30).ok()) << id;
  }
  EXPECT_TRUE(ValidateClientId(std::string(64, 'a')).ok());
  EXPECT_TRUE(ValidateClientId("Hospital-3_b.v2").ok());
}

// Found by certificate_fuzzer: a SAN extension that is present but does
// not decode used to read as "no SANs" and left its ASN.1 error queued.
TEST(CertAuthorityTest, UndecodableSubjectAltNameIsAnErrorNotAnEmptyList) {
  PemKeyPair ca = NewCa();
  X509Ptr cert = ParseCert(NewClient(ca, "site-a").cert_pem);
  ASSERT_NE(cert, nullptr);
  const int at = X509_get_ext_by_NID(cert.get(), NID_subject_alt_name, -1);
  ASSERT_GE(at, 0);
  X509_EXTENSION_free(X509_delete_ext(cert.get(), at));
  // SEQUENCE { [5] } : no GeneralName choice has tag 5 with this shape.
  const unsigned char garbage[] = {0x30, 0x02, 0x85, 0x7f};
  ASN1_OCTET_STRING* value = ASN1_OCTET_STRING_new();
  ASSERT_EQ(ASN1_OCTET_STRING_set(value, garbage, sizeof(garbage)), 1);
  X509_EXTENSION* ext =
      X509_EXTENSION_create_by_NID(nullptr, NID_subject_alt_name, 0, value);
  ASN1_OCTET_STRING_free(value);
  ASSERT_NE(ext, nullptr);
  ASSERT_EQ(X509_add_ext(cert.get(), ext, -1), 1);
  X509_EXTENSION_free(ext);
  // Re-signing re-encodes the certificate (OpenSSL keeps the parsed DER
  // otherwise); whose key signs does not matter to the SAN reader.
  std::unique_ptr<EVP_PKEY, EvpPkeyFree> key(EVP_EC_gen("P-256"));
  ASSERT_NE(key, nullptr);
  ASSERT_GT(X509_sign(cert.get(), key.get(), EVP_sha256()), 0);
  BIO* bio = BIO_new(BIO_s_mem());
  ASSERT_EQ(PEM_write_bio_X509(bio, cert.get()), 1);
  char* data = nullptr;
  const long size = BIO_get_mem_data(bio, &data);
  const std::string pem(data, static_cast<size_t>(size));
  BIO_free(bio);

  absl::StatusOr<std::vector<std::string>> names =
      SubjectAltNamesOfCertificate(pem);
  EXPECT_TRUE(absl::IsInvalidArgument(names.status())) << names.status();
  EXPECT_THAT(names.status().message(), HasSubstr("subjectAltName"));
  EXPECT_EQ(ERR_peek_error(), 0u);  // nothing left for the next caller
}

TEST(CertAuthorityTest, GarbagePemIsAnErrorNotACrash) {
  for (const std::string& pem :
       {std::string(), std::string("garbage"),
        std::string("-----BEGIN CERTIFICATE-----\nAAAA\n"
                    "-----END CERTIFICATE-----\n"),
        std::string("\0\xff\x30\x82", 4)}) {
    EXPECT_FALSE(CommonNameOfCertificate(pem).ok());
    EXPECT_FALSE(VerifyCertificateChain(pem, pem).ok());
  }
}

TEST(CertAuthorityTest, IssuingWithAMismatchedCaKeyFails) {
  PemKeyPair ca = NewCa();
  PemKeyPair other = NewCa();
  PemKeyPair mixed{ca.cert_pem, other.key_pem.Clone()};
  absl::StatusOr<PemKeyPair> client = IssueClientCertificate(mixed, "h1", 30);
  EXPECT_THAT(client.status().message(), HasSubstr("does not match"));
}

class ProvisionDirectoryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string templ = ::testing::TempDir() + "/certs_XXXXXX";
    ASSERT_NE(mkdtemp(templ.data()), nullptr);
    root_ = templ;
    dir_ = root_ + "/out";
  }
  void TearDown() override { fs::remove_all(root_); }

  std::string Path(const std::string& name) const { return dir_ + "/" + name; }

  ProvisionOptions Options(int num_clients) const {
    ProvisionOptions options;
    options.out_dir = dir_;
    options.num_clients = num_clients;
    return options;
  }

  std::string root_;
  std::string dir_;
};

TEST_F(ProvisionDirectoryTest, CreatesEveryFileWithPrivateKeys) {
  ProvisionOptions options = Options(2);
  options.client_ids = {"hospital-a"};
  absl::StatusOr<ProvisionReport> report = ProvisionDirectory(options);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(report->written.size(), 10u);
  EXPECT_TRUE(report->kept.empty());

  const std::string ca = Slurp(Path("ca.pem"));
  for (std::string name :
       {"server", "client-001", "client-002", "hospital-a"}) {
    const std::string cert = Slurp(Path(name + ".pem"));
    EXPECT_TRUE(VerifyCertificateChain(ca, cert).ok()) << name;
    EXPECT_TRUE(
        KeyMatchesCertificate({cert, SecretBytes(Slurp(Path(name + ".key")))}))
        << name;
    EXPECT_EQ(PermissionBits(Path(name + ".key")), 0600) << name;
  }
  EXPECT_EQ(PermissionBits(Path("ca.key")), 0600);
  EXPECT_EQ(*CommonNameOfCertificate(Slurp(Path("client-002.pem"))),
            "client-002");
  // No temporary files are left behind.
  EXPECT_EQ(std::distance(fs::directory_iterator(dir_), {}), 10);
}

TEST_F(ProvisionDirectoryTest, EphemeralCaWritesNoCaKeyAndRemovesAStaleOne) {
  fs::create_directories(dir_);
  std::ofstream(Path("ca.key")) << "stale key of an older version";
  absl::StatusOr<ProvisionReport> report =
      ProvisionEphemeralDirectory(Options(2));
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_FALSE(fs::exists(Path("ca.key")));
  EXPECT_THAT(report->removed, UnorderedElementsAre(Path("ca.key")));
  const std::string ca = Slurp(Path("ca.pem"));
  for (std::string name : {"server", "client-001", "client-002"}) {
    EXPECT_TRUE(VerifyCertificateChain(ca, Slurp(Path(name + ".pem"))).ok())
        << name;
    EXPECT_EQ(PermissionBits(Path(name + ".key")), 0600) << name;
  }
  // ca.pem, three pairs: nothing else.
  EXPECT_EQ(std::distance(fs::directory_iterator(dir_), {}), 7);
}

TEST_F(ProvisionDirectoryTest, EphemeralCaIsNewOnEveryRun) {
  ASSERT_TRUE(ProvisionEphemeralDirectory(Options(1)).ok());
  const std::string first = Slurp(Path("ca.pem"));
  absl::StatusOr<ProvisionReport> again =
      ProvisionEphemeralDirectory(Options(1));
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_NE(Slurp(Path("ca.pem")), first);
  EXPECT_TRUE(again->kept.empty());
  EXPECT_TRUE(VerifyCertificateChain(Slurp(Path("ca.pem")),
                                     Slurp(Path("client-001.pem")))
                  .ok());
}

TEST_F(ProvisionDirectoryTest, SecondRunReusesCaAndIssuesOnlyTheNewClient) {
  ASSERT_TRUE(ProvisionDirectory(Options(2)).ok());
  const std::string ca = Slurp(Path("ca.pem"));
  const std::string server = Slurp(Path("server.pem"));
  const std::string client1 = Slurp(Path("client-001.pem"));

  absl::StatusOr<ProvisionReport> report = ProvisionDirectory(Options(3));
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_THAT(report->written, UnorderedElementsAre(Path("client-003.pem"),
                                                    Path("client-003.key")));
  EXPECT_EQ(Slurp(Path("ca.pem")), ca);
  EXPECT_EQ(Slurp(Path("server.pem")), server);
  EXPECT_EQ(Slurp(Path("client-001.pem")), client1);
  EXPECT_TRUE(VerifyCertificateChain(ca, Slurp(Path("client-003.pem"))).ok());
}

TEST_F(ProvisionDirectoryTest, MissingKeyFileCausesItsPairToBeReissued) {
  ASSERT_TRUE(ProvisionDirectory(Options(1)).ok());
  fs::remove(Path("client-001.key"));
  absl::StatusOr<ProvisionReport> report = ProvisionDirectory(Options(1));
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_THAT(report->written, UnorderedElementsAre(Path("client-001.pem"),
                                                    Path("client-001.key")));
}

TEST_F(ProvisionDirectoryTest, ForceRegeneratesEverything) {
  ASSERT_TRUE(ProvisionDirectory(Options(1)).ok());
  const std::string old_ca = Slurp(Path("ca.pem"));
  ProvisionOptions options = Options(1);
  options.force = true;
  absl::StatusOr<ProvisionReport> report = ProvisionDirectory(options);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(report->written.size(), 6u);
  const std::string new_ca = Slurp(Path("ca.pem"));
  EXPECT_NE(new_ca, old_ca);
  EXPECT_TRUE(VerifyCertificateChain(new_ca, Slurp(Path("server.pem"))).ok());
  EXPECT_FALSE(VerifyCertificateChain(old_ca, Slurp(Path("server.pem"))).ok());
}

TEST_F(ProvisionDirectoryTest, CorruptCaIsReportedAndLeftInPlace) {
  ASSERT_TRUE(ProvisionDirectory(Options(1)).ok());
  std::ofstream(Path("ca.key")) << "not a key";
  absl::StatusOr<ProvisionReport> report = ProvisionDirectory(Options(1));
  EXPECT_EQ(report.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(report.status().message(), HasSubstr("ca.key"));
  EXPECT_EQ(Slurp(Path("ca.key")), "not a key");
}

TEST_F(ProvisionDirectoryTest, HalfACaIsReportedRatherThanReplaced) {
  ASSERT_TRUE(ProvisionDirectory(Options(1)).ok());
  fs::remove(Path("ca.key"));
  absl::StatusOr<ProvisionReport> report = ProvisionDirectory(Options(1));
  EXPECT_EQ(report.status().code(), absl::StatusCode::kFailedPrecondition);
}

TEST_F(ProvisionDirectoryTest, UncreatableDirectoryIsReported) {
  std::ofstream(root_ + "/file") << "x";
  ProvisionOptions options = Options(1);
  options.out_dir = root_ + "/file/sub";
  absl::StatusOr<ProvisionReport> report = ProvisionDirectory(options);
  EXPECT_FALSE(report.ok());
  EXPECT_THAT(report.status().message(), HasSubstr(options.out_dir));
}

TEST_F(ProvisionDirectoryTest, InvalidClientIdWritesNothing) {
  ProvisionOptions options = Options(1);
  options.client_ids = {"../escape"};
  EXPECT_FALSE(ProvisionDirectory(options).ok());
  EXPECT_FALSE(fs::exists(dir_));
}

TEST_F(ProvisionDirectoryTest,
       IssueClientFilesAddsOneClientAndNeverOverwrites) {
  ASSERT_TRUE(ProvisionDirectory(Options(0)).ok());
  const std::string extra = root_ + "/extra";
  ASSERT_TRUE(IssueClientFiles(dir_, "hospital-9", extra, 30).ok());
  EXPECT_TRUE(VerifyCertificateChain(Slurp(Path("ca.pem")),
                                     Slurp(extra + "/hospital-9.pem"))
                  .ok());
  EXPECT_EQ(PermissionBits(extra + "/hospital-9.key"), 0600);
  EXPECT_EQ(IssueClientFiles(dir_, "hospital-9", extra, 30).code(),
            absl::StatusCode::kAlreadyExists);
  EXPECT_FALSE(IssueClientFiles(root_ + "/no-ca", "h2", extra, 30).ok());
}

}  // namespace
}  // namespace fedlearn
