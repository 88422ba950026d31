// A hostile client inside a secure-aggregation cohort (mallory runs a real
// SecAggClient over raw gRPC and tampers with one message), against a real
// coordinator with three honest clients beside her
// (tests/server/hostile_harness.h). Each case pins the status she gets and
// that the honest clients' round completes with exactly their weighted mean.
// Rows of docs/security.md, "Hostile and malformed inputs".
#include <thread>

#include "tests/server/hostile_harness.h"

namespace fedlearn::hostile {
namespace {

using Code = grpc::StatusCode;
using Action = SecAggTamper::Action;
using Msg = v1::SecAggClientMessage;

FederationOptions Secure(bool in_cohort = true) {
  FederationOptions o;
  o.secure = true;
  o.mallory_in_cohort = in_cohort;
  o.hold_honest = false;
  return o;
}

// Tampers with the first message of kind `kind` and stops after sending it.
grpc::Status TamperWith(Federation& f, Msg::MessageCase kind,
                        const std::function<void(Msg&)>& edit) {
  SecAggTamper t;
  t.edit_message = [&](Msg& m) {
    if (m.message_case() != kind) return Action::kSend;
    edit(m);
    return Action::kSendAndStop;
  };
  return RunMallorySecAgg(f, t).status;
}

grpc::Status TamperWithMasked(
    Federation& f,
    const std::function<void(std::vector<uint32_t>&, v1::UpdateHeader&)>&
        edit) {
  SecAggTamper t;
  t.edit_masked = [&](std::vector<uint32_t>& v, v1::UpdateHeader& h) {
    edit(v, h);
    return true;
  };
  return RunMallorySecAgg(f, t).status;
}

constexpr auto kAdvertise = Msg::kAdvertiseKeys;
constexpr auto kShares = Msg::kShareKeysResponse;
constexpr auto kUnmask = Msg::kUnmaskingResponse;

std::vector<HostileCase> Cases() {
  return {
      {"UnregisteredSecAggExchange", Secure(false),
       [](Federation& f) {
         v1::SecAggRequest request;
         request.mutable_ref()->set_run_id(kRunId);
         request.mutable_ref()->set_round(1);
         v1::SecAggResponse response;
         return f.mallory().Exchange(request, &response);
       },
       Code::NOT_FOUND, "register first"},
      {"SecAggExchangeFromAClientNotSelected", Secure(false),
       [](Federation& f) {
         grpc::Status s = f.mallory().Register(f.digest());
         if (!s.ok()) return s;
         v1::SecAggRequest request;
         request.mutable_ref()->set_run_id(kRunId);
         request.mutable_ref()->set_round(1);
         v1::SecAggResponse response;
         return f.mallory().Exchange(request, &response);
       },
       Code::PERMISSION_DENIED, "not selected"},
      {"PlaintextUpdateInASecureRound", Secure(),
       [](Federation& f) {
         v1::TaskHeader task = FetchTask(f);
         return f.mallory().Push(ValidHeader(task),
                                 {FloatChunk(kDimension, kHonestMean)});
       },
       Code::FAILED_PRECONDITION, ""},
      {"AdvertiseKeysUnderAnotherId", Secure(),
       [](Federation& f) {
         return TamperWith(f, kAdvertise, [](Msg& m) {
           m.mutable_advertise_keys()->set_client_id("alice");
         });
       },
       Code::INVALID_ARGUMENT, ""},
      {"AdvertiseKeysWithAnotherClientsCertificate", Secure(),
       [](Federation& f) {
         return TamperWith(f, kAdvertise, [](Msg& m) {
           m.mutable_advertise_keys()->set_certificate_pem(
               Pki::Get().Identity("alice").cert_pem);
         });
       },
       Code::UNAUTHENTICATED, "cannot verify"},
      {"AdvertiseKeysWithABadSignature", Secure(),
       [](Federation& f) {
         return TamperWith(f, kAdvertise, [](Msg& m) {
           std::string* sig = m.mutable_advertise_keys()->mutable_signature();
           if (!sig->empty()) (*sig)[sig->size() / 2] ^= 0x01;
         });
       },
       Code::UNAUTHENTICATED, "cannot verify"},
      {"AdvertiseKeysWithAShortPublicKey", Secure(),
       [](Federation& f) {
         return TamperWith(f, kAdvertise, [](Msg& m) {
           m.mutable_advertise_keys()->mutable_encryption_public_key()->resize(
               31);
         });
       },
       Code::INVALID_ARGUMENT, ""},
      {"AdvertiseKeysWithDuplicatePublicKeys", Secure(),
       [](Federation& f) {
         return TamperWith(f, kAdvertise, [](Msg& m) {
           auto* keys = m.mutable_advertise_keys();
           keys->set_masking_public_key(keys->encryption_public_key());
         });
       },
       Code::INVALID_ARGUMENT, ""},
      {"SecAggMessageOfAStaleSession", Secure(),
       [](Federation& f) {
         return TamperWith(f, kAdvertise, [](Msg& m) {
           m.set_session_id(std::string(32, 's'));
         });
       },
       Code::INVALID_ARGUMENT, "session"},
      {"SecAggMessageOutOfPhase", Secure(),
       [](Federation& f) {
         return TamperWith(f, kAdvertise,
                           [](Msg& m) { m.mutable_unmasking_response(); });
       },
       Code::FAILED_PRECONDITION, ""},
      {"KeySharesToANonNeighbour", Secure(),
       [](Federation& f) {
         return TamperWith(f, kShares, [](Msg& m) {
           m.mutable_share_keys_response()->mutable_shares(0)->set_recipient(
               "zed");
         });
       },
       Code::INVALID_ARGUMENT, ""},
      {"KeySharesToItself", Secure(),
       [](Federation& f) {
         return TamperWith(f, kShares, [](Msg& m) {
           m.mutable_share_keys_response()->mutable_shares(0)->set_recipient(
               "mallory");
         });
       },
       Code::INVALID_ARGUMENT, ""},
      {"DuplicatedKeyShares", Secure(),
       [](Federation& f) {
         return TamperWith(f, kShares, [](Msg& m) {
           auto* r = m.mutable_share_keys_response();
           *r->add_shares() = r->shares(0);
         });
       },
       Code::INVALID_ARGUMENT, ""},
      {"KeySharesUnderAnotherSender", Secure(),
       [](Federation& f) {
         return TamperWith(f, kShares, [](Msg& m) {
           m.mutable_share_keys_response()->mutable_shares(0)->set_sender(
               "alice");
         });
       },
       Code::INVALID_ARGUMENT, ""},
      {"MalformedKeyShareCiphertext", Secure(),
       [](Federation& f) {
         return TamperWith(f, kShares, [](Msg& m) {
           m.mutable_share_keys_response()->mutable_shares(0)->set_ciphertext(
               "x");
         });
       },
       Code::INVALID_ARGUMENT, "malformed ciphertext"},
      {"EmptyKeyShareCiphertext", Secure(),
       [](Federation& f) {
         return TamperWith(f, kShares, [](Msg& m) {
           m.mutable_share_keys_response()
               ->mutable_shares(0)
               ->clear_ciphertext();
         });
       },
       Code::INVALID_ARGUMENT, "malformed ciphertext"},
      {"OversizedKeyShareCiphertext", Secure(),
       [](Federation& f) {
         return TamperWith(f, kShares, [](Msg& m) {
           m.mutable_share_keys_response()->mutable_shares(0)->set_ciphertext(
               std::string(1 << 20, 'c'));
         });
       },
       Code::INVALID_ARGUMENT, "malformed ciphertext"},
      {"UndecryptableKeyShares", Secure(),
       [](Federation& f) {
         // Well-formed but corrupted: only the recipients can tell; they
         // blame mallory and the round is retried without her.
         return TamperWith(f, kShares, [](Msg& m) {
           for (auto& s : *m.mutable_share_keys_response()->mutable_shares()) {
             std::string* c = s.mutable_ciphertext();
             if (!c->empty()) (*c)[c->size() - 1] ^= 0x01;
           }
         });
       },
       Code::OK},
      {"AbortMidRound", Secure(),
       [](Federation& f) {
         return TamperWith(f, kShares, [](Msg& m) {
           m.mutable_abort()->set_reason("mallory gives up");
         });
       },
       Code::OK},
      {"AbortWithTwoMiBReason", Secure(),
       [](Federation& f) {
         return TamperWith(f, kShares, [](Msg& m) {
           m.mutable_abort()->set_reason(std::string(2 << 20, 'r'));
         });
       },
       Code::OK},
      {"MaskedInputOfTheWrongLength", Secure(),
       [](Federation& f) {
         return TamperWithMasked(
             f, [](std::vector<uint32_t>& v, v1::UpdateHeader& h) {
               v.pop_back();
               h.set_num_values(v.size());
             });
       },
       Code::INVALID_ARGUMENT, "announces"},
      {"MaskedInputOfTheWrongWidth", Secure(),
       [](Federation& f) {
         return TamperWithMasked(
             f, [](std::vector<uint32_t>&, v1::UpdateHeader& h) {
               h.set_masked_value_bytes(2);
             });
       },
       Code::INVALID_ARGUMENT, "bytes wide"},
      {"MaskedInputValuesAboveTheModulus",
       [] {
         FederationOptions o = Secure();
         o.edit_config = [](RoundEngineConfig& c) {
           c.secagg.modulus_bits = 30;
           c.secagg.quantization_bits = 16;
           c.secagg.max_weight = 1000;
         };
         return o;
       }(),
       [](Federation& f) {
         return TamperWithMasked(
             f, [](std::vector<uint32_t>& v, v1::UpdateHeader&) {
               v[0] = 0xffffffffu;
             });
       },
       Code::INVALID_ARGUMENT, ""},
      {"UnmaskingRevealsBothSharesOfOneClient", Secure(),
       [](Federation& f) {
         return TamperWith(f, kUnmask, [](Msg& m) {
           auto* r = m.mutable_unmasking_response();
           for (int i = 0; i < r->shares_size(); ++i) {
             if (r->shares(i).owner() == "mallory") continue;
             const v1::RevealedShare& one = r->shares(i);
             v1::RevealedShare both;
             both.set_owner(one.owner());
             if (one.has_self_mask_seed_share()) {
               *both.mutable_masking_key_share() = one.self_mask_seed_share();
             } else {
               *both.mutable_self_mask_seed_share() = one.masking_key_share();
             }
             *r->add_shares() = both;
             break;
           }
         });
       },
       Code::INVALID_ARGUMENT, ""},
  };
}

class HostileSecAggTest : public ::testing::TestWithParam<HostileCase> {};

TEST_P(HostileSecAggTest, Refused) { RunHostileCase(GetParam()); }

INSTANTIATE_TEST_SUITE_P(Inputs, HostileSecAggTest,
                         ::testing::ValuesIn(Cases()), CaseName);

}  // namespace
}  // namespace fedlearn::hostile
