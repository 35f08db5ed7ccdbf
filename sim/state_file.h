// consentd-sim --state-file: the simulated systems' whole state in one JSON
// file, {"version":1, "<system name>": <SimSystem::SaveState()>, ...}.
// Loaded at start, saved at clean shutdown (atomically: FILE.tmp, fsync,
// rename). Errors name the file. Not thread-safe (io thread only).
#pragma once

#include <nlohmann/json_fwd.hpp>
#include <string>
#include <vector>

#include "core/status.h"
#include "sim/sim_system.h"

namespace consentd::sim {

inline constexpr int kStateFileVersion = 1;

// The document for `systems` (each under its Name()).
nlohmann::json BuildStateDocument(const std::vector<const SimSystem*>& systems);
// Loads each system from its entry; every system must have one.
Status ApplyStateDocument(const nlohmann::json& doc, const std::vector<SimSystem*>& systems);

// NotFound when `path` does not exist (start empty); InvalidArgument or
// Internal, naming `path`, when it cannot be read, parsed or applied.
Status LoadStateFile(const std::string& path, const std::vector<SimSystem*>& systems);
// Writes path + ".tmp", fsyncs it, renames it over `path`, fsyncs the
// directory. On error `path` is untouched.
Status SaveStateFile(const std::string& path, const std::vector<const SimSystem*>& systems);

}  // namespace consentd::sim
