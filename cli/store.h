// The local store through the admin API: the calls straitctl's verbs share (a deadline on every
// call, listing a kind with the objects decoded).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "cli/access.h"
#include "core/base/result.h"
#include "core/discovery/model.h"

namespace strait::cli {

// A client context with straitctl's deadline (10 s).
std::unique_ptr<grpc::ClientContext> rpc_context();

// Every object of `kind` (in `ns`, or in every namespace when it is empty), through `admin`
// (from access.admin(): one channel for all the calls of a command). Errors: the RPC's (message
// from controlplane::describe_status) or bad_reply when the controller sent an object this
// straitctl cannot read.
Result<std::vector<discovery::Object>> list_objects(const ControllerAccess& access,
                                                    admin::v1::Admin::Stub& admin,
                                                    discovery::Kind kind,
                                                    const std::string& ns = "");

}  // namespace strait::cli
