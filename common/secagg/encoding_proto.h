// The wire form of EncodingParameters (v1::SecAggEncoding, sent in every
// secure round's TaskHeader). Client and coordinator both build their
// InputEncoder through these two functions, so they derive identical
// parameters, including the count limbs (common/secagg/input_encoding.h),
// from the same five fields. Header-only: callers already link fl_proto.
#ifndef FEDLEARN_COMMON_SECAGG_ENCODING_PROTO_H_
#define FEDLEARN_COMMON_SECAGG_ENCODING_PROTO_H_

#include "common/secagg/input_encoding.h"
#include "proto/fedlearn/v1/fedlearn.pb.h"

namespace fedlearn {

inline EncodingParameters EncodingParametersFromProto(
    const v1::SecAggEncoding& e) {
  EncodingParameters p;
  p.modulus_bits = static_cast<int>(e.modulus_bits());
  p.quantization_bits = static_cast<int>(e.quantization_bits());
  p.clip_range = e.clip_range();
  p.max_weight = e.max_weight();
  p.max_clients = static_cast<int>(e.max_clients());
  return p;
}

inline v1::SecAggEncoding EncodingParametersToProto(
    const EncodingParameters& p) {
  v1::SecAggEncoding e;
  e.set_modulus_bits(static_cast<uint32_t>(p.modulus_bits));
  e.set_quantization_bits(static_cast<uint32_t>(p.quantization_bits));
  e.set_clip_range(p.clip_range);
  e.set_max_weight(p.max_weight);
  e.set_max_clients(static_cast<uint32_t>(p.max_clients));
  return e;
}

}  // namespace fedlearn

#endif  // FEDLEARN_COMMON_SECAGG_ENCODING_PROTO_H_
