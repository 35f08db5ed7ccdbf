#include "config/check_config.h"

#include "config/config.h"

namespace consentd::config {

int RunCheckConfig(const std::string& path, std::FILE* out, std::FILE* err) {
  if (path.empty()) {
    std::fprintf(err, "check-config: no configuration file given\n");
    return 2;
  }
  Result<Config> config = LoadConfigFile(path);
  if (!config.ok()) {
    std::fprintf(err, "%s\n", config.status().message().c_str());
    return 1;
  }
  for (const std::string& warning : config->warnings) std::fprintf(err, "%s\n", warning.c_str());
  std::fprintf(out, "%s: OK\n", path.c_str());
  return 0;
}

}  // namespace consentd::config
