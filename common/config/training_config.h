// Hyper-parameters of one round of local training, chosen by the coordinator
// and sent to every selected client with its task.
#ifndef FEDLEARN_COMMON_CONFIG_TRAINING_CONFIG_H_
#define FEDLEARN_COMMON_CONFIG_TRAINING_CONFIG_H_

#include <cstdint>

namespace fedlearn {

struct TrainingConfig {
  enum class Optimizer { kSgd, kAdam };
  Optimizer optimizer = Optimizer::kSgd;
  double learning_rate = 0.05;
  double momentum = 0.9;
  double weight_decay = 0.0;
  int local_epochs = 1;
  int batch_size = 32;
  uint64_t seed = 0;
  // FedProx (Li et al. 2020): mu of the proximal term mu/2 ||w - w_global||^2
  // added to the local objective over the trainable parameters; 0 is plain
  // FedAvg local training. >= 0 and finite.
  double proximal_mu = 0.0;
  // q-FFL (Li et al. 2020): the client sends the q-FedAvg update
  // (common/config/qffl_update.h) iff qffl_lipschitz > 0; qffl_q >= 0.
  // Both 0 (off) unless the coordinator runs [strategy] name = "qffl".
  double qffl_q = 0.0;
  double qffl_lipschitz = 0.0;
};

}  // namespace fedlearn

#endif  // FEDLEARN_COMMON_CONFIG_TRAINING_CONFIG_H_
