// The `zoo` program: runs a subcommand; user mistakes exit 2 with one line, no backtrace.
#include <fmt/format.h>

#include "cli/commands.h"
#include "core/error.h"
#include "core/runtime.h"

int main(int argc, char** argv) {
  zoo::prepare_process(argv);
  try {
    return zoo::cli::run(argc, argv);
  } catch (const zoo::UserError& e) {
    fmt::print(stderr, "{}\n", e.what());
    return zoo::kExitUserError;
  } catch (const c10::Error& e) {
    fmt::print(stderr, "zoo: internal error: {}\n", e.what_without_backtrace());
    return 1;
  } catch (const std::exception& e) {
    fmt::print(stderr, "zoo: internal error: {}\n", e.what());
    return 1;
  }
}
