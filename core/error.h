// Errors meant for users: one line, exit code 2, never a backtrace.
#pragma once
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace zoo {

// A mistake in the user's input (recipe, override, data file, run directory). The CLI prints
// what() alone and exits with kExitUserError; nothing has been written when it is thrown.
class UserError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

inline constexpr int kExitUserError = 2;

// " (did you mean 'x'?)" for the closest candidate within a small edit distance, else "".
std::string did_you_mean(std::string_view word, const std::vector<std::string>& candidates);

size_t edit_distance(std::string_view a, std::string_view b);

}  // namespace zoo
