#include "sim/state_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

namespace consentd::sim {

using nlohmann::json;

namespace {

std::string Errno() { return std::strerror(errno); }

// Writes all of `data` to `fd`, retrying short writes.
bool WriteAll(int fd, const std::string& data) {
  size_t done = 0;
  while (done < data.size()) {
    const ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    done += static_cast<size_t>(n);
  }
  return true;
}

}  // namespace

json BuildStateDocument(const std::vector<const SimSystem*>& systems) {
  json doc = {{"version", kStateFileVersion}};
  for (const SimSystem* s : systems) doc[s->Name()] = s->SaveState();
  return doc;
}

Status ApplyStateDocument(const json& doc, const std::vector<SimSystem*>& systems) {
  if (!doc.is_object()) return InvalidArgument("not a JSON object");
  auto version = doc.find("version");
  if (version == doc.end() || !version->is_number_integer() ||
      version->get<std::int64_t>() != kStateFileVersion) {
    return InvalidArgument("unsupported or missing \"version\" (expected " +
                           std::to_string(kStateFileVersion) + ")");
  }
  for (SimSystem* s : systems) {
    auto it = doc.find(s->Name());
    if (it == doc.end()) return InvalidArgument("no \"" + s->Name() + "\" section");
    CONSENTD_RETURN_IF_ERROR(s->LoadState(*it));
  }
  return Status::Ok();
}

Status LoadStateFile(const std::string& path, const std::vector<SimSystem*>& systems) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) {
    if (ec) return Unavailable("state file " + path + ": " + ec.message());
    return NotFound("state file " + path + " does not exist");
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) return Unavailable("state file " + path + ": cannot open: " + Errno());
  std::stringstream buf;
  buf << in.rdbuf();
  if (in.bad()) return Unavailable("state file " + path + ": read error");
  json doc = json::parse(buf.str(), nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) return InvalidArgument("state file " + path + ": not valid JSON");
  if (Status st = ApplyStateDocument(doc, systems); !st.ok()) {
    return InvalidArgument("state file " + path + ": " + st.message());
  }
  return Status::Ok();
}

Status SaveStateFile(const std::string& path, const std::vector<const SimSystem*>& systems) {
  const std::string data = BuildStateDocument(systems).dump(1) + "\n";
  const std::string tmp = path + ".tmp";
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return Unavailable("state file " + tmp + ": cannot create: " + Errno());
  const bool ok = WriteAll(fd, data) && ::fsync(fd) == 0;
  const std::string err = ok ? "" : Errno();
  ::close(fd);
  if (!ok) {
    ::unlink(tmp.c_str());
    return Unavailable("state file " + tmp + ": cannot write: " + err);
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    const std::string rename_err = Errno();
    ::unlink(tmp.c_str());
    return Unavailable("state file " + path + ": cannot rename " + tmp + ": " + rename_err);
  }
  // The rename itself must survive a crash: sync the directory.
  std::filesystem::path dir = std::filesystem::path(path).parent_path();
  if (dir.empty()) dir = ".";
  const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
  return Status::Ok();
}

}  // namespace consentd::sim
