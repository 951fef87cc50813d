// Everything a user of normgrad's core needs.
#pragma once
#include "normgrad/autograd.h"
#include "normgrad/backend.h"
#include "normgrad/dtype.h"
#include "normgrad/error.h"
#include "normgrad/gradcheck.h"
#include "normgrad/graphviz.h"
#include "normgrad/norms.h"
#include "normgrad/ops.h"
#include "normgrad/random.h"
#include "normgrad/shape.h"
#include "normgrad/tensor.h"
#include "normgrad/threading.h"
