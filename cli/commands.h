// straitctl's verbs. Each returns the process exit code and prints errors as
// "straitctl: <what went wrong>".
#pragma once

#include "cli/args.h"

namespace strait::cli {

int cmd_install(const Args& args);
int cmd_token(const Args& args);
int cmd_apply(const Args& args);
int cmd_get(const Args& args);
int cmd_delete(const Args& args);
int cmd_status(const Args& args);
int cmd_register(const Args& args);
int cmd_multicluster(const Args& args);

// Prints "straitctl: <message>" and returns 1.
int fail(const std::string& message);

}  // namespace strait::cli
