// LoadTlsMaterial and VerifyOwnCertificateChain on real files: each mistake
// an operator can make with the three PEM files is reported at load time,
// naming the file, instead of as an opaque gRPC failure later.
#include "common/transport/tls_config.h"

#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <type_traits>

#include "common/tls/cert_authority.h"
#include "common/transport/grpc_credentials.h"
#include "common/util/atomic_file.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace fedlearn {
namespace {

using ::testing::HasSubstr;

// The loaded key lives in the one secret type and is never copied by accident.
static_assert(std::is_same_v<decltype(TlsMaterial::key_pem), SecretBytes>);
static_assert(!std::is_copy_constructible_v<TlsMaterial>);

void WriteFile(const std::string& path, const std::string& text) {
  std::ofstream(path, std::ios::binary) << text;
}

std::string BioText(BIO* bio) {
  char* data = nullptr;
  const long n = BIO_get_mem_data(bio, &data);
  std::string text(data, static_cast<size_t>(n));
  BIO_free(bio);
  return text;
}

// A self-signed certificate valid from now + `from_days` to now + `to_days`,
// and its key, both PEM.
std::pair<std::string, std::string> SelfSigned(long from_days, long to_days) {
  EVP_PKEY* key = EVP_EC_gen("P-256");
  X509* cert = X509_new();
  X509_set_version(cert, 2);
  ASN1_INTEGER_set(X509_get_serialNumber(cert), 7);
  X509_gmtime_adj(X509_getm_notBefore(cert), from_days * 86400);
  X509_gmtime_adj(X509_getm_notAfter(cert), to_days * 86400);
  X509_NAME* name = X509_get_subject_name(cert);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>("x"), -1,
                             -1, 0);
  X509_set_issuer_name(cert, name);
  X509_set_pubkey(cert, key);
  X509_sign(cert, key, EVP_sha256());
  BIO* cert_bio = BIO_new(BIO_s_mem());
  PEM_write_bio_X509(cert_bio, cert);
  BIO* key_bio = BIO_new(BIO_s_mem());
  PEM_write_bio_PrivateKey(key_bio, key, nullptr, nullptr, 0, nullptr, nullptr);
  X509_free(cert);
  EVP_PKEY_free(key);
  return {BioText(cert_bio), BioText(key_bio)};
}

class TlsConfigTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    // ctest runs each test in its own process, concurrently: one dir each.
    dir_ = new std::string(testing::TempDir() + "/tls_config_test_" +
                           std::to_string(getpid()));
    std::filesystem::remove_all(*dir_);
    ProvisionOptions options;
    options.out_dir = *dir_ + "/ours";
    options.client_ids = {"hospital-a", "hospital-b"};
    ASSERT_TRUE(ProvisionDirectory(options).ok());
    options.out_dir = *dir_ + "/other";
    options.client_ids = {"hospital-a"};
    ASSERT_TRUE(ProvisionDirectory(options).ok());
  }
  static void TearDownTestSuite() {
    std::filesystem::remove_all(*dir_);
    delete dir_;
  }

  static TlsConfig Site(const std::string& federation = "ours",
                        const std::string& id = "hospital-a") {
    return TlsConfig::FromDirectory(*dir_ + "/" + federation, id);
  }
  // A file of this test's own, beside the provisioned directories.
  static std::string Scratch(const std::string& name, const std::string& text) {
    const std::string path = *dir_ + "/" + name;
    WriteFile(path, text);
    return path;
  }

  static std::string* dir_;
};

std::string* TlsConfigTest::dir_ = nullptr;

TEST_F(TlsConfigTest, ProvisionedFilesLoadAndChainToTheirCa) {
  absl::StatusOr<TlsMaterial> material = LoadTlsMaterial(Site());
  ASSERT_TRUE(material.ok()) << material.status();
  EXPECT_THAT(material->cert_pem, HasSubstr("BEGIN CERTIFICATE"));
  EXPECT_TRUE(VerifyOwnCertificateChain(Site(), *material).ok());
}

TEST_F(TlsConfigTest, LoadedKeyIsTheFilesTextAndBuildsGrpcCredentials) {
  absl::StatusOr<TlsMaterial> material = LoadTlsMaterial(Site());
  ASSERT_TRUE(material.ok()) << material.status();
  EXPECT_EQ(std::string(material->key_pem.view()),
            *ReadFileToString(Site().key_path));
  EXPECT_NE(MutualTlsChannelCredentials(*material), nullptr);
  EXPECT_NE(MutualTlsServerCredentials(*material), nullptr);
}

TEST_F(TlsConfigTest, CertificateChainWithItsIntermediateIsAccepted) {
  // `fedlearn-certs` issues directly from the root, but an operator may
  // bring a chain file (leaf, then intermediates): the shared chain check
  // follows it.
  TlsConfig tls = Site();
  absl::StatusOr<TlsMaterial> material = LoadTlsMaterial(tls);
  ASSERT_TRUE(material.ok());
  material->cert_pem += material->ca_cert_pem;  // a redundant "intermediate"
  EXPECT_TRUE(VerifyOwnCertificateChain(tls, *material).ok());
}

