// `zoo` subcommands: each parses its arguments and calls the library.
#pragma once

namespace zoo::cli {
int run(int argc, char** argv);
}
