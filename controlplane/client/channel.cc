// Channels to the controller.
#include "controlplane/client/channel.h"

#include "controlplane/server/controller_config.h"

namespace strait::controlplane {

std::shared_ptr<grpc::Channel> make_channel(const std::string& address,
                                            const ClientCredentials& credentials) {
  grpc::SslCredentialsOptions tls;
  tls.pem_root_certs = credentials.anchor_pem;
  tls.pem_cert_chain = credentials.cert_chain_pem;
  tls.pem_private_key = credentials.key_pem;
  grpc::ChannelArguments args;
  // The controller's certificate names "strait-controller", whatever address it is reached at.
  args.SetSslTargetNameOverride(kControllerServerName);
  args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, 10000);
  args.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 5000);
  args.SetInt(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 200);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 2000);
  // The minimum time a connection attempt may take (default 20 s): an attempt that hangs (say,
  // into a controller that is shutting down) would otherwise delay the reconnection that long.
  args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 1000);
  // Each channel connects on its own: a channel made to replace a broken one must not inherit
  // the broken one's subchannel (and its backoff) from the process-wide pool.
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  return grpc::CreateCustomChannel(address, grpc::SslCredentials(tls), args);
}

std::string describe_status(const grpc::Status& status, const std::string& address) {
  if (status.error_code() == grpc::StatusCode::UNAVAILABLE ||
      status.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED) {
    return "cannot reach the controller at " + address + ": " + status.error_message();
  }
  return status.error_message();
}

}  // namespace strait::controlplane
