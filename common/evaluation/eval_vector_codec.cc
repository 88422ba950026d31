// Implemented by the federated-evaluation work in progress.
#include "common/evaluation/eval_vector_codec.h"
