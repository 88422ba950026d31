#include "common/crypto/signature.h"

#include <openssl/evp.h>
#include <openssl/pem.h>

#include <string>

#include "common/tls/cert_authority.h"
#include "gtest/gtest.h"

namespace fedlearn {
namespace {

class SignatureTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto ca = CreateCertificateAuthority("fedlearn test CA", 2);
    ASSERT_TRUE(ca.ok()) << ca.status();
    ca_ = new PemKeyPair(std::move(*ca));
    auto client = IssueClientCertificate(*ca_, "client-001", 2);
    ASSERT_TRUE(client.ok()) << client.status();
    client_ = new PemKeyPair(std::move(*client));
    auto server = IssueServerCertificate(*ca_, "coordinator", {"localhost"},
                                         {"127.0.0.1"}, 2);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = new PemKeyPair(std::move(*server));
    auto other_ca = CreateCertificateAuthority("someone else's CA", 2);
    ASSERT_TRUE(other_ca.ok());
    auto foreign = IssueClientCertificate(*other_ca, "client-001", 2);
    ASSERT_TRUE(foreign.ok());
    foreign_ = new PemKeyPair(std::move(*foreign));
  }
  static void TearDownTestSuite() {
    delete ca_;
    delete client_;
    delete server_;
    delete foreign_;
  }

  static PemKeyPair* ca_;
  static PemKeyPair* client_;
  static PemKeyPair* server_;
  static PemKeyPair* foreign_;  // same CN, issued by another CA
};

PemKeyPair* SignatureTest::ca_ = nullptr;
PemKeyPair* SignatureTest::client_ = nullptr;
PemKeyPair* SignatureTest::server_ = nullptr;
PemKeyPair* SignatureTest::foreign_ = nullptr;

constexpr char kMessage[] = "advertise-keys|session 9|round 3|c_pk|s_pk";

TEST_F(SignatureTest, ClientSignatureVerifiesAgainstItsIdentity) {
  auto sig = SignMessage(client_->key_pem.view(), kMessage);
  ASSERT_TRUE(sig.ok()) << sig.status();
  EXPECT_TRUE(VerifySignedByIdentity(ca_->cert_pem, client_->cert_pem,
                                     "client-001", kMessage, *sig)
                  .ok());
}

TEST_F(SignatureTest, WrongIdentityIsUnauthenticated) {
  auto sig = SignMessage(client_->key_pem.view(), kMessage);
  ASSERT_TRUE(sig.ok());
  for (const char* identity : {"client-002", "client-00", "client-0011", ""}) {
    EXPECT_EQ(VerifySignedByIdentity(ca_->cert_pem, client_->cert_pem, identity,
                                     kMessage, *sig)
                  .code(),
              absl::StatusCode::kUnauthenticated)
        << identity;
  }
}

TEST_F(SignatureTest, CertificateFromAnotherCaIsUnauthenticated) {
  auto sig = SignMessage(foreign_->key_pem.view(), kMessage);
  ASSERT_TRUE(sig.ok());
  EXPECT_EQ(VerifySignedByIdentity(ca_->cert_pem, foreign_->cert_pem,
                                   "client-001", kMessage, *sig)
                .code(),
            absl::StatusCode::kUnauthenticated);
}

TEST_F(SignatureTest, ServerCertificateCannotStandInForAClient) {
  auto sig = SignMessage(server_->key_pem.view(), kMessage);
  ASSERT_TRUE(sig.ok());
  EXPECT_EQ(VerifySignedByIdentity(ca_->cert_pem, server_->cert_pem,
                                   "coordinator", kMessage, *sig)
                .code(),
            absl::StatusCode::kUnauthenticated);
}

TEST_F(SignatureTest, TamperedMessageIsUnauthenticated) {
  auto sig = SignMessage(client_->key_pem.view(), kMessage);
  ASSERT_TRUE(sig.ok());
  std::string tampered = kMessage;
  tampered.back() ^= 1;
  EXPECT_EQ(VerifySignedByIdentity(ca_->cert_pem, client_->cert_pem,
                                   "client-001", tampered, *sig)
                .code(),
            absl::StatusCode::kUnauthenticated);
}