TEST_F(TlsConfigTest, KeyOfAnotherCertificateIsReportedAsAMismatch) {
  TlsConfig tls = Site();
  tls.key_path = Site("ours", "hospital-b").key_path;
  absl::StatusOr<TlsMaterial> material = LoadTlsMaterial(tls);
  ASSERT_FALSE(material.ok());
  EXPECT_EQ(material.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(
      material.status().message(),
      HasSubstr("certificate " + tls.cert_path + " and key " + tls.key_path +
                " do not match (the key belongs to another "
                "certificate)"));
}

TEST_F(TlsConfigTest, MissingFileIsNotFoundAndNamed) {
  TlsConfig tls = Site();
  tls.cert_path = *dir_ + "/no-such.pem";
  absl::StatusOr<TlsMaterial> material = LoadTlsMaterial(tls);
  ASSERT_FALSE(material.ok());
  EXPECT_EQ(material.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(material.status().message(), HasSubstr(tls.cert_path));
}

TEST_F(TlsConfigTest, UnreadableKeyIsPermissionDeniedAndNamed) {
  if (geteuid() == 0) GTEST_SKIP() << "root reads any file";
  TlsConfig tls = Site();
  tls.key_path = Scratch("unreadable.key", *ReadFileToString(tls.key_path));
  ASSERT_EQ(chmod(tls.key_path.c_str(), 0), 0);
  absl::StatusOr<TlsMaterial> material = LoadTlsMaterial(tls);
  ASSERT_FALSE(material.ok());
  EXPECT_EQ(material.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(material.status().message(), HasSubstr(tls.key_path));
}

TEST_F(TlsConfigTest, FilesWithoutPemAreRefusedWithAHint) {
  TlsConfig tls = Site();
  tls.ca_cert_path = Scratch("der.pem", std::string("\x30\x82\x01\x0a", 4));
  absl::StatusOr<TlsMaterial> material = LoadTlsMaterial(tls);
  ASSERT_FALSE(material.ok());
  EXPECT_EQ(material.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(material.status().message(),
              HasSubstr(tls.ca_cert_path + " holds no PEM CA certificate"));
  EXPECT_THAT(material.status().message(), HasSubstr("DER"));

  tls = Site();
  tls.cert_path = Scratch("empty.pem", "");
  material = LoadTlsMaterial(tls);
  ASSERT_FALSE(material.ok());
  EXPECT_THAT(material.status().message(), HasSubstr("the file is empty"));
}

TEST_F(TlsConfigTest, SwappedCertificateAndKeyAreNamedAsSwapped) {
  TlsConfig tls = Site();
  std::swap(tls.cert_path, tls.key_path);
  absl::StatusOr<TlsMaterial> material = LoadTlsMaterial(tls);
  ASSERT_FALSE(material.ok());
  EXPECT_EQ(material.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(material.status().message(), HasSubstr(tls.cert_path));
  EXPECT_THAT(material.status().message(), HasSubstr("swapped"));
}

TEST_F(TlsConfigTest, EncryptedKeyIsRefusedWithoutPrompting) {
  TlsConfig tls = Site();
  BIO* in = BIO_new_file(tls.key_path.c_str(), "r");
  EVP_PKEY* key = PEM_read_bio_PrivateKey(in, nullptr, nullptr, nullptr);
  BIO_free(in);
  ASSERT_NE(key, nullptr);
  BIO* out = BIO_new(BIO_s_mem());
  char passphrase[] = "secret";
  PEM_write_bio_PKCS8PrivateKey(out, key, EVP_aes_128_cbc(), passphrase, 6,
                                nullptr, nullptr);
  EVP_PKEY_free(key);
  tls.key_path = Scratch("encrypted.key", BioText(out));
  absl::StatusOr<TlsMaterial> material = LoadTlsMaterial(tls);
  ASSERT_FALSE(material.ok());
  EXPECT_THAT(material.status().message(), HasSubstr("encrypted"));
}

TEST_F(TlsConfigTest, ExpiredOwnCertificateIsRefusedWithItsDate) {
  auto [cert, key] = SelfSigned(-10, -1);
  TlsConfig tls = Site();
  tls.cert_path = Scratch("expired.pem", cert);
  tls.key_path = Scratch("expired.key", key);
  absl::StatusOr<TlsMaterial> material = LoadTlsMaterial(tls);
  ASSERT_FALSE(material.ok());
  EXPECT_EQ(material.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(material.status().message(),
              HasSubstr(tls.cert_path + " expired on "));
}

TEST_F(TlsConfigTest, NotYetValidOwnCertificateIsRefusedWithItsDate) {
  auto [cert, key] = SelfSigned(2, 10);
  TlsConfig tls = Site();
  tls.cert_path = Scratch("future.pem", cert);
  tls.key_path = Scratch("future.key", key);
  absl::StatusOr<TlsMaterial> material = LoadTlsMaterial(tls);
  ASSERT_FALSE(material.ok());
  EXPECT_EQ(material.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(material.status().message(),
              HasSubstr(tls.cert_path + " is not valid until "));
}

TEST_F(TlsConfigTest, CertificateOfAnotherCaIsNamedAsNotSignedByTheCa) {
  TlsConfig tls = Site("other");
  tls.ca_cert_path = Site("ours").ca_cert_path;
  absl::StatusOr<TlsMaterial> material = LoadTlsMaterial(tls);
  ASSERT_TRUE(material.ok()) << material.status();  // usable, but...
  absl::Status chain = VerifyOwnCertificateChain(tls, *material);
  EXPECT_EQ(chain.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(chain.message(),
              HasSubstr(tls.cert_path + " is not signed by the CA in " +
                        tls.ca_cert_path));
}

}  // namespace
}  // namespace fedlearn
