// duel as a C++ library: everything a program needs to build, train and save its own GAN.
//
//   #include <duel/duel.h>      (CMake: find_package(duel) and link duel::duel)
//
// docs/library.md is the guide; examples/ holds a custom GAN in one file and a tiny autograd
// program. The headers below are the public interface; everything else in the source tree
// (kernels, dispatch, the command line) is internal and not installed.
#pragma once

#include "core/autograd.h"   // grad(), backward(), NoGradGuard, anomaly mode
#include "core/config.h"     // threads, CPU path, math mode, version()
#include "core/device.h"     // Device::cpu(), Device::cuda(0)
#include "core/error.h"      // duel::Error
#include "core/gradcheck.h"  // gradcheck / gradgradcheck of your own functions
#include "core/op_table.h"   // the op table: every op with its inputs and attributes
#include "core/ops.h"        // the ops (conv2d, batch_norm, losses, ...)
#include "core/random.h"     // Generator (Philox), randn, uniform
#include "core/tensor.h"     // Tensor
#include "gan/data.h"        // datasets and the batch loader
#include "gan/image.h"       // PNG grids of images
#include "gan/losses.h"      // the adversarial losses
#include "gan/models.h"      // the DCGAN family; the Adversaries interface for your own pair
#include "gan/step.h"        // GanStep: one critic and one generator update
#include "nn/layers.h"       // Sequential, Conv2d, ConvTranspose2d, BatchNorm2d, Upsample, ...
#include "nn/module.h"       // Module, save_module / load_module
#include "nn/optim.h"        // Adam, RMSProp, SGD
#include "nn/safetensors.h"  // the safetensors reader and writer
#include "nn/tensor_io.h"    // tensors to and from safetensors files
