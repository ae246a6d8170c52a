// Running an external program (iptables-save, iptables-restore, ip) without a shell: fork/execvp
// with an explicit argv, optional stdin text, captured stdout/stderr and a deadline.
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "core/base/result.h"

namespace strait::init {

struct CommandOutput {
  int exit_code = -1;  // the exit status, or 128 + signal number when the program was killed
  std::string out;
  std::string err;
};

// Runs argv[0] (looked up in PATH) with argv, feeding `input` on stdin, and waits at most `timeout`
// (then kills it). A non-zero exit is NOT an error here: the caller decides. Errors are for what
// prevented running it at all (fork/exec/pipe failures, timeout).
Result<CommandOutput> run_command(const std::vector<std::string>& argv,
                                  const std::string& input = "",
                                  std::chrono::milliseconds timeout = std::chrono::seconds(30));

// Like run_command, but a non-zero exit becomes an Error{"command_failed"} whose message carries
// the command line, the exit code and stderr.
Result<CommandOutput> run_checked(const std::vector<std::string>& argv,
                                  const std::string& input = "",
                                  std::chrono::milliseconds timeout = std::chrono::seconds(30));

// argv rendered for people (and for --dry-run): words with spaces or quotes are single-quoted.
std::string format_command(const std::vector<std::string>& argv);

}  // namespace strait::init
