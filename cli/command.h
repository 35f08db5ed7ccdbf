// consentctl subcommands register themselves here. Each lives in its own
// cli/cmd_<name>.cc and adds its CLI11 subcommand in a Register function
// listed in cli/main.cc. A command returns the process exit code: 0 on
// success, non-zero after printing a one-line reason to stderr.
#pragma once

#include <functional>

namespace CLI {
class App;
}

namespace consentd::cli {

// Called once at start-up; `app` is the root consentctl app. The function
// adds a subcommand and sets `run` to a callback that returns the exit code.
using Registrar = void (*)(CLI::App& app, std::function<int()>& run);

}  // namespace consentd::cli
