#include "agent/logging.h"

#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include <cstdio>
#include <cstdlib>
#include <memory>

namespace edge {
namespace {

int priority_of(spdlog::level::level_enum level) {
  switch (level) {
    case spdlog::level::trace:
    case spdlog::level::debug:
      return 7;
    case spdlog::level::info:
      return 6;
    case spdlog::level::warn:
      return 4;
    case spdlog::level::err:
      return 3;
    case spdlog::level::critical:
      return 2;
    default:
      return 6;
  }
}

// "%*" in a pattern: the sd-daemon prefix "<N>" of the line's level.
class PriorityFlag final : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg& msg, const std::tm&,
              spdlog::memory_buf_t& dest) override {
    const char text[] = {'<', static_cast<char>('0' + priority_of(msg.level)), '>'};
    dest.append(text, text + sizeof text);
  }
  std::unique_ptr<custom_flag_formatter> clone() const override {
    return std::make_unique<PriorityFlag>();
  }
};

bool parse_level(const std::string& name, spdlog::level::level_enum* out) {
  auto level = spdlog::level::from_str(name);
  if (level == spdlog::level::off && name != "off") return false;
  *out = level;
  return true;
}

}  // namespace

bool stderr_is_journal() {
  const char* env = std::getenv("JOURNAL_STREAM");
  if (env == nullptr || *env == '\0') return false;
  unsigned long long dev = 0, ino = 0;
  char tail = 0;
  if (std::sscanf(env, "%llu:%llu%c", &dev, &ino, &tail) != 2) return false;
  struct stat st {};
  if (::fstat(2, &st) != 0) return false;
  return static_cast<unsigned long long>(st.st_dev) == dev &&
         static_cast<unsigned long long>(st.st_ino) == ino;
}

int journal_priority(const std::string& level) {
  spdlog::level::level_enum l = spdlog::level::info;
  return parse_level(level, &l) ? priority_of(l) : 6;
}

void setup_logging(const std::string& level) {
  auto logger = spdlog::get("edge-agent");
  if (!logger) logger = spdlog::stderr_color_mt("edge-agent");
  spdlog::set_default_logger(logger);
  if (stderr_is_journal()) {
    auto formatter = std::make_unique<spdlog::pattern_formatter>();
    formatter->add_flag<PriorityFlag>('*').set_pattern("%*%v");
    logger->set_formatter(std::move(formatter));
  } else {
    logger->set_formatter(std::make_unique<spdlog::pattern_formatter>(
        "%Y-%m-%dT%H:%M:%S.%eZ %^%l%$ %v", spdlog::pattern_time_type::utc));
  }
  spdlog::level::level_enum l = spdlog::level::info;
  if (parse_level(level, &l)) spdlog::set_level(l);
  spdlog::flush_on(spdlog::level::info);
}

Status set_log_level(const std::string& level) {
  spdlog::level::level_enum l = spdlog::level::info;
  if (!parse_level(level, &l)) {
    return Status::failure("'" + level +
                           "' is not a log level (trace, debug, info, warn, error, critical)");
  }
  spdlog::set_level(l);
  return Status::success();
}

}  // namespace edge
