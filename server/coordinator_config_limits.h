// The [limits] section of the coordinator's configuration: the keys of
// ServiceLimits (server/admission/service_limits.h), declared once here and
// added to CoordinatorConfigSchema() by coordinator_config_schema.cc.
#ifndef FEDLEARN_SERVER_COORDINATOR_CONFIG_LIMITS_H_
#define FEDLEARN_SERVER_COORDINATOR_CONFIG_LIMITS_H_

#include "common/config/config_schema.h"

namespace fedlearn {

struct CoordinatorConfig;

void AddServiceLimitKeys(ConfigSchema<CoordinatorConfig>& schema);

}  // namespace fedlearn

#endif  // FEDLEARN_SERVER_COORDINATOR_CONFIG_LIMITS_H_
