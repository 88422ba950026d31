// Implemented by the federated-evaluation work in progress.
#include "common/evaluation/site_eval_report.h"
