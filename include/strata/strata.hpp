// strata/strata.hpp: everything strata offers. Code that only creates and passes
// errors may include <strata/error.hpp> and <strata/result.hpp> alone, which keep
// symbolization and logging out of the build.
#pragma once

#include "cancel.hpp"
#include "config.hpp"
#include "error.hpp"
#include "exception.hpp"
#include "format.hpp"
#include "handle.hpp"
#include "layer.hpp"
#include "location.hpp"
#include "misc.hpp"
#include "os_error.hpp"
#include "result.hpp"
#include "stack.hpp"
#include "task_group.hpp"
