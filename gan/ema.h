// G's exponential moving average (`duel train --ema DECAY`): a second copy of the generator whose
// parameters follow G's after every generator update,
//   ema <- d * ema + (1 - d) * G,  d = min(decay, (1 + t) / (10 + t)) at step t (the trainer's ramp),
// and whose batch-norm statistics are recomputed for its own weights whenever it is used or
// saved (recalibrate_batch_norm): the running statistics G keeps during training describe G's
// activations, not the average's, and averaging them too would describe neither.
#pragma once

#include <cstdint>

#include "gan/models.h"

namespace duel::gan {

// ema <- decay * ema + (1 - decay) * live for every parameter (buffers untouched); the two modules
// have the same layer list. Outside autograd; on the modules' device.
void ema_update(nn::Module& ema, const nn::Module& live, double decay);

// Copies every parameter and buffer of `from` into `to` (same layer list): the average starts as G.
void copy_state(nn::Module& to, const nn::Module& from);

// Recomputes the running mean and variance of every batch norm in `gan`'s generator as the
// average of the batch statistics over `batches` batches of `batch` latent vectors drawn from
// `seed` (labels i % classes for a conditional model), in training mode and without recording:
// torch.optim.swa_utils.update_bn's procedure. Deterministic for a seed; leaves G in eval mode.
void recalibrate_batch_norm(Gan& gan, uint64_t seed, int64_t batches = 8, int64_t batch = 64);

}  // namespace duel::gan
