// Implemented by the federated-evaluation work in progress.
#include "common/evaluation/eval_statistics.h"
