// Umbrella header for the effvit library.
#pragma once

#include "effvit/error.h"
#include "effvit/hardware.h"
#include "effvit/image.h"
#include "effvit/model.h"
#include "effvit/tensor.h"
