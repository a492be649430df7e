#include "store/agent_id.h"

#include <fcntl.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <random>
#include <sstream>

namespace edge::store {
namespace {

constexpr const char* kFile = "agent-id";

bool is_uuid(const std::string& s) {
  if (s.size() != 36) return false;
  for (std::size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    if (i == 8 || i == 13 || i == 18 || i == 23) {
      if (c != '-') return false;
    } else if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
      return false;
    }
  }
  return true;
}

std::string random_uuid() {
  std::array<unsigned char, 16> b{};
  std::random_device rd;  // the kernel's CSPRNG on Linux
  for (auto& x : b) x = static_cast<unsigned char>(rd());
  b[6] = static_cast<unsigned char>((b[6] & 0x0f) | 0x40);  // version 4
  b[8] = static_cast<unsigned char>((b[8] & 0x3f) | 0x80);  // RFC 4122 variant
  char out[37];
  std::snprintf(out, sizeof out,
                "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0], b[1],
                b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14],
                b[15]);
  return out;
}

std::string errno_text() { return std::strerror(errno); }

}  // namespace

Expected<std::string> read_agent_id(const std::filesystem::path& state_dir) {
  const auto path = state_dir / kFile;
  std::ifstream in(path);
  if (!in) {
    if (!std::filesystem::exists(path)) return std::string();
    return Status::failure("cannot read " + path.string() + ": " + errno_text());
  }
  std::string id;
  std::getline(in, id);
  if (!is_uuid(id)) {
    return Status::failure(path.string() +
                           " does not hold a lower-case UUID; it is this agent's identity on "
                           "its Docker objects: restore it, or remove it to make a new one "
                           "(the old objects are then left alone)");
  }
  return id;
}

Expected<std::string> load_or_create_agent_id(const std::filesystem::path& state_dir) {
  auto existing = read_agent_id(state_dir);
  if (!existing || !existing->empty()) return existing;
  const auto path = state_dir / kFile;
  const auto tmp = state_dir / (std::string(kFile) + ".tmp");
  const std::string id = random_uuid();
  const std::string text = id + "\n";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return Status::failure("cannot create " + tmp.string() + ": " + errno_text());
  bool ok = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size()) &&
            ::fsync(fd) == 0;
  const std::string why = ok ? "" : errno_text();
  ::close(fd);
  if (!ok || ::rename(tmp.c_str(), path.c_str()) != 0) {
    const std::string reason = ok ? errno_text() : why;
    ::unlink(tmp.c_str());
    return Status::failure("cannot write " + path.string() + ": " + reason);
  }
  if (int dir = ::open(state_dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC); dir >= 0) {
    (void)::fsync(dir);
    ::close(dir);
  }
  return id;
}

}  // namespace edge::store
