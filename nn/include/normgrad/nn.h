// Everything in normgrad's nn layer.
#pragma once
#include "normgrad/nn/gpt.h"
#include "normgrad/nn/layers.h"
#include "normgrad/nn/module.h"
#include "normgrad/nn/norm.h"
#include "normgrad/nn/probes.h"
#include "normgrad/nn/safetensors.h"
