#pragma once
// Where log lines go and how they look (DESIGN §8 "Logs").
//
// Under systemd with stderr connected to the journal ($JOURNAL_STREAM names
// stderr's device:inode), every line starts with its sd-daemon priority
// prefix ("<3>" error, "<4>" warning, "<6>" info, ...) and carries no
// timestamp of ours: journald stores the priority and adds the one timestamp.
// Anywhere else lines look as before: "<UTC timestamp> <level> <message>".

#include <string>

#include "common/status.h"

namespace edge {

// True when $JOURNAL_STREAM is "<dev>:<ino>" of the file open on fd 2.
bool stderr_is_journal();

// The sd-daemon priority of an spdlog level name (trace/debug 7, info 6,
// warn 4, error 3, critical 2).
int journal_priority(const std::string& level);

// Installs the process logger on stderr, in the journal format when
// stderr_is_journal(), with `level` (a valid level name).
void setup_logging(const std::string& level);

// Changes the level at run time (SIGHUP). Fails, changing nothing, when the
// name is not a level.
Status set_log_level(const std::string& level);

}  // namespace edge
