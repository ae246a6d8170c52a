// strait-link's status as straitctl reads it: where its admin server listens (--link-admin
// HOST:PORT; else what strait-link wrote to <state-dir>/run/strait-link.json; else
// 127.0.0.1:9999) and GET /links there, plain HTTP with a deadline.
#pragma once

#include <boost/json/object.hpp>
#include <chrono>
#include <string>

#include "cli/args.h"
#include "core/base/result.h"

namespace strait::cli {

// HOST:PORT to connect to (a wildcard listen address becomes loopback). Errors: no_link_service
// (the state directory has no run/strait-link.json), invalid_state.
Result<std::string> link_admin_address(const Args& args);

// {"cluster": ..., "links": [...]} as strait-link serves it (docs/link.md). Errors:
// link_service_unreachable (connect, timeout, HTTP status; the message names the address),
// bad_reply.
Result<boost::json::object> fetch_link_status(const std::string& address,
                                              std::chrono::milliseconds timeout);

}  // namespace strait::cli