TEST_F(SignatureTest, TamperedSignatureIsUnauthenticated) {
  auto sig = SignMessage(client_->key_pem.view(), kMessage);
  ASSERT_TRUE(sig.ok());
  for (size_t i = 0; i < sig->size(); i += 7) {
    std::string tampered = *sig;
    tampered[i] ^= 0x01;
    EXPECT_EQ(VerifySignedByIdentity(ca_->cert_pem, client_->cert_pem,
                                     "client-001", kMessage, tampered)
                  .code(),
              absl::StatusCode::kUnauthenticated)
        << "byte " << i;
  }
  EXPECT_EQ(VerifySignedByIdentity(ca_->cert_pem, client_->cert_pem,
                                   "client-001", kMessage, "")
                .code(),
            absl::StatusCode::kUnauthenticated);
}

TEST_F(SignatureTest, GarbageCertificatesAreUnauthenticated) {
  auto sig = SignMessage(client_->key_pem.view(), kMessage);
  ASSERT_TRUE(sig.ok());
  EXPECT_EQ(VerifySignedByIdentity(ca_->cert_pem, "not a cert", "client-001",
                                   kMessage, *sig)
                .code(),
            absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(VerifySignedByIdentity("", client_->cert_pem, "client-001",
                                   kMessage, *sig)
                .code(),
            absl::StatusCode::kUnauthenticated);
}

TEST_F(SignatureTest, SignRejectsUnparsableKey) {
  EXPECT_EQ(SignMessage("-----BEGIN PRIVATE KEY-----\nAAAA\n", kMessage)
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(SignatureTest, VerifiedIdentityChecksManySignaturesAfterOneChainCheck) {
  auto identity =
      VerifiedIdentity::Create(ca_->cert_pem, client_->cert_pem, "client-001");
  ASSERT_TRUE(identity.ok()) << identity.status();
  EXPECT_EQ(identity->identity(), "client-001");
  for (const char* message : {kMessage, "consistency|U3=a,b,c", ""}) {
    auto sig = SignMessage(client_->key_pem.view(), message);
    ASSERT_TRUE(sig.ok()) << sig.status();
    EXPECT_TRUE(identity->Verify(message, *sig).ok()) << message;
    std::string tampered = *sig;
    tampered[tampered.size() / 2] ^= 0x01;
    EXPECT_EQ(identity->Verify(message, tampered).code(),
              absl::StatusCode::kUnauthenticated)
        << message;
  }
  // Another key's signature never verifies against the cached key.
  auto foreign_sig = SignMessage(foreign_->key_pem.view(), kMessage);
  ASSERT_TRUE(foreign_sig.ok());
  EXPECT_EQ(identity->Verify(kMessage, *foreign_sig).code(),
            absl::StatusCode::kUnauthenticated);
  // Moving keeps the key usable.
  VerifiedIdentity moved = *std::move(identity);
  auto sig = SignMessage(client_->key_pem.view(), kMessage);
  ASSERT_TRUE(sig.ok());
  EXPECT_TRUE(moved.Verify(kMessage, *sig).ok());
}

TEST_F(SignatureTest,
       VerifiedIdentityRefusesWhatVerifySignedByIdentityRefuses) {
  EXPECT_EQ(
      VerifiedIdentity::Create(ca_->cert_pem, client_->cert_pem, "client-002")
          .status()
          .code(),
      absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(
      VerifiedIdentity::Create(ca_->cert_pem, foreign_->cert_pem, "client-001")
          .status()
          .code(),
      absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(
      VerifiedIdentity::Create(ca_->cert_pem, server_->cert_pem, "coordinator")
          .status()
          .code(),
      absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(VerifiedIdentity::Create(ca_->cert_pem, "not a cert", "client-001")
                .status()
                .code(),
            absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(VerifiedIdentity::Create("", client_->cert_pem, "client-001")
                .status()
                .code(),
            absl::StatusCode::kUnauthenticated);
}

TEST_F(SignatureTest, CertificateVerifierAcceptsAClientOfItsCa) {
  auto verifier = CertificateVerifier::Create(ca_->cert_pem);
  ASSERT_TRUE(verifier.ok()) << verifier.status();
  auto sig = SignMessage(client_->key_pem.view(), kMessage);
  ASSERT_TRUE(sig.ok());
  // One verifier serves many certificates.
  for (int i = 0; i < 3; ++i) {
    auto identity = verifier->Verify(client_->cert_pem, "client-001");
    ASSERT_TRUE(identity.ok()) << identity.status();
    EXPECT_EQ(identity->identity(), "client-001");
    EXPECT_TRUE(identity->Verify(kMessage, *sig).ok());
  }
}

TEST_F(SignatureTest, CertificateVerifierRefusesAnotherCasCertificate) {
  auto verifier = CertificateVerifier::Create(ca_->cert_pem);
  ASSERT_TRUE(verifier.ok());
  EXPECT_EQ(verifier->Verify(foreign_->cert_pem, "client-001").status().code(),
            absl::StatusCode::kUnauthenticated);
}

TEST_F(SignatureTest, CertificateVerifierRefusesTheWrongIdentity) {
  auto verifier = CertificateVerifier::Create(ca_->cert_pem);
  ASSERT_TRUE(verifier.ok());
  for (const char* identity : {"client-002", "client-00", "client-0011", ""}) {
    EXPECT_EQ(verifier->Verify(client_->cert_pem, identity).status().code(),
              absl::StatusCode::kUnauthenticated)
        << identity;
  }
}

TEST_F(SignatureTest, CertificateVerifierRefusesTheServerCertificate) {
  auto verifier = CertificateVerifier::Create(ca_->cert_pem);
  ASSERT_TRUE(verifier.ok());
  EXPECT_EQ(verifier->Verify(server_->cert_pem, "coordinator").status().code(),
            absl::StatusCode::kUnauthenticated);
}

TEST_F(SignatureTest, CertificateVerifierRefusesGarbage) {
  EXPECT_EQ(CertificateVerifier::Create("not a certificate").status().code(),
            absl::StatusCode::kUnauthenticated);
  auto verifier = CertificateVerifier::Create(ca_->cert_pem);
  ASSERT_TRUE(verifier.ok());
  EXPECT_EQ(verifier->Verify("not a certificate", "client-001").status().code(),
            absl::StatusCode::kUnauthenticated);
}

TEST_F(SignatureTest, SigningKeySignaturesVerify) {
  auto key = SigningKey::Create(client_->key_pem.view());
  ASSERT_TRUE(key.ok()) << key.status();
  for (const std::string message :
       {std::string(kMessage), std::string("other")}) {
    auto sig = key->Sign(message);
    ASSERT_TRUE(sig.ok()) << sig.status();
    EXPECT_TRUE(VerifySignedByIdentity(ca_->cert_pem, client_->cert_pem,
                                       "client-001", message, *sig)
                    .ok());
  }
}

TEST_F(SignatureTest, SigningKeyRefusesGarbage) {
  for (const char* pem : {"", "garbage",
                          "-----BEGIN PRIVATE KEY-----\nAAAA\n"
                          "-----END PRIVATE KEY-----\n"}) {
    EXPECT_EQ(SigningKey::Create(pem).status().code(),
              absl::StatusCode::kInvalidArgument)
        << pem;
  }
  // A certificate is not a private key.
  EXPECT_EQ(SigningKey::Create(client_->cert_pem).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(SignatureEd25519Test, SignsWithEd25519KeysWithoutADigest) {
  EVP_PKEY* key = EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519");
  ASSERT_NE(key, nullptr);
  BIO* bio = BIO_new(BIO_s_mem());
  ASSERT_EQ(
      PEM_write_bio_PrivateKey(bio, key, nullptr, nullptr, 0, nullptr, nullptr),
      1);
  char* data = nullptr;
  const long len = BIO_get_mem_data(bio, &data);
  const std::string pem(data, len);
  BIO_free(bio);

  auto sig = SignMessage(pem, kMessage);
  ASSERT_TRUE(sig.ok()) << sig.status();
  EXPECT_EQ(sig->size(), 64u);  // RFC 8032 signatures are 64 bytes
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  ASSERT_EQ(EVP_DigestVerifyInit(ctx, nullptr, nullptr, nullptr, key), 1);
  EXPECT_EQ(EVP_DigestVerify(
                ctx, reinterpret_cast<const unsigned char*>(sig->data()),
                sig->size(), reinterpret_cast<const unsigned char*>(kMessage),
                sizeof(kMessage) - 1),
            1);
  EVP_MD_CTX_free(ctx);
  EVP_PKEY_free(key);
}

}  // namespace
}  // namespace fedlearn
