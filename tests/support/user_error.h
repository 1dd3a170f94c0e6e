// The message of the UserError that `f` throws, for tests asserting exact user-facing errors.
#pragma once

#include <functional>
#include <string>

#include "core/error.h"

namespace zoo::testing {

inline std::string user_error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const UserError& e) {
    return e.what();
  }
  return "(no UserError)";
}

}  // namespace zoo::testing
