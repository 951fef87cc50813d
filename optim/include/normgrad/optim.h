// Everything in normgrad's optim layer.
#pragma once
#include "normgrad/optim/checkpoint.h"
#include "normgrad/optim/optimizer.h"
